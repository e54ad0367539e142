"""Record every gate of every recurrent layer of a char LM, one character at a time.

The text is run through the model layer by layer: each layer's input projection for all
characters is one matmul, then the layer's own cell (`projected_gate_values`, the same
equations the layer runs) steps through time from a zero state, keeping each step's
gates. The hidden states it records are the layer's forward outputs, so the next layer
reads exactly what it reads in the model.
"""

import dataclasses

import numpy as np
import tensorflow as tf

import textlstm.layers as tl
from textlstm.charlm.model import recurrent_layers
from textlstm.errors import UserError

LSTM_GATES = ("input", "forget", "output", "candidate", "c", "h")
GRU_GATES = ("update", "reset", "candidate", "h")
SIGMOID_GATES = {"lstm": ("input", "forget", "output"), "gru": ("update", "reset")}
STATE_GATE = {"lstm": "c", "gru": "h"}  # the memory that interpretable units are read from


@dataclasses.dataclass
class Recording:
    """Activations of one text: `layers[i][gate]` is `[characters, units]` (float32).

    `top_ids`/`top_probs` (`[characters, k]`) are the model's most likely next characters
    after reading each character; `next_prob` is the probability it gave the character
    that actually came next (NaN after the last one).
    """

    text: str
    char_ids: np.ndarray
    cell_type: str
    layers: list
    top_ids: np.ndarray
    top_probs: np.ndarray
    next_prob: np.ndarray

    @property
    def gate_names(self):
        return LSTM_GATES if self.cell_type == "lstm" else GRU_GATES

    def first(self, count):
        """The recording of the first `count` characters only."""
        return Recording(
            self.text[:count],
            self.char_ids[:count],
            self.cell_type,
            [{gate: values[:count] for gate, values in layer.items()} for layer in self.layers],
            self.top_ids[:count],
            self.top_probs[:count],
            self.next_prob[:count],
        )


def cell_type_of(model):
    """ "lstm" or "gru" for a char LM built of our layers; a UserError for anything else."""
    layers = recurrent_layers(model)
    if not layers:
        raise UserError("this model has no recurrent layers named rnn_0, rnn_1, …; is it a textlstm char LM?")
    kinds = {"lstm" if isinstance(layer, tl.LSTM) else "gru" if isinstance(layer, tl.GRU) else None for layer in layers}
    if None in kinds or len(kinds) != 1:
        raise UserError("inspect supports char LMs whose recurrent layers are all textlstm LSTM or all GRU layers")
    return kinds.pop()


def record_layer(cell, inputs):
    """Step `cell` through `inputs` (`[time, features]`) from a zero state; `{gate: [time, units]}`
    float32, computed in the cell's compute dtype (bfloat16 for a mixed_bfloat16 run)."""
    projected = cell.input_projection(tf.convert_to_tensor(inputs))
    zeros = tf.zeros((1, cell.units), dtype=projected.dtype)
    start = {name: zeros for name in (LSTM_GATES if isinstance(cell, tl.LSTMCell) else GRU_GATES)}

    @tf.function
    def scan(projected, start):
        def step(previous, x):
            return cell.projected_gate_values(x[None, :], cell.next_states(previous))

        return tf.scan(step, projected, initializer=start)

    gates = scan(projected, start)
    return {name: value.numpy().astype(np.float32, copy=False)[:, 0, :] for name, value in gates.items()}


def record_activations(model, char_ids, text, top_k=5):
    """Run `char_ids` through the char LM `model` and return a `Recording`."""
    cell_type = cell_type_of(model)
    if len(char_ids) == 0:
        raise UserError("the text to inspect is empty")
    ids = tf.constant(np.asarray(char_ids, dtype=np.int32)[None, :])
    x = model.get_layer("embedding")(ids)[0]
    layers = []
    for layer in recurrent_layers(model):
        gates = record_layer(layer.cell, x)
        layers.append(gates)
        x = gates["h"]
    logits = model.get_layer("logits")(tf.constant(x[None]))[0]
    probs = tf.nn.softmax(logits, axis=-1).numpy()
    k = min(top_k, probs.shape[-1])
    top_ids = np.argsort(-probs, axis=-1, kind="stable")[:, :k]
    top_probs = np.take_along_axis(probs, top_ids, axis=-1)
    next_prob = np.full(len(char_ids), np.nan, dtype=np.float32)
    next_prob[:-1] = probs[np.arange(len(char_ids) - 1), np.asarray(char_ids[1:])]
    return Recording(
        text,
        np.asarray(char_ids, dtype=np.int32),
        cell_type,
        layers,
        top_ids.astype(np.int32),
        top_probs.astype(np.float32),
        next_prob,
    )
