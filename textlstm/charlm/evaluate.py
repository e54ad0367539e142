"""`textlstm evaluate` for a char LM: loss, bits per character and perplexity on any text.

The text is cut into the same windows as the validation set during training, so the
numbers are the ones training reported.
"""


from textlstm.charlm import data as data_lib
from textlstm.charlm.corpus import CharVocabulary
from textlstm.charlm.model import DEFAULTS, char_loss
from textlstm.charlm.train import KIND, VOCAB_FILE, add_bits_per_char
from textlstm.errors import UserError
from textlstm.rundir import RunDir
from textlstm.textio import read_text_file
from textlstm.training import load_best_or_last


def score_text(model, vocab, recipe, text, source="the text"):
    """Loss (nats/char), bits/char, perplexity and the characters scored, for `text`.

    `model` must be compiled with `char_loss()`; Keras keeps its test function, so a second
    text costs no new compilation. Windows of `data.seq_len` characters, as in training.
    """
    if len(text) < 2:
        raise UserError(f"{source} has fewer than two characters; nothing to predict")
    ids = vocab.encode(text)
    unknown = vocab.unknown_chars(text)
    seq_len = min(recipe["data"]["seq_len"], len(ids) - 1)
    loss = float(model.evaluate(data_lib.evaluation_batches(ids, seq_len, recipe["train"]["batch_size"]), verbose=0))
    scores = {"loss": loss}
    add_bits_per_char(scores)
    return {
        "characters": data_lib.window_count(ids, seq_len) * seq_len,
        "loss": loss,
        "bits_per_char": scores["bpc"],
        "perplexity": scores["perplexity"],
        "unknown_characters": len(unknown),
        "unknown_chars": unknown,
    }


def evaluate_charlm(run_path, data_path):
    run = RunDir.open(run_path, KIND)
    recipe = run.read_recipe(DEFAULTS)
    vocab = CharVocabulary.load(run.file(VOCAB_FILE))
    text = read_text_file(data_path)
    model = load_best_or_last(run)
    model.compile(loss=char_loss())
    return score_text(model, vocab, recipe, text, source=str(data_path))
