"""The attention encoder-decoder, its recipe defaults, loss and the two decoding entry points.

source ids → embedding → N bidirectional layers of our LSTM/GRU (each direction units/2
wide, so the memory is `units` wide) → memory; the final forward and backward states of
encoder layer i, side by side, start decoder layer i. The decoder is N layers of our
cells; attention compares the top decoder state with the memory, and the attentional
state h̃ = tanh(W [context; h]) gives the logits (Luong et al. 2015).

Teacher forcing without input feeding runs each decoder layer as one whole-sequence call
(the fused CPU loop, cuDNN on a GPU) and attends for all steps at once afterwards; with
input feeding h̃ of step t-1 is part of the input of step t, so training steps through
the cells with `tf.scan`. Decoding uses only `encode` and `decode_step`.
"""

import keras
import tensorflow as tf

import textlstm.layers as tl
from textlstm.distribute import summed_over_replicas
from textlstm.errors import UserError
from textlstm.layers.int8 import embedding_matrix
from textlstm.optim import optimizer
from textlstm.schema import defaults
from textlstm.seq2seq.attention import SCORES, Attention
from textlstm.seq2seq.subwords import PAD_ID

DEFAULTS = defaults("seq2seq")  # the built-in recipe: each key's default, range and help in textlstm/settings.py

RECURRENT_LAYERS = {"lstm": tl.LSTM, "gru": tl.GRU}


