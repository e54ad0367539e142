"""Readers and writers for tagged text: CoNLL-U, CoNLL column files, plain text and JSON lines.

Each reader returns `Sentence` objects that remember enough of the input to write it back with
only the predicted tags changed: for CoNLL-U every original line (comments, multiword-token
ranges `1-2`, empty nodes `1.1`), for column files the original columns of each token.
Quirks of the shared corpora handled here: whitespace-only separator lines (a lone TAB in
WNUT-17 train, a lone space in BTC test) end a sentence, and tab-separated files may hold an
empty token (BTC dev has lines that are just "<TAB>O").
"""

import dataclasses
import json
import os
import re

from textlstm.errors import UserError, describe_os_error, no_such_file
from textlstm.textio import check_not_binary, strip_byte_order_marks

WORD_ID = re.compile(r"^[1-9][0-9]*$")
ANY_ID = re.compile(r"^[0-9]+([-.][0-9]+)?$")
DOCSTART = "-DOCSTART-"


@dataclasses.dataclass
class Sentence:
    """One sentence: its tokens, its tags (None when untagged) and what is needed to write it back.

    Attributes:
        tokens: the words (for CoNLL-U the syntactic words, not the multiword ranges).
        tags: one tag per token, or None for untagged input.
        line_numbers: the 1-based input line of each token, for error messages.
        comments: CoNLL-U comment lines ("# text = ..."), without the newline.
        lines: CoNLL-U only: every original line of the sentence block, in order.
        word_lines: CoNLL-U only: the index in `lines` of each token's line.
        columns: column files only: the original fields of each token line.
        tag_column: column files only: which field held the tag (None if there was none).
        separator: column files only: the field separator of the input (a tab or a space).
        before, after: column files only: the input lines that are not token lines (blank
            and whitespace-only separators, `-DOCSTART-` lines) before this sentence, and
            after it for the last sentence, so that output is line-aligned with the input.
    """

    tokens: list[str]
    tags: list[str] | None = None
    line_numbers: list[int] = dataclasses.field(default_factory=list)
    comments: list[str] = dataclasses.field(default_factory=list)
    lines: list[str] | None = None
    word_lines: list[int] | None = None
    columns: list[list[str]] | None = None
    tag_column: int | None = None
    separator: str = "\t"
    before: list[str] | None = None
    after: list[str] | None = None

    def __len__(self):
        return len(self.tokens)


