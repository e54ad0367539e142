"""The char LM network, its recipe defaults, and the one-character step used to generate.

embedding → N stacked recurrent layers of ours (dropout between them) → logits over the
character vocabulary. Layers are found by name, never by position, by the step function.
"""

import keras
import numpy as np
import tensorflow as tf

import textlstm.layers as tl
from textlstm.errors import UserError
from textlstm.schema import check_learning_rate_floor

DEFAULTS = {
    "data": {
        "paths": [],  # text files or directories; empty = the built-in corpus
        "valid": "",  # a validation file; empty = hold out valid_fraction of the data
        "valid_fraction": 0.05,
        "seq_len": 100,  # characters per training window (truncated backprop length)
        "eval_window": 0,  # characters per validation/evaluation window, each from a zero state; 0 = seq_len
        "max_valid_chars": 1_000_000,  # validation characters evaluated each epoch (the first ones); 0 = all
        "direction": "forward",  # "backward": the model reads the text from its end (tokens.py reverses it)
        "unit": "char",  # "subword": SentencePiece pieces of the training text (charlm/subword.py)
        "vocab_size": 2000,  # pieces, subword units only: 260 are bytes and control pieces, ~1700 learned
    },
    "model": {
        "cell": "lstm",  # "lstm" or "gru"
        "layers": 2,
        "units": 256,
        "embedding_dim": 64,
        "dropout": 0.1,  # between layers and before the output
        "input_dropout": 0.0,  # on each recurrent layer's inputs, one mask per sequence (Gal and Ghahramani 2016)
    },
    "train": {
        "batch_size": 64,  # the global batch: split over all devices and workers of a distributed run
        "epochs": 3,
        "steps_per_epoch": 100,  # 0 = one pass over the training windows; 100 keeps the default run to minutes
        "max_steps": 0,  # 0 = no cap; else at most this many optimizer steps in all
        "learning_rate": 0.002,
        "lr_schedule": "constant",  # "constant", or "cosine": from learning_rate down to min_learning_rate
        "min_learning_rate": 0.0,  # where "cosine" ends, at the last step the run plans
        "weight_decay": 0.0,  # > 0: AdamW, decoupled weight decay (per unit of learning rate)
        "clipnorm": 5.0,  # gradient-norm clipping keeps early LSTM training stable
        "patience": 3,  # epochs without validation improvement before stopping
        "seed": 1234,
        "strategy": "auto",  # auto | one-device | mirrored | multi-worker (textlstm.distribute)
    },
    "decode": {
        "length": 500,
        "sampler": "temperature",  # greedy | temperature | top_k | top_p | top_k_top_p (top-k, then top-p)
        "temperature": 0.8,
        "top_k": 40,
        "top_p": 0.95,
    },
}

RECURRENT_LAYERS = {"lstm": tl.LSTM, "gru": tl.GRU}


def build_model(vocab_size, model_recipe, seed):
    cell = model_recipe["cell"]
    if cell not in RECURRENT_LAYERS:
        raise UserError(f"model.cell must be one of {sorted(RECURRENT_LAYERS)}, got {cell!r}")
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((None,), dtype="int32", name="chars")
    x = keras.layers.Embedding(vocab_size, model_recipe["embedding_dim"], name="embedding")(inputs)
    for i in range(model_recipe["layers"]):
        x = RECURRENT_LAYERS[cell](model_recipe["units"], return_sequences=True,
                                   dropout=model_recipe.get("input_dropout", 0.0), name=f"rnn_{i}")(x)
        x = keras.layers.Dropout(model_recipe["dropout"], name=f"dropout_{i}")(x)
    logits = keras.layers.Dense(vocab_size, name="logits")(x)
    return keras.Model(inputs, logits, name="charlm")


