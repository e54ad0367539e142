"""Attention over the encoder's outputs: Luong dot and general, Bahdanau additive scores."""

import keras

SCORES = ("dot", "general", "bahdanau")


@keras.saving.register_keras_serializable(package="textlstm")
class Attention(keras.layers.Layer):
    """Scores each source position against decoder states and returns the weighted context.

    The part of the score that depends only on the source (`keys`) is computed once per
    sentence by `keys()`, so a decoding step costs one small product per position.

    Args:
        score: `"dot"` (q·m), `"general"` (q·W m) or `"bahdanau"` (v·tanh(W₁ m + W₂ q)).
            Default `"general"`.
        units: Width of the decoder states the memory is compared with ("general"), or of
            the Bahdanau hidden layer; ignored by "dot" (default 256).

    Call arguments:
        queries: decoder states `[batch, steps, units]`.
        memory: encoder outputs `[batch, source, units]`.
        keys: `keys(memory)`.
        mask: `[batch, source]`, True at real (not padding) positions.

    Returns `(context [batch, steps, units], weights [batch, steps, source])`.

    Example:

    >>> attention = Attention("general", units=16)
    >>> memory = np.ones((2, 7, 16), "float32")
    >>> context, weights = attention(np.ones((2, 3, 16)), memory, attention.keys(memory), np.ones((2, 7), bool))
    >>> context.shape, weights.shape
    ((2, 3, 16), (2, 3, 7))

    Reference:
        Luong, Pham & Manning (2015), "Effective Approaches to Attention-based Neural Machine
        Translation"; Bahdanau, Cho & Bengio (2015), "Neural Machine Translation by Jointly
        Learning to Align and Translate".
    """

    def __init__(self, score="general", units=256, **kwargs):
        if score not in SCORES:
            raise ValueError(f"Argument `score` must be one of {SCORES}. Received: score={score!r}")
        super().__init__(**kwargs)
        self.score = score
        self.units = units
        self.memory_projection = None
        if score == "general":
            self.memory_projection = keras.layers.Dense(units, use_bias=False, name="memory_projection")
        elif score == "bahdanau":
            self.memory_projection = keras.layers.Dense(units, use_bias=False, name="memory_projection")
            self.query_projection = keras.layers.Dense(units, use_bias=True, name="query_projection")
            self.scale = keras.layers.Dense(1, use_bias=False, name="scale")

    def build(self, queries_shape, memory_shape=None, keys_shape=None, mask_shape=None):
        width = queries_shape[-1]
        memory_width = memory_shape[-1] if memory_shape else width
        if self.memory_projection is not None and not self.memory_projection.built:  # keys() may have built it
            self.memory_projection.build((None, None, memory_width))
        if self.score == "bahdanau":
            self.query_projection.build((None, None, width))
            self.scale.build((None, None, None, self.units))

    def keys(self, memory):
        return memory if self.memory_projection is None else self.memory_projection(memory)

    def call(self, queries, memory, keys, mask):
        if self.score == "bahdanau":
            hidden = keras.ops.tanh(keys[:, None, :, :] + self.query_projection(queries)[:, :, None, :])
            scores = keras.ops.squeeze(self.scale(hidden), -1)
        else:
            scores = keras.ops.einsum("btu,bsu->bts", queries, keys)
        scores = keras.ops.where(mask[:, None, :], scores, -1e9)
        weights = keras.ops.softmax(scores, axis=-1)
        context = keras.ops.einsum("bts,bsu->btu", weights, memory)
        return context, weights

    def get_config(self):
        return {**super().get_config(), "score": self.score, "units": self.units}
