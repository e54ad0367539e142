"""Will this model and batch fit? An estimate from the recipe, checked before anything is built.

A recipe can ask for a model whose weights alone exceed any machine (`model.units=60000` is
a 4 x 120000 x 60000 LSTM kernel per layer: over 100 GB). Building it would end in an
out-of-memory traceback, or the operating system killing the process, minutes later.
Instead each family estimates, from its recipe and its vocabulary sizes:

- weights x 4 (the weights, their gradients and Adam's two moment estimates), and
- the activations of one training batch kept for the backward pass (the inputs, gates and
  states of every recurrent layer at every step, and the output logits),

all in float32, and refuses in one line when that exceeds the machine's physical memory.
Frozen weights (the tagger's table of pretrained word vectors) count once: they have no
gradients and no optimizer moments.
It is an estimate (within a small factor), meant to catch the impossible, not to tune.
Each family's estimate (`charlm_bytes`, `tagger_bytes`, `seq2seq_bytes`) is named by its
registry entry (`families.Family.memory_estimate`, `families.memory_estimate(kind)`).
"""

import os

from textlstm.errors import UserError

FLOAT_BYTES = 4
GATES = {"lstm": 4, "gru": 3}


def physical_memory_bytes() -> int | None:
    """This machine's physical memory, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _recurrent(cell, inputs, units, layers, directions=1):
    """Weights of `layers` stacked recurrent layers (each `directions` wide) and floats per step."""
    gates, weights, width = GATES.get(cell, 4), 0, inputs
    for _ in range(layers):
        weights += directions * gates * (width + units + 2) * units
        width = directions * units
    return weights, layers * directions * units * (gates + 2)


def charlm_bytes(recipe: dict, vocab_size: int) -> int:
    model, train = recipe["model"], recipe["train"]
    weights, per_step = _recurrent(model["cell"], model["embedding_dim"], model["units"], model["layers"])
    weights += vocab_size * model["embedding_dim"] + (model["units"] + 1) * vocab_size
    per_token = model["embedding_dim"] + per_step + 3 * vocab_size
    return _total(weights, per_token * train["batch_size"] * recipe["data"]["seq_len"])


def tagger_bytes(
    recipe: dict,
    num_words: int,
    num_chars: int,
    num_tags: int,
    lm_features: int = 0,
    trainable_words: int | None = None,
    vector_dim: int = 0,
) -> int:
    """`lm_features`: char-LM feature values per word (their LMs' own weights are not counted).
    `vector_dim` > 0: a frozen table of `num_words` pretrained vectors of that size, counted
    once, beside trainable embeddings for the first `trainable_words` ids (default: all)."""
    data, model, train = recipe["data"], recipe["model"], recipe["train"]
    char_units = model["char_units"] if model["char_features"] != "none" else 0
    trainable_words = num_words if trainable_words is None else trainable_words
    word_width = model["word_dim"] + vector_dim
    weights = trainable_words * model["word_dim"] + num_chars * model["char_dim"]
    weights += char_units * (model["char_dim"] * max(model["char_kernel"], 4) + char_units)
    rnn, per_step = _recurrent(model["cell"], word_width + char_units + lm_features, model["units"], model["layers"], 2)
    weights += rnn + (2 * model["units"] + 1) * num_tags + num_tags * num_tags
    chars_per_token = data["max_word_chars"] * (model["char_dim"] + char_units) if char_units else 0
    per_token = word_width + char_units + lm_features + chars_per_token + per_step + 3 * num_tags
    frozen = FLOAT_BYTES * num_words * vector_dim
    return _total(weights, per_token * train["batch_size"] * data["max_len"]) + frozen


def seq2seq_bytes(recipe: dict, source_vocab: int, target_vocab: int) -> int:
    data, model, train = recipe["data"], recipe["model"], recipe["train"]
    units, dim, cell, layers = model["units"], model["embedding_dim"], model["cell"], model["layers"]
    encoder, encoder_step = _recurrent(cell, dim, units // 2, layers, 2)
    decoder, decoder_step = _recurrent(cell, dim + (units if model["input_feeding"] else 0), units, layers)
    weights = encoder + decoder + (source_vocab + target_vocab) * dim + 3 * units * units
    weights += (units + 1) * target_vocab
    per_token = 2 * dim + encoder_step + decoder_step + 4 * units + 3 * target_vocab
    return _total(weights, per_token * train["batch_size"] * data["max_length"])


def _total(weights, activations):
    return FLOAT_BYTES * (4 * weights + 2 * activations)


def check_fits(needed: int, sizes: str, available: int | None = None):
    """Refuse in one line when `needed` bytes exceed the machine's memory; `sizes` names the recipe values."""
    available = physical_memory_bytes() if available is None else available
    if available and needed > available:
        raise UserError(
            f"training this model needs about {_gib(needed)} of memory (weights, gradients, Adam "
            f"moments and one batch's activations; {sizes}) but this machine has {_gib(available)}; "
            "lower these sizes"
        )


def _gib(count):
    return f"{count / 2**30:,.1f} GiB"


def recipe_sizes(recipe: dict, *names: str) -> str:
    """ "model.units=512, train.batch_size=64" for the error line."""
    return ", ".join(f"{name}={recipe[name.split('.')[0]][name.split('.')[1]]}" for name in names)