def char_loss():
    """Cross-entropy of the next character, in nats per character."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def learning_rate(train_recipe, total_steps):
    """The optimizer's learning rate: a number, or a schedule over the optimizer step.

    `train.lr_schedule = "cosine"` follows half a cosine from `train.learning_rate` at step 0
    down to `train.min_learning_rate` at `total_steps` (`train.epochs` × the steps per epoch
    when the run first starts; `train.max_steps` stops a run early without changing it, so
    a capped run resumed further matches an uncapped one) and stays there (SGDR without restarts: Loshchilov and Hutter 2017,
    `keras.optimizers.schedules.CosineDecay`). The schedule is a function of the step alone and
    is saved with the optimizer, so `--resume` continues it exactly; a run made longer with
    `--resume --epochs` goes on at `min_learning_rate` (refused at 0: `check_schedule_covers`).

    Raises:
        UserError: `min_learning_rate` above `learning_rate`.
    """
    check_learning_rate_floor(train_recipe)
    rate, floor = train_recipe["learning_rate"], train_recipe["min_learning_rate"]
    if train_recipe["lr_schedule"] == "constant":
        return rate
    return keras.optimizers.schedules.CosineDecay(rate, decay_steps=max(1, total_steps), alpha=floor / rate)


def optimizer(train_recipe, total_steps=1):
    """Adam (Kingma and Ba 2015) with gradient-norm clipping and the recipe's learning-rate schedule;
    AdamW (Loshchilov and Hutter 2019, `keras.optimizers.AdamW`) when `train.weight_decay` > 0.

    AdamW shrinks every weight (kernels, biases, the embedding) by `learning_rate × weight_decay`
    of itself each step, apart from the gradient, so the decay follows the schedule. The class and
    its settings are saved with the model, so `--resume` continues with the same optimizer.
    """
    rate, clipnorm = learning_rate(train_recipe, total_steps), train_recipe["clipnorm"]
    decay = train_recipe.get("weight_decay", 0.0)
    if decay > 0:
        return keras.optimizers.AdamW(rate, weight_decay=decay, clipnorm=clipnorm)
    return keras.optimizers.Adam(rate, clipnorm=clipnorm)


def check_schedule_covers(opt, total_steps):
    """Before a resumed run trains up to `total_steps`: where its cosine schedule (saved with the
    optimizer) ended before that, say so, and refuse if the floor is 0, where the steps after
    the schedule's end would not change the weights. Nothing for a constant rate.

    Raises:
        UserError: a cosine schedule ending before `total_steps` at a learning rate of 0.
    """
    rate = opt.get_config()["learning_rate"]
    if not isinstance(rate, dict) or rate.get("class_name") != "CosineDecay":
        return
    config = rate["config"]
    end, floor = int(config["decay_steps"]), float(config["initial_learning_rate"]) * float(config["alpha"])
    if total_steps <= end:
        return
    if floor == 0:
        raise UserError(f"this run's cosine learning-rate schedule ends at step {end} at a rate of 0 "
                        f"(train.min_learning_rate), so training on to step {total_steps} would not change the "
                        f"weights; start a new run with more train.epochs, or a train.min_learning_rate above 0")
    print(f"note: the cosine learning-rate schedule ended at step {end}; steps after it train at "
          f"train.min_learning_rate={floor:g}")


def compile_model(model, train_recipe, total_steps=1):
    """The recipe's optimizer (`optimizer`); loss in nats per character."""
    model.compile(optimizer=optimizer(train_recipe, total_steps), loss=char_loss())


def recurrent_layers(model):
    layers, i = [], 0
    while True:
        try:
            layers.append(model.get_layer(f"rnn_{i}"))
        except ValueError:
            return layers
        i += 1


class CharStepper:
    """`step(char_ids [B], state) -> (logits [B, V], state)` with our cells carrying the state.

    The first layer's input projection is folded into a table, `embedding @ W + b`, so a
    step starts with a row lookup instead of a matmul; deeper layers use their cells.
    """

    def __init__(self, model):
        self.layers = recurrent_layers(model)
        if not self.layers:
            raise UserError("this model has no recurrent layers named rnn_0, rnn_1, …; is it a textlstm char LM?")
        self.output = model.get_layer("logits")
        first = self.layers[0].cell
        table = keras.ops.matmul(model.get_layer("embedding").embeddings, first.kernel)
        if first.input_bias is not None:
            table = table + first.input_bias
        self.first_projection = tf.constant(np.asarray(table))

    def initial_state(self, batch_size):
        return [[tf.zeros((batch_size, size)) for size in _state_sizes(layer.cell)] for layer in self.layers]

    def __call__(self, char_ids, state):
        x = tf.gather(self.first_projection, char_ids)
        new_state = []
        for i, (layer, layer_state) in enumerate(zip(self.layers, state)):
            cell = layer.cell
            gates = cell.projected_gate_values(x, layer_state) if i == 0 else cell.gate_values(x, layer_state)
            new_state.append(cell.next_states(gates))
            x = gates["h"]
        return self.output(x), new_state


def _state_sizes(cell):
    return cell.state_size if isinstance(cell.state_size, (list, tuple)) else [cell.state_size]
