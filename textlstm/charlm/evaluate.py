"""`textlstm evaluate` for a char LM: loss, bits per character and perplexity on any text.

The text is cut into the same windows as the validation set during training (of
`data.eval_window` characters, or `data.seq_len` when that is 0; each window starts from a
zero state; the text's first character is context only, every later one is predicted), and
the remainder after the last whole window is scored as one shorter window, so `characters` is
always len(text) - 1. A backward LM (`data.direction = "backward"`) reads the
text reversed: its last character is context only and every earlier one is predicted from
those after it, so its bits per character compare with a forward LM's. On a text of 1 + a multiple of the window
characters the numbers are the ones training reported. A subword LM (`data.unit = "subword"`)
is scored over its pieces the same way (the first piece is context only); its loss is summed
over the predicted pieces and divided by the characters they stand for, so `loss`,
`bits_per_char` and `perplexity` are per character for both units and compare (`tokens`,
`loss_per_token` and `token_perplexity` are per piece). A file is streamed: encoded piece by piece into a
temporary token file and read back on demand, so any size fits in memory; `score_text`
scores a string already in memory (the Python API's `CharLM.score`).
"""

import math
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf

from textlstm.charlm import data as data_lib
from textlstm.charlm.corpus import is_backward, load_vocabulary, reading_order
from textlstm.charlm.metrics import add_bits_per_char
from textlstm.charlm.model import DEFAULTS, char_loss
from textlstm.charlm.tokens import TokenFile, make_encoder, write_tokens
from textlstm.errors import UserError
from textlstm.families import CHARLM
from textlstm.models import load_best_or_last
from textlstm.rundir import RunDir
from textlstm.textio import stream_text_file


def _tail_loss_sum(model, ids, first, chars):
    """Summed cross-entropy (nats) of predicting ids[first + 1:chars] from the window ids[first:chars - 1]."""
    window = np.asarray(ids[first:chars], dtype=np.int32)[None, :]
    logits = tf.cast(model(window[:, :-1], training=False), tf.float32)
    return float(tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(window[:, 1:], logits)))


def _scores(model, vocab, ids, count, recipe, unknown):
    """Evaluate `model` (compiled with `char_loss()`) on the windows of `ids` (`count` of them):
    whole windows through `model.evaluate`, then the shorter last one, weighted by ids. For
    pieces, the nats are also divided by the characters the predicted pieces stand for."""
    seq_len = min(data_lib.evaluation_window(recipe["data"]), count - 1)
    whole = (count - 1) // seq_len * seq_len  # ids predicted by whole windows
    batches = data_lib.evaluation_batches(ids, seq_len, recipe["train"]["batch_size"])
    loss = float(model.evaluate(batches, verbose=0))
    del batches
    if whole < count - 1:
        loss = (loss * whole + _tail_loss_sum(model, ids, whole, count)) / (count - 1)
    chars = vocab.characters(ids[1:count])  # every id but the first is predicted
    per_char = loss * (count - 1) / max(chars, 1)
    scores = {"loss": per_char}
    add_bits_per_char(scores)
    result = {
        "characters": chars,
        "loss": per_char,
        "bits_per_char": scores["bpc"],
        "perplexity": scores["perplexity"],
        "unknown_characters": len(unknown),
        "unknown_chars": sorted(unknown),
    }
    if vocab.unit == "subword":
        result.update(tokens=count - 1, loss_per_token=loss, token_perplexity=math.exp(min(loss, 50.0)))
    return result


def score_text(model, vocab, recipe, text, source="the text"):
    """Loss (nats/char), bits/char, perplexity and the characters scored, for the string `text`
    (for subword units also the pieces scored and the loss and perplexity per piece).

    `model` must be compiled with `char_loss()`; Keras keeps its test function, so a second
    text costs no new compilation.
    """
    ids = vocab.encode(text)
    if len(ids) < 2:
        raise UserError(f"{source} has fewer than two {vocab.unit_name}; nothing to predict")
    return _scores(model, vocab, reading_order(ids, is_backward(recipe)), len(ids), recipe, vocab.unknown_chars(text))


def evaluate_charlm(run_path, data_path, model=None):
    """Scores of a text file; `model` is the run's model compiled with `char_loss()` when
    already loaded (else the best checkpoint is loaded once the file has been read)."""
    run = RunDir.open(run_path, CHARLM)
    recipe = run.read_recipe(DEFAULTS)
    vocab = load_vocabulary(run, recipe["data"])
    encoder = make_encoder(vocab)
    with tempfile.TemporaryDirectory(prefix="textlstm-evaluate-") as scratch:
        path = Path(scratch) / "tokens.bin"
        size = Path(data_path).stat().st_size if Path(data_path).is_file() else 0
        count, _ = write_tokens(
            path,
            stream_text_file(data_path),
            encoder,
            size,  # checks every byte first
            reverse=is_backward(recipe),
        )
        if count < 2:
            raise UserError(f"{data_path} has fewer than two {vocab.unit_name}; nothing to predict")
        ids = TokenFile(path, encoder.dtype, count)
        if model is None:
            model = load_best_or_last(run)
            model.compile(loss=char_loss())
        result = _scores(model, vocab, ids, count, recipe, encoder.unknown)
        del ids
    return result
