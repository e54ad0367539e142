"""Tagging sentences with a trained tagger: batched, length-sorted, chunked, with progress.

`predict_tags` does the work for any tagger model, so training uses it for the dev metric too;
`textlstm.api.Tagger` (the tagger family's class) loads a run directory and tags with it, and
`tag_text` tags a file with such a loaded tagger.
"""

import json
import sys
import time

import numpy as np
import tensorflow as tf

from textlstm.errors import UserError
from textlstm.families import TAGGER
from textlstm.rundir import read_json_file
from textlstm.tagger import conll, corpus, schemes
from textlstm.tagger import data as data_lib
from textlstm.tagger.data import encode_untagged  # noqa: F401  (re-exported)
from textlstm.tagger.model import decode_tags
from textlstm.tagger.vocab import CHARS_FILE, TAGS_FILE, WORDS_FILE, Vocabulary  # noqa: F401  (file names re-exported)
from textlstm.textio import empty_input_note

KIND = TAGGER  # re-exported for tagger/train.py
TAGSET_FILE = "tagset.json"


def make_predictor(model, charlm=None):
    """A compiled `(words, chars, *char LM inputs) -> tag ids` function; shapes may vary without
    retracing. `charlm` (the run's `CharLMSet`) turns frozen LMs' inputs into features."""

    @tf.function(reduce_retracing=True)
    def predict(*inputs):
        emissions = model(charlm.model_inputs(inputs) if charlm is not None else list(inputs), training=False)
        return decode_tags(model, emissions, tf.not_equal(inputs[0], 0))

    return predict


def predict_tags(predictor, sentences, vocabs, data_recipe, batch_size, progress=None, charlm=None, examples=None):
    """Tag id lists (one per sentence, [] for empty ones) from a predictor of `make_predictor`.

    `vocabs` is (words, chars, tags). `progress(done, total)` is called after each batch.
    `examples` are the sentences' chunks when already encoded (`encode_untagged`; the dev set
    during training, whose frozen char-LM features are computed once).
    """
    if examples is None:
        examples = encode_untagged(sentences, vocabs, data_recipe, charlm)
    results = [np.zeros(len(sentence.tokens), np.int32) for sentence in sentences]
    done = 0
    rows = min(batch_size, len(examples))  # one row count (one trace); no more rows than chunks
    for indexes in data_lib.sorted_batches(examples, batch_size):
        batch = [examples[i] for i in indexes]
        inputs, _ = data_lib.pad_batch(batch, rows=rows)
        tag_ids = predict(predictor, inputs)
        for row, example in enumerate(batch):
            results[example.sentence][example.start : example.start + len(example)] = tag_ids[row, : len(example)]
        done += len(batch)
        if progress is not None:
            progress(done, len(examples))
    return results


def predict(predictor, inputs):
    return np.asarray(predictor(*(tf.constant(value) for value in inputs)))


def open_charlm_copies(run, recipe):
    """The `CharLMSet` of the LM copies a tagger run holds (None when its recipe names no LM)."""
    if not recipe["model"]["charlm"]:
        return None
    from textlstm.tagger.charlm_features import CharLMSet

    return CharLMSet.open_copies(run, len(recipe["model"]["charlm"]), recipe["model"]["charlm_trainable"])


def predictable_tags(tag_vocab, tagset):
    """The tags the model can output, in the training file's scheme (dev and test tags must be among them)."""
    if not tagset["entities"] or tagset["model_scheme"] == tagset["file_scheme"]:
        return tag_vocab
    types = {schemes.split_tag(tag)[1] for tag in tag_vocab.items[1:] if tag != schemes.OUTSIDE}
    prefixes = schemes.PREFIXES[tagset["file_scheme"]]
    return Vocabulary(["O"] + [f"{prefix}-{name}" for name in sorted(types) for prefix in prefixes], unknown=False)


def to_file_scheme(tags, tagset):
    """Predicted entity tags written back in the training file's scheme (others unchanged)."""
    if tagset.get("entities") and tagset["model_scheme"] != tagset["file_scheme"]:
        return schemes.convert(tags, tagset["model_scheme"], tagset["file_scheme"])
    return tags