def read_text(path, allow_empty=False):
    """The UTF-8 text of a file (see `decode_bytes`); an empty file is an error unless `allow_empty`."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except FileNotFoundError:
        raise no_such_file(path) from None
    except OSError as error:
        raise UserError(describe_os_error(error, "read", path)) from None
    text = decode_bytes(data, path)
    if not allow_empty and not text.strip():
        raise UserError(f"{path}: file is empty")
    return text


def decode_bytes(data, source):
    """UTF-8 text of a tagged or untagged file's bytes: binary data (a NUL byte) and UTF-16 are
    refused like every other text textlstm reads, byte-order marks dropped."""
    check_not_binary(data, source)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise UserError(f"{source}:{line}: not valid UTF-8 (byte {error.start})") from None
    return strip_byte_order_marks(text)


def _lines(text):
    """The lines of `text` without line endings (\n or \r\n)."""
    return [line.rstrip("\r") for line in text.split("\n")]


def _conllu_tag(fields, column, where):
    if column == "upos":
        return fields[3]
    if column == "xpos":
        return fields[4]
    key = column.split(":", 1)[1]
    if fields[5] == "_":
        return "_"
    for feature in fields[5].split("|"):
        name, equals, value = feature.partition("=")
        if not equals:
            raise UserError(f"{where}: feature {feature!r} is not Name=Value")
        if name == key:
            return value
    return "_"


def check_conllu_column(column):
    """Raise UserError unless `column` is "upos", "xpos" or "feats:KEY"."""
    if column in ("upos", "xpos") or (column.startswith("feats:") and len(column) > 6):
        return column
    raise UserError(f"unknown CoNLL-U tag column {column!r}: expected upos, xpos or feats:KEY")


def parse_conllu(text, column="upos", source="<text>"):
    """Sentences from CoNLL-U text; see `read_conllu`."""
    check_conllu_column(column)
    sentences = []
    block = []
    for number, line in enumerate(_lines(text) + [""], 1):
        if line.strip():
            block.append((number, line))
        elif block:
            sentences.append(_conllu_sentence(block, column, source))
            block = []
    if not any(sentence.tokens for sentence in sentences):
        raise UserError(f"{source}: no sentences found (expected CoNLL-U token lines)")
    return sentences


def _conllu_sentence(block, column, source):
    sentence = Sentence(tokens=[], tags=[], lines=[], word_lines=[])
    for number, line in block:
        sentence.lines.append(line)
        if line.startswith("#"):
            sentence.comments.append(line)
            continue
        fields = line.split("\t")
        where = f"{source}:{number}"
        if len(fields) != 10:
            raise UserError(f"{where}: expected 10 tab-separated columns, found {len(fields)}")
        if not ANY_ID.match(fields[0]):
            raise UserError(f"{where}: expected a word ID like 3, 3-4 or 3.1, found {fields[0]!r}")
        if not WORD_ID.match(fields[0]):
            continue  # multiword range or empty node: kept in `lines`, not tagged
        sentence.word_lines.append(len(sentence.lines) - 1)
        sentence.tokens.append(fields[1])
        sentence.tags.append(_conllu_tag(fields, column, where))
        sentence.line_numbers.append(number)
    return sentence


def read_conllu(path, column="upos"):
    """Sentences of a CoNLL-U file with tags from `column`: "upos", "xpos" or "feats:KEY".

    Multiword-token ranges and empty nodes are skipped for tagging but kept for writing.
    A word without the feature KEY gets the tag "_".
    """
    return parse_conllu(read_text(path), column=column, source=os.fspath(path))


def _split_fields(line, tabbed):
    """Fields of a token line; stray spaces around tab-separated fields are dropped."""
    return [field.strip(" ") for field in line.split("\t")] if tabbed else line.split()


def parse_conll(text, token_column=0, tag_column=-1, source="<text>"):
    """Sentences from column text; see `read_conll`."""
    sentences = []
    current = None
    expected = tabbed = None
    lines = _lines(text)
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line
    pending = []  # separator and -DOCSTART- lines since the last token line
    for number, line in enumerate(lines + [None], 1):
        if line is None or not line.strip() or line.split()[0] == DOCSTART:
            if current is not None:
                sentences.append(current)
            current = None
            if line is not None:
                pending.append(line)
            continue
        if expected is None:
            tabbed = "\t" in line
            expected = len(_split_fields(line, tabbed))
            token_index, tag_index = _resolve_columns(expected, token_column, tag_column, source)
        fields = _split_fields(line, tabbed)
        if len(fields) != expected:
            raise UserError(
                f"{source}:{number}: expected {expected} columns like the first token line, found {len(fields)}"
            )
        if current is None:
            current = Sentence(
                tokens=[],
                tags=None if tag_index is None else [],
                columns=[],
                tag_column=tag_index,
                separator="\t" if tabbed else " ",
                before=pending,
            )
            pending = []
        current.tokens.append(fields[token_index])
        if tag_index is not None:
            if not fields[tag_index]:
                raise UserError(f"{source}:{number}: empty tag in column {tag_index}")
            current.tags.append(fields[tag_index])
        current.columns.append(fields)
        current.line_numbers.append(number)
    if not sentences:
        raise UserError(f"{source}: no sentences found (expected token lines)")
    sentences[-1].after = pending
    return sentences


def _resolve_columns(count, token_column, tag_column, source):
    def resolve(index, name):
        resolved = index + count if index < 0 else index
        if not 0 <= resolved < count:
            raise UserError(f"{source}: {name} {index} does not exist; token lines have {count} column(s)")
        return resolved

    token_index = resolve(token_column, "token column")
    if tag_column is None:
        return token_index, None
    tag_index = resolve(tag_column, "tag column")
    if tag_index == token_index:
        raise UserError(
            f"{source}: the tag column is the token column ({token_index}); token lines have "
            f"{count} column(s) (read untagged files with no tag column)"
        )
    return token_index, tag_index


def read_conll(path, token_column=0, tag_column=-1):
    """Sentences of a CoNLL column file (one token per line, blank line between sentences).

    Fields are split on tabs when the first token line has a tab, else on whitespace; every
    token line must have as many fields as the first. `-DOCSTART-` lines are skipped and any
    whitespace-only line ends a sentence. Column indexes may be negative (-1 = last);
    `tag_column=None` reads tokens only.
    """
    return parse_conll(read_text(path), token_column, tag_column, source=os.fspath(path))


def read_plain(text):
    """One sentence per line of `text`, tokens split on whitespace; empty lines stay (empty)."""
    lines = _lines(text)
    if lines and lines[-1] == "":
        lines.pop()
    return [
        Sentence(tokens=line.split(), line_numbers=[number] * len(line.split())) for number, line in enumerate(lines, 1)
    ]


def _check_lengths(sentences, predicted_tags):
    if len(sentences) != len(predicted_tags):
        raise ValueError(f"{len(sentences)} sentences but {len(predicted_tags)} tag sequences")
    for number, (sentence, tags) in enumerate(zip(sentences, predicted_tags), 1):
        if len(sentence.tokens) != len(tags):
            raise ValueError(f"sentence {number} has {len(sentence.tokens)} tokens but {len(tags)} tags")


def _set_feature(feats, key, value):
    features = {} if feats == "_" else dict(item.split("=", 1) for item in feats.split("|"))
    if value == "_":
        features.pop(key, None)
    else:
        features[key] = value
    if not features:
        return "_"
    return "|".join(f"{name}={features[name]}" for name in sorted(features, key=str.lower))


def _replace_column(fields, column, tag):
    fields = list(fields)
    if column == "upos":
        fields[3] = tag
    elif column == "xpos":
        fields[4] = tag
    else:
        fields[5] = _set_feature(fields[5], column.split(":", 1)[1], tag)
    return fields


def write_conllu(sentences, predicted_tags, column="upos"):
    """CoNLL-U text with `column` replaced by the predicted tags and every other byte kept.

    Sentences read from other formats get fresh 10-column lines with "_" in unknown fields;
    empty ones (blank lines of plain text) are left out.
    """
    check_conllu_column(column)
    _check_lengths(sentences, predicted_tags)
    blocks = []
    for sentence, tags in zip(sentences, predicted_tags):
        if sentence.lines is not None:
            lines = list(sentence.lines)
            for line_index, tag in zip(sentence.word_lines, tags):
                fields = lines[line_index].split("\t")
                lines[line_index] = "\t".join(_replace_column(fields, column, tag))
        else:
            lines = list(sentence.comments)
            for word_id, (token, tag) in enumerate(zip(sentence.tokens, tags), 1):
                fields = [str(word_id), token] + ["_"] * 8
                lines.append("\t".join(_replace_column(fields, column, tag)))
        if lines:  # an empty plain-text line has no CoNLL-U form
            blocks.append("\n".join(lines) + "\n\n")
    return "".join(blocks)


def write_conll(sentences, predicted_tags):
    """Column text: the original fields with the tag field set to the prediction.

    Input without a tag column (or plain text) gets the prediction as an extra last field.
    Sentences read from column text give back its lines one for one (blank, whitespace-only
    and `-DOCSTART-` lines included), so the output is line-aligned with the input. Others
    end with a blank line, and an empty sentence becomes one blank line.
    """
    _check_lengths(sentences, predicted_tags)
    blocks = []
    for sentence, tags in zip(sentences, predicted_tags):
        if sentence.before is not None and sentence.columns is not None:
            blocks.append(_aligned_block(sentence, tags))
            continue
        lines = []
        columns = sentence.columns or [[token] for token in sentence.tokens]
        for fields, tag in zip(columns, tags):
            fields = list(fields)
            if sentence.columns is not None and sentence.tag_column is not None:
                fields[sentence.tag_column] = tag
            else:
                fields.append(tag)
            lines.append(sentence.separator.join(fields))
        blocks.append("\n".join(lines) + "\n\n" if lines else "\n")  # empty: one blank line
    return "".join(blocks)


def _aligned_block(sentence, tags):
    lines = list(sentence.before)
    for fields, tag in zip(sentence.columns, tags):
        fields = list(fields)
        if sentence.tag_column is not None:
            fields[sentence.tag_column] = tag
        else:
            fields.append(tag)
        lines.append(sentence.separator.join(fields))
    lines += sentence.after or []
    return "".join(line + "\n" for line in lines)


def write_jsonl(sentences, predicted_tags):
    """One JSON object per sentence and line: {"tokens": [...], "tags": [...]}."""
    _check_lengths(sentences, predicted_tags)
    return "".join(
        json.dumps({"tokens": list(sentence.tokens), "tags": list(tags)}, ensure_ascii=False) + "\n"
        for sentence, tags in zip(sentences, predicted_tags)
    )


def detect_format(path_or_text, sample_lines=200):
    """Guess "conllu", "conll" or "plain" from a file path or from text.

    CoNLL-U: every non-blank, non-comment line of the sample has 10 tab-separated fields with
    a word ID first. CoNLL: a -DOCSTART- line, a tab in every non-blank line, or a constant
    number (2 to 10) of whitespace fields on at least 3 lines. Anything else is plain text.
    A string that names an existing file is read as a path, any other string as text.
    """
    text = path_or_text
    if isinstance(path_or_text, os.PathLike) or (
        isinstance(path_or_text, str) and "\n" not in path_or_text and os.path.isfile(path_or_text)
    ):
        text = read_text(path_or_text)
    lines = [line for line in _lines(text) if line.strip()][:sample_lines]
    body = [line for line in lines if not line.startswith("#")]
    if body and all(_looks_like_conllu(line) for line in body):
        return "conllu"
    if not body:
        return "plain"
    if any(line.split()[0] == DOCSTART for line in body):
        return "conll"
    if all("\t" in line for line in body):
        return "conll"
    counts = {len(line.split()) for line in body}
    if len(body) >= 3 and len(counts) == 1 and 2 <= counts.pop() <= 10:
        return "conll"
    return "plain"


def _looks_like_conllu(line):
    fields = line.split("\t")
    return len(fields) == 10 and bool(ANY_ID.match(fields[0]))
