"""Reading tagged and untagged files the way a tagger run was set up, and checking their tags.

The run's recipe says where the tags are (`data.format`, `data.column`, `data.token_column`,
`data.tag_column`); training, tagging and evaluation read files through these functions so
they agree. Entity tags are checked against the strict rules of their scheme: an ill-formed
sequence is an error naming the file and line, or is repaired (`data.invalid_tags = "repair"`).
"""

import os
import sys

from textlstm.errors import ParameterError, UserError
from textlstm.tagger import conll, schemes

FORMATS = ("auto", "conllu", "conll")


def resolve_format(path, requested):
    """ "conllu" or "conll" for a tagged file: the requested one, or a guess from its content."""
    if requested not in FORMATS:
        raise UserError(f"data.format must be one of {', '.join(FORMATS)}, got {requested!r}")
    if requested != "auto":
        return requested
    guessed = conll.detect_format(os.fspath(path))
    if guessed == "plain":
        raise ParameterError(
            "{path}: cannot tell the format: expected CoNLL-U (10 tab-separated columns) or CoNLL "
            "columns (token ... tag); name it with {format}",
            path=os.fspath(path),
            format=("data.format", None, "data.format"),
        )
    return guessed


def read_tagged(path, data_recipe, file_format):
    """Tagged sentences of a training, dev or evaluation file (empty sentences dropped)."""
    if file_format == "conllu":
        sentences = conll.read_conllu(path, column=data_recipe["column"])
    else:
        sentences = conll.read_conll(path, data_recipe["token_column"], data_recipe["tag_column"])
    return [sentence for sentence in sentences if sentence.tokens]


def read_untagged(text, source, file_format, data_recipe):
    """Sentences to tag from `text` in "conllu", "conll" or "plain" format.

    Column files keep their tag column (it is overwritten on output) when they have one; a
    file of tokens alone gets the tags appended.
    """
    if file_format == "conllu":
        return conll.parse_conllu(text, column=data_recipe["column"], source=source)
    if file_format == "conll":
        first = next((line for line in text.splitlines() if line.strip() and line.split()[0] != conll.DOCSTART), "")
        fields = len(first.split("\t")) if "\t" in first else len(first.split())
        tag_column = data_recipe["tag_column"] if fields > 1 else None
        return conll.parse_conll(text, data_recipe["token_column"], tag_column, source=source)
    return conll.read_plain(text)


def is_entity_tagset(sentences):
    return schemes.detect_scheme(sentence.tags for sentence in sentences) is not None


def check_entity_tags(sentences, scheme, path, invalid):
    """Raise on (or, with invalid="repair", fix in place) ill-formed entity sequences.

    Returns the number of sentences repaired.
    """
    repaired = 0
    for sentence in sentences:
        problems = schemes.validate(sentence.tags, scheme)
        if not problems:
            continue
        if invalid != "repair":
            position, message = problems[0]
            position = min(position, len(sentence.tags) - 1)
            line = sentence.line_numbers[position] if sentence.line_numbers else "?"
            raise UserError(
                f"{path}:{line}: invalid {scheme} tag sequence: {message} "
                "(fix the file, or repair it with --invalid-tags repair)"
            )
        sentence.tags = schemes.repair(sentence.tags, scheme)
        repaired += 1
    return repaired


def prepare_entity_tags(sentences, path, file_scheme, model_scheme, invalid):
    """Check (or repair) `sentences` in `file_scheme`, then convert them to `model_scheme`."""
    repaired = check_entity_tags(sentences, file_scheme, path, invalid)
    if repaired:
        print(f"{path}: repaired {repaired} ill-formed {file_scheme} tag sequence(s)", file=sys.stderr)
    if model_scheme != file_scheme:
        for sentence in sentences:
            sentence.tags = schemes.convert(sentence.tags, file_scheme, model_scheme)


def unknown_tags(sentences, tag_vocab):
    """(tag, line number) of every gold tag the model was not trained with."""
    return [
        (tag, line)
        for sentence in sentences
        for tag, line in zip(sentence.tags, sentence.line_numbers)
        if tag not in tag_vocab
    ]


def unseen_tags_warning(sentences, tag_vocab, path):
    """The warning for gold tags the model was never trained with (None if there are none).

    Such tokens are scored, not refused: the model cannot predict their tag, so each is a
    token error and, for entity tags, a missed span of its type (conlleval semantics), in
    dev scoring during training and in `evaluate` alike.
    """
    unknown = unknown_tags(sentences, tag_vocab)
    if not unknown:
        return None
    names = sorted({tag for tag, _ in unknown})
    shown = ", ".join(repr(tag) for tag in names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return (
        f"warning: {path}: {len(unknown)} token(s) have tags never seen in training ({shown}; first at "
        f"line {unknown[0][1]}); they count as errors"
    )


def check_tag_variety(sentences, path, column="tags"):
    """Refuse training data with fewer than two distinct tags: nothing to learn, and accuracy 1.0."""
    tags = {tag for sentence in sentences for tag in sentence.tags}
    if len(tags) < 2:
        found = f"only the tag {next(iter(tags))!r}" if tags else "no tags"
        raise UserError(
            f"{path}: {found} in column {column}; a tagger needs at least two distinct tags "
            "(is --column / --tag-column right?)"
        )