@keras.saving.register_keras_serializable(package="textlstm")
class Seq2Seq(keras.Model):
    """Bidirectional recurrent encoder, attentional recurrent decoder.

    Args:
        source_vocab_size, target_vocab_size: Subword vocabulary sizes (id 0 pads).
        cell: `"lstm"` or `"gru"` (default `"lstm"`).
        num_layers: Encoder and decoder layers each (default 1).
        units: Decoder width; each encoder direction is `units // 2` (default 256).
        embedding_dim: Width of both embeddings (default 256).
        attention: `"dot"`, `"general"` or `"bahdanau"` (default `"general"`).
        input_feeding: Feed the attentional state into the next step (default False).
        dropout: Rate on embeddings, between layers and before the output (default 0.3).
        tie_embeddings: Output projection = target embedding transposed (default False).

    Call arguments:
        inputs: `{"source": [batch, source], "target_in": [batch, target]}` int ids.

    Returns logits `[batch, target, target_vocab_size]`.

    Reference:
        Luong, Pham & Manning (2015), "Effective Approaches to Attention-based Neural
        Machine Translation"; Press & Wolf (2017), "Using the Output Embedding to Improve
        Language Models" (tying).
    """

    def __init__(
        self,
        source_vocab_size,
        target_vocab_size,
        cell="lstm",
        num_layers=1,
        units=256,
        embedding_dim=256,
        attention="general",
        input_feeding=False,
        dropout=0.3,
        tie_embeddings=False,
        **kwargs,
    ):
        if cell not in RECURRENT_LAYERS:
            raise UserError(f"model.cell must be one of {', '.join(RECURRENT_LAYERS)}, got {cell!r}")
        if attention not in SCORES:
            raise UserError(f"model.attention must be one of {', '.join(SCORES)}, got {attention!r}")
        if units % 2 or units < 2:
            raise UserError(f"model.units must be an even number >= 2 (two encoder directions), got {units}")
        if num_layers < 1:
            raise UserError(f"model.layers must be at least 1, got {num_layers}")
        super().__init__(**kwargs)
        self.source_vocab_size, self.target_vocab_size = source_vocab_size, target_vocab_size
        self.cell, self.num_layers, self.units = cell, num_layers, units
        self.embedding_dim, self.attention, self.input_feeding = embedding_dim, attention, input_feeding
        self.dropout, self.tie_embeddings = dropout, tie_embeddings
        layer = RECURRENT_LAYERS[cell]
        self.source_embedding = keras.layers.Embedding(source_vocab_size, embedding_dim, name="source_embedding")
        self.target_embedding = keras.layers.Embedding(target_vocab_size, embedding_dim, name="target_embedding")
        self.encoders = [
            tl.Bidirectional(layer(units // 2, return_sequences=True, return_state=True), name=f"encoder_{i}")
            for i in range(num_layers)
        ]
        self.decoders = [
            layer(units, return_sequences=True, return_state=True, name=f"decoder_{i}") for i in range(num_layers)
        ]
        self.attender = Attention(attention, units, name="attention")
        self.combine = keras.layers.Dense(units, activation="tanh", use_bias=False, name="combine")
        self.drop = keras.layers.Dropout(dropout, name="dropout")
        if tie_embeddings:
            self.to_embedding = (
                keras.layers.Dense(embedding_dim, use_bias=False, name="to_embedding")
                if embedding_dim != units
                else None
            )
            self.output_bias = self.add_weight(shape=(target_vocab_size,), initializer="zeros", name="output_bias")
        else:
            self.projection = keras.layers.Dense(target_vocab_size, name="projection")

    def build(self, input_shape=None):
        ids = keras.ops.ones((2, 3), "int32")
        self.call({"source": ids, "target_in": ids})
        self.built = True

    def _encode(self, source, training):
        mask = keras.ops.not_equal(source, PAD_ID)
        x = self.drop(self.source_embedding(source), training=training)
        initial = []
        for i, encoder in enumerate(self.encoders):
            outputs = encoder(x, mask=mask, training=training)
            x, states = outputs[0], outputs[1:]
            half = len(states) // 2  # forward states, then backward states
            initial.append([keras.ops.concatenate([f, b], -1) for f, b in zip(states[:half], states[half:])])
            if i + 1 < self.num_layers:
                x = self.drop(x, training=training)
        memory = {"outputs": x, "keys": self.attender.keys(x), "mask": mask}
        return initial, memory

    def encode(self, source, training=False):
        """Encode `[batch, source]` ids: `(decoder state, memory)` for `decode_step`."""
        rnn_states, memory = self._encode(source, training)
        state = {"rnn": rnn_states}
        if self.input_feeding:
            state["feed"] = keras.ops.zeros((keras.ops.shape(source)[0], self.units))
        return state, memory

    def _logits(self, attentional):
        if not self.tie_embeddings:
            return self.projection(attentional)
        if self.to_embedding is not None:
            attentional = self.to_embedding(attentional)
        weights = embedding_matrix(self.target_embedding)  # dequantized when the model was quantized to int8
        return keras.ops.matmul(attentional, keras.ops.transpose(weights)) + self.output_bias

    def _attend(self, queries, memory):
        context, weights = self.attender(queries, memory["outputs"], memory["keys"], memory["mask"])
        return self.combine(keras.ops.concatenate([context, queries], -1)), weights

    def _step(self, embedded, state, memory, training):
        x = embedded
        if self.input_feeding:
            x = keras.ops.concatenate([x, state["feed"]], -1)
        new_rnn = []
        for i, (decoder, layer_state) in enumerate(zip(self.decoders, state["rnn"])):
            if i:
                x = self.drop(x, training=training)
            gates = decoder.cell.gate_values(x, layer_state)
            new_rnn.append(decoder.cell.next_states(gates))
            x = gates["h"]
        attentional, weights = self._attend(x[:, None, :], memory)
        new_state = {"rnn": new_rnn}
        if self.input_feeding:
            new_state["feed"] = attentional[:, 0]
        return attentional[:, 0], new_state, weights[:, 0]

    def decode_step(self, token_ids, state, memory):
        """One target step: `(logits [batch, vocab], new state)` after feeding `token_ids [batch]`."""
        attentional, state, _ = self._step(self.target_embedding(token_ids), state, memory, False)
        return self._logits(attentional), state

    def decode_step_with_attention(self, token_ids, state, memory):
        """`decode_step` that also returns the attention weights `[batch, source]`."""
        attentional, state, weights = self._step(self.target_embedding(token_ids), state, memory, False)
        return self._logits(attentional), state, weights

    def call(self, inputs, training=False):
        state, memory = self.encode(inputs["source"], training=training)
        y = self.drop(self.target_embedding(inputs["target_in"]), training=training)
        if self.input_feeding:
            attentional = self._teacher_forced_steps(y, state, memory, training)
        else:
            for i, decoder in enumerate(self.decoders):
                if i:
                    y = self.drop(y, training=training)
                y = decoder(y, initial_state=state["rnn"][i], training=training)[0]
            attentional, _ = self._attend(y, memory)
        return self._logits(self.drop(attentional, training=training))

    def _teacher_forced_steps(self, embedded, state, memory, training):
        for i, decoder in enumerate(self.decoders):
            if not decoder.built:
                width = self.embedding_dim + self.units if i == 0 else self.units
                decoder.build((None, None, width))

        def step(carry, x_t):
            _, new_state, _ = self._step(x_t, carry[1], memory, training)
            return new_state["feed"], new_state

        time_major = tf.transpose(embedded, [1, 0, 2])
        outputs, _ = tf.scan(step, time_major, initializer=(state["feed"], state))
        return tf.transpose(outputs, [1, 0, 2])

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "source_vocab_size": self.source_vocab_size,
            "target_vocab_size": self.target_vocab_size,
            "cell": self.cell,
            "num_layers": self.num_layers,
            "units": self.units,
            "embedding_dim": self.embedding_dim,
            "attention": self.attention,
            "input_feeding": self.input_feeding,
            "dropout": self.dropout,
            "tie_embeddings": self.tie_embeddings,
        }


@keras.saving.register_keras_serializable(package="textlstm")
class MaskedCrossEntropy(keras.losses.Loss):
    """Label-smoothed cross-entropy per target subword, averaged over non-padding positions.

    Args:
        label_smoothing: Probability mass spread evenly over the vocabulary (default 0.0).
        pad_id: Target id that marks padding and carries no loss (default 0).
    """

    def __init__(self, label_smoothing=0.0, pad_id=PAD_ID, name="masked_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing, self.pad_id = label_smoothing, pad_id

    def call(self, y_true, y_pred):
        y_true = keras.ops.cast(y_true, "int32")
        log_probs = keras.ops.log_softmax(keras.ops.cast(y_pred, "float32"), axis=-1)
        nll = -keras.ops.take_along_axis(log_probs, y_true[..., None], axis=-1)[..., 0]
        if self.label_smoothing:
            uniform = -keras.ops.mean(log_probs, axis=-1)
            nll = (1.0 - self.label_smoothing) * nll + self.label_smoothing * uniform
        mask = keras.ops.cast(keras.ops.not_equal(y_true, self.pad_id), "float32")
        # Under a strategy: this replica's sum over the target tokens of all replicas, its share of
        # the batch's mean however the padding fell (`summed_over_replicas`). `keras.losses.Loss`
        # leaves a scalar as it is, and Keras sums the replicas' gradients.
        count, _ = summed_over_replicas(keras.ops.sum(mask))
        return keras.ops.sum(nll * mask) / keras.ops.maximum(count, 1.0)

    def get_config(self):
        return {
            "name": self.name,
            "reduction": self.reduction,
            "label_smoothing": self.label_smoothing,
            "pad_id": self.pad_id,
        }


def build_and_compile(recipe, source_vocab_size, target_vocab_size, total_steps=1):
    """A new compiled model; one function so a distribution strategy's scope can wrap it.

    `total_steps`: the optimizer steps the run plans, where a cosine schedule ends (`textlstm.optim`)."""
    model = build_model(recipe, source_vocab_size, target_vocab_size)
    model.compile(optimizer=optimizer(recipe["train"], total_steps), **compile_settings(recipe["train"]))
    return model


def build_model(recipe, source_vocab_size, target_vocab_size):
    """A new, built, uncompiled `Seq2Seq` of the recipe's `[model]` (Keras's seed set from `train.seed` first)."""
    model_recipe, train = recipe["model"], recipe["train"]
    keras.utils.set_random_seed(train["seed"])
    model = Seq2Seq(
        source_vocab_size,
        target_vocab_size,
        cell=model_recipe["cell"],
        num_layers=model_recipe["layers"],
        units=model_recipe["units"],
        embedding_dim=model_recipe["embedding_dim"],
        attention=model_recipe["attention"],
        input_feeding=model_recipe["input_feeding"],
        dropout=model_recipe["dropout"],
        tie_embeddings=model_recipe["tie_embeddings"],
        name="seq2seq",
    )
    model.build()
    return model


def compile_settings(train_recipe):
    """`model.compile`'s arguments besides the optimizer: the masked (label-smoothed) cross-entropy."""
    return {"loss": MaskedCrossEntropy(train_recipe["label_smoothing"])}