def read_tagset(run):
    """The run's tagset.json (format, entity scheme of the file and of the model), checked."""
    path = run.file(TAGSET_FILE)
    tagset = read_json_file(path, "tag set")
    if not isinstance(tagset, dict):
        raise UserError(f"tag set {path} is damaged (expected a JSON object, found {json.dumps(tagset)[:40]})")
    if not isinstance(tagset.get("entities"), bool):
        raise UserError(f'tag set {path} is damaged ("entities" must be true or false)')
    if tagset.get("format") not in ("conllu", "conll"):
        raise UserError(
            f'tag set {path} is damaged ("format" must be "conllu" or "conll", '
            f"found {json.dumps(tagset.get('format'))})"
        )
    for key in ("file_scheme", "model_scheme"):
        value = tagset.get(key)
        if tagset["entities"] and value not in schemes.PREFIXES:
            raise UserError(
                f"tag set {path} is damaged ({key!r} must be one of {', '.join(schemes.PREFIXES)}, "
                f"found {json.dumps(value)})"
            )
    return tagset


def _to_stderr(message):
    print(message, file=sys.stderr, flush=True)


def stderr_progress(total, every_seconds=2.0):
    """A `progress(done, total)` printing to stderr at most every few seconds (None if small)."""
    if total < 1000:
        return None
    last = [0.0]
    started = time.monotonic()

    def report(done, total):
        now = time.monotonic()
        if now - last[0] >= every_seconds or done == total:
            last[0] = now
            rate = done / max(now - started, 1e-9)
            print(f"tagged {done:,}/{total:,} chunks ({rate:,.0f}/s)", file=sys.stderr, flush=True)

    return report


OUTPUT_FOR_INPUT = {"conllu": "conllu", "conll": "conll", "plain": "conll"}


def read_input(input_path):
    """(text, source name) of a file, or of stdin for None or "-"; "" when it is empty.

    Binary input (a NUL byte) and text that is not UTF-8 are refused as everywhere else.
    """
    if input_path not in (None, "-"):
        return conll.read_text(input_path, allow_empty=True), str(input_path)
    data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode("utf-8")
    return conll.decode_bytes(data, "<stdin>"), "<stdin>"


def tag_text(
    tagger,
    input_path=None,
    input_format="auto",
    output_format=None,
    batch_size=None,
    warn=None,
    n_best=1,
):
    """Tag a file (or stdin) with a loaded tagger (`textlstm.api.Tagger`); returns the output text.

    The output format defaults to the input's (CoNLL columns for plain text); CoNLL-U output
    keeps every other column and comment of CoNLL-U input, CoNLL column output every line
    (`-DOCSTART-` and blank lines too). An empty input gives an empty output and a note
    through `warn` (default: stderr). With `n_best` > 1 the output is jsonl or CoNLL columns
    (see `nbest`).
    """
    if n_best < 1:
        raise UserError(f"--n-best must be at least 1, got {n_best}")
    if n_best > 1 and output_format == "conllu":
        raise UserError("--n-best writes jsonl or conll output, not conllu; add --output-format jsonl or conll")
    text, source = read_input(input_path)
    if not text:
        (warn or _to_stderr)(empty_input_note(source, "tag"))
        return ""
    if input_format == "auto":
        input_format = conll.detect_format(text)
    data = tagger.recipe["data"]
    sentences = corpus.read_untagged(text, source, input_format, data)
    output_format = output_format or OUTPUT_FOR_INPUT[input_format]
    if n_best > 1:
        from textlstm.tagger.nbest import write_conll_nbest, write_jsonl_nbest

        if output_format == "conllu":
            raise UserError("--n-best writes jsonl or conll output, not conllu; add --output-format jsonl or conll")
        paths = tagger.nbest_sentences(sentences, n_best, batch_size, progress=stderr_progress(len(sentences)))
        if output_format == "jsonl":
            return write_jsonl_nbest(sentences, paths)
        return write_conll_nbest(sentences, paths, n_best)
    predicted = tagger.tag_sentences(sentences, batch_size, progress=stderr_progress(len(sentences)))
    if output_format == "conllu":
        return conll.write_conllu(sentences, predicted, column=data["column"])
    if output_format == "conll":
        return conll.write_conll(sentences, predicted)
    return conll.write_jsonl(sentences, predicted)
