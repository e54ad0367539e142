"""The char LM network, its recipe defaults, and the one-character step used to generate.

embedding → N stacked recurrent layers of ours (dropout between them) → logits over the
character vocabulary. Layers are found by name, never by position, by the step function.
"""

import keras
import numpy as np
import tensorflow as tf

import textlstm.layers as tl
from textlstm.errors import UserError
from textlstm.layers.fusion import dense_logits
from textlstm.optim import optimizer
from textlstm.precision import policy
from textlstm.schema import defaults

DEFAULTS = defaults("charlm")  # the built-in recipe: each key's default, range and help in textlstm/settings.py

RECURRENT_LAYERS = {"lstm": tl.LSTM, "gru": tl.GRU}


def build_model(vocab_size, model_recipe, seed, precision="float32"):
    """The char LM: `char ids [B, T] int32 -> logits [B, T, vocab_size] float32`.

    `precision` (`train.precision`, one of `textlstm.precision.PRECISIONS`) is the dtype policy
    of the embedding, recurrent and dropout layers; the logits layer is float32 whatever it is
    (Keras's advice for mixed precision: the softmax and the loss in float32). Each layer keeps
    its policy in the saved model, so loading needs no global setting.
    """
    cell = model_recipe["cell"]
    if cell not in RECURRENT_LAYERS:
        raise UserError(f"model.cell must be one of {sorted(RECURRENT_LAYERS)}, got {cell!r}")
    compute = policy(precision)
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((None,), dtype="int32", name="chars")
    x = keras.layers.Embedding(vocab_size, model_recipe["embedding_dim"], dtype=compute, name="embedding")(inputs)
    for i in range(model_recipe["layers"]):
        x = RECURRENT_LAYERS[cell](
            model_recipe["units"],
            return_sequences=True,
            dtype=compute,
            dropout=model_recipe.get("input_dropout", 0.0),
            name=f"rnn_{i}",
        )(x)
        x = keras.layers.Dropout(model_recipe["dropout"], dtype=compute, name=f"dropout_{i}")(x)
    logits = keras.layers.Dense(vocab_size, dtype="float32", name="logits")(x)
    return keras.Model(inputs, logits, name="charlm")


def char_loss():
    """Cross-entropy of the next character, in nats per character."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def compile_settings():
    """`model.compile`'s arguments besides the optimizer: the loss, in nats per character."""
    return {"loss": char_loss()}


def compile_model(model, train_recipe, total_steps=1):
    """The recipe's optimizer (`textlstm.optim.optimizer`: loss scaling for `train.precision =
    "mixed_float16"` included) over `total_steps` planned steps, and `compile_settings`."""
    model.compile(optimizer=optimizer(train_recipe, total_steps), **compile_settings())


def recurrent_layers(model):
    layers, i = [], 0
    while True:
        try:
            layers.append(model.get_layer(f"rnn_{i}"))
        except ValueError:
            return layers
        i += 1


class CharStepper(tf.Module):
    """`step(char_ids [B], state) -> (logits [B, V] float32, state)` with our cells carrying the state.

    The first layer's input projection is folded into a table, `embedding @ W + b`, so a
    step starts with a row lookup instead of a matmul; each cell steps on the weights of its
    `step_weights`, cast once here (int8 matrices stay int8 for a model quantized to int8), kept
    as variables so the compiled loop, a SavedModel and ONNX read them as the model's own. The
    stepper holds the weights as they were when it was built. Each layer computes in its own
    compute dtype, as in the model's forward pass: under `train.precision = "mixed_bfloat16"` the
    states are bfloat16 (`initial_state` makes them so). The logits layer is applied with its bias
    added after the product (`layers.fusion.dense_logits`)."""

    def __init__(self, model):
        super().__init__(name="char_stepper")
        self.layers = recurrent_layers(model)
        if not self.layers:
            raise UserError("this model has no recurrent layers named rnn_0, rnn_1, …; is it a textlstm char LM?")
        self.output = model.get_layer("logits")
        embedding = model.get_layer("embedding")
        rows = embedding(keras.ops.arange(embedding.input_dim))  # what it outputs (an int8 one dequantized)
        self.first_projection = tf.constant(np.asarray(self.layers[0].cell.input_projection(rows)))
        self.step_weights = [
            {
                name: tf.Variable(np.asarray(value), trainable=False, name=f"{layer.name}_{name}")
                for name, value in layer.cell.step_weights(projected=i == 0).items()
            }
            for i, layer in enumerate(self.layers)
        ]

    def initial_state(self, batch_size):
        return [
            [tf.zeros((batch_size, size), dtype=layer.cell.compute_dtype) for size in _state_sizes(layer.cell)]
            for layer in self.layers
        ]

    def __call__(self, char_ids, state):
        x = tf.gather(self.first_projection, char_ids)
        new_state = []
        for i, (layer, weights, layer_state) in enumerate(zip(self.layers, self.step_weights, state)):
            gates = layer.cell.step(x, layer_state, weights, projected=i == 0)
            new_state.append(layer.cell.next_states(gates))
            x = gates["h"]
        return tf.cast(dense_logits(self.output, x), tf.float32), new_state


def _state_sizes(cell):
    return cell.state_size if isinstance(cell.state_size, (list, tuple)) else [cell.state_size]
