"""The tagger network, its recipe defaults, its losses, and decoding scores into tag ids.

words → word embedding (with a vectors file, `WordEmbedding`: frozen pretrained vectors ⊕
trainable rows) ⊕ character features of each word (char CNN or char BiLSTM)
⊕ contextual char-LM features (optional, `charlm_features`) → stacked bidirectional LSTM/GRU
of ours → per-token tag scores (emissions) → CRF or softmax.

Inputs: `words` [B, L] and `chars` [B, L, C]; with frozen char LMs also `charlm_features`
[B, L, D] (computed ahead by `CharLMSet`); with fine-tuned ones, per LM k `charlm_k_chars`
[B, T] and `charlm_k_positions` [B, L], read by the `CharLMFeatures` layers inside the model.

The model's output is the emissions [B, L, T]. With the CRF decoder, the last layer is a
`CRFHead`, which passes the emissions through and owns the transition weights, so the weights
live in the model and save with it; the loss (`SequenceTagger.compute_loss`) and Viterbi
decoding (`decode_tags`) read them from that layer. Tag id 0 is padding: `TagScores` gives it
a score of -10000 so that neither decoder ever predicts it.
"""

import keras
from keras import ops

import textlstm.layers as tl
from textlstm import optim
from textlstm.distribute import summed_over_replicas
from textlstm.errors import UserError
from textlstm.schema import defaults
from textlstm.tagger.casing import CasingFeatures
from textlstm.tagger.crf import CRF
from textlstm.tagger.word_embedding import WordEmbedding

DEFAULTS = defaults("tagger")  # the built-in recipe: each key's default, range and help in textlstm/settings.py

RECURRENT_LAYERS = {"lstm": tl.LSTM, "gru": tl.GRU}
CHAR_FEATURES = ("cnn", "lstm", "none")
DECODERS = ("crf", "softmax")
PAD_TAG_SCORE = -1e4


@keras.saving.register_keras_serializable(package="textlstm")
class WordDropout(keras.layers.Layer):
    """Replaces word ids by the unknown id at random in training, so <unk> gets a useful vector.

    Args:
        rate: share of (non-padding) words replaced (default 0.0).
        unknown_id: the id that replaces them (default 1).
        seed: random seed (default None).
    """

    def __init__(self, rate=0.0, unknown_id=1, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.unknown_id = int(unknown_id)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, word_ids, training=False):
        if not training or not self.rate:
            return word_ids
        drop = keras.random.uniform(ops.shape(word_ids), seed=self.seed_generator) < self.rate
        drop = ops.logical_and(drop, ops.not_equal(word_ids, 0))
        return ops.where(drop, ops.cast(self.unknown_id, word_ids.dtype), word_ids)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "unknown_id": self.unknown_id, "seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package="textlstm")
class CharFeatures(keras.layers.Layer):
    """One vector per word from its characters: a char CNN with max pooling, or a char BiLSTM.

    Args:
        kind: "cnn" (convolution over character embeddings, max over the word) or "lstm"
            (the final states of a bidirectional LSTM of ours over the word's characters).
        vocab_size: size of the character vocabulary (padding 0 included).
        char_dim: character embedding size (default 30).
        units: output size: CNN filters, or both LSTM directions together, rounded down to
            an even number (default 50).
        kernel_size: CNN window in characters (default 3).

    Call arguments:
        char_ids: int tensor [B, L, C], 0 for padding.

    Example:
        >>> CharFeatures("cnn", 40, units=16)(keras.ops.ones((2, 5, 7), "int32")).shape
        (2, 5, 16)

    Reference: Ma and Hovy (2016) (char CNN); Lample et al. (2016) (char BiLSTM).
    """

    def __init__(self, kind, vocab_size, char_dim=30, units=50, kernel_size=3, **kwargs):
        super().__init__(**kwargs)
        if kind not in ("cnn", "lstm"):
            raise ValueError(f"kind must be 'cnn' or 'lstm', received kind={kind!r}")
        self.kind, self.vocab_size, self.char_dim = kind, int(vocab_size), int(char_dim)
        self.units, self.kernel_size = int(units), int(kernel_size)
        self.embedding = keras.layers.Embedding(self.vocab_size, self.char_dim, name="char_embedding")
        if kind == "cnn":
            self.encoder = keras.layers.Conv1D(
                self.units, self.kernel_size, padding="same", activation="tanh", name="char_cnn"
            )
        else:
            self.encoder = tl.Bidirectional(tl.LSTM(max(1, self.units // 2)), name="char_bilstm")
        self.output_size = self.units if kind == "cnn" else 2 * max(1, self.units // 2)

    def build(self, input_shape):
        self.embedding.build((None, None))
        self.encoder.build((None, None, self.char_dim))

    def call(self, char_ids):
        shape = ops.shape(char_ids)
        flat = ops.reshape(char_ids, (-1, shape[2]))
        mask = ops.not_equal(flat, 0)
        embedded = self.embedding(flat)
        if self.kind == "cnn":
            # Padding characters read as zeros, as the convolution's own edge padding does, so a
            # word's features do not depend on how wide the batch's longest word made the tensor.
            embedded = ops.where(mask[:, :, None], embedded, 0.0)
            scores = self.encoder(embedded)
            scores = ops.where(mask[:, :, None], scores, -2.0)  # tanh > -2: padding never wins
            pooled = ops.max(scores, axis=1)
            features = ops.where(ops.any(mask, axis=1)[:, None], pooled, 0.0)
        else:
            features = self.encoder(embedded, mask=mask)
        return ops.reshape(features, (shape[0], shape[1], self.output_size))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.output_size)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kind": self.kind,
                "vocab_size": self.vocab_size,
                "char_dim": self.char_dim,
                "units": self.units,
                "kernel_size": self.kernel_size,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="textlstm")
class TagScores(keras.layers.Dense):
    """Per-token tag scores: a Dense layer whose column 0 (the padding tag) is fixed at -10000."""

    def call(self, inputs):
        scores = super().call(inputs)
        blocked = ops.concatenate(
            [ops.full((1,), PAD_TAG_SCORE, scores.dtype), ops.zeros((self.units - 1,), scores.dtype)]
        )
        return scores + blocked


@keras.saving.register_keras_serializable(package="textlstm")
class CRFHead(CRF):
    """The CRF as the tagger's last layer: returns the emissions unchanged and holds the
    transition, start and end scores that the loss and Viterbi decoding use."""

    def call(self, emissions, mask=None):
        return ops.cast(emissions, self.compute_dtype)

    def compute_output_spec(self, emissions, mask=None):
        return keras.KerasTensor(emissions.shape, dtype=self.compute_dtype)


@keras.saving.register_keras_serializable(package="textlstm")
class SequenceTagger(keras.Model):
    """The functional tagger network with its own loss: CRF negative log-likelihood when the
    model has a `CRFHead` named "crf", else cross-entropy; padded steps (tag 0) never count."""

    def crf_layer(self):
        try:
            return self.get_layer("crf")
        except ValueError:
            return None

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The batch's mean loss: CRF negative log-likelihood per sentence (rows with no token,
        which pad a batch, do not count), or cross-entropy per token; in nats.

        Under a `tf.distribute` strategy each replica holds part of the batch and Keras sums
        the replicas' gradients, so each replica returns its share of the whole batch's mean:
        its sum divided by the sentence (token) count of all replicas together, however the
        padding rows fell. One device and N replicas then follow the same gradients, and the
        loss Keras reports (each share times N, averaged) is the batch's mean, as Keras's own
        losses do (`keras.losses.Loss` divides by the replica count)."""
        tags = ops.cast(y, "int32")
        mask = ops.not_equal(tags, 0)
        crf = self.crf_layer()
        if crf is not None:
            total = ops.sum(-crf.log_likelihood(y_pred, tags, mask))
            count = ops.sum(ops.cast(ops.any(mask, axis=1), total.dtype))
        else:
            per_token = keras.losses.sparse_categorical_crossentropy(tags, y_pred, from_logits=True)
            weights = ops.cast(mask, per_token.dtype)
            total, count = ops.sum(per_token * weights), ops.sum(weights)
        count, replicas = summed_over_replicas(count)
        loss = total / ops.maximum(count, 1.0)
        if self.losses:
            loss = loss + ops.sum(self.losses) / replicas
        return loss


def _check_choice(name, value, choices):
    if value not in choices:
        raise UserError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def build_model(
    num_words,
    num_chars,
    num_tags,
    model_recipe,
    seed,
    word_vectors=None,
    charlm=None,
    trainable_words=None,
    char_classes=None,
):
    """The tagger network. `word_vectors` ([num_words, dim] float32) makes the word embedding a
    `WordEmbedding`: that frozen table beside trainable rows of `model.word_dim` for the ids
    below `trainable_words` (default: all ids); `charlm` (a `CharLMSet`) adds the char LMs'
    features (an input when frozen, layers when not); with `model.casing`, `char_classes`
    (`casing.char_classes` of the character vocabulary) gives the casing features."""
    _check_choice("model.cell", model_recipe["cell"], tuple(RECURRENT_LAYERS))
    _check_choice("model.char_features", model_recipe["char_features"], CHAR_FEATURES)
    _check_choice("model.decoder", model_recipe["decoder"], DECODERS)
    if model_recipe["layers"] < 1:
        raise UserError(f"model.layers must be at least 1, got {model_recipe['layers']}")
    keras.utils.set_random_seed(seed)
    dropout = model_recipe["dropout"]
    words = keras.Input((None,), dtype="int32", name="words")
    chars = keras.Input((None, None), dtype="int32", name="chars")
    word_ids = WordDropout(model_recipe["word_dropout"], seed=seed, name="word_dropout")(words)
    if word_vectors is not None:
        embedding = WordEmbedding(
            num_words,
            word_vectors.shape[1],
            trainable_words or num_words,
            model_recipe["word_dim"],
            name="word_embedding",
        )
        embedding.set_vectors(word_vectors)
    else:
        embedding = keras.layers.Embedding(num_words, model_recipe["word_dim"], mask_zero=True, name="word_embedding")
    parts = [embedding(word_ids)]
    if model_recipe["char_features"] != "none":
        parts.append(
            CharFeatures(
                model_recipe["char_features"],
                num_chars,
                model_recipe["char_dim"],
                model_recipe["char_units"],
                model_recipe["char_kernel"],
                name="char_features",
            )(chars)
        )
    if model_recipe.get("casing"):
        if char_classes is None:
            raise ValueError("model.casing needs char_classes (casing.char_classes of the character vocabulary)")
        parts.append(CasingFeatures(char_classes, name="casing")(chars))
    inputs = [words, chars]
    if charlm is not None and len(charlm) and not charlm.trainable:
        inputs.append(keras.Input((None, charlm.size), dtype="float32", name="charlm_features"))
        parts.append(inputs[-1])
    elif charlm is not None and len(charlm):
        for k, layer in enumerate(charlm.layers()):
            lm_inputs = [
                keras.Input((None,), dtype="int32", name=f"charlm_{k}_chars"),
                keras.Input((None,), dtype="int32", name=f"charlm_{k}_positions"),
            ]
            inputs += lm_inputs
            parts.append(layer(lm_inputs))
    x = parts[0] if len(parts) == 1 else keras.layers.Concatenate(name="word_features")(parts)
    x = keras.layers.Dropout(dropout, name="dropout_in")(x)
    layer_class = RECURRENT_LAYERS[model_recipe["cell"]]
    for i in range(model_recipe["layers"]):
        x = tl.Bidirectional(layer_class(model_recipe["units"], return_sequences=True), name=f"birnn_{i}")(x)
        x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
    scores = TagScores(num_tags, name="tag_scores")(x)
    if model_recipe["decoder"] == "crf":
        scores = CRFHead(num_tags, name="crf")(scores)
    return SequenceTagger(inputs, scores, name="tagger")


def compile_settings():
    """`model.compile`'s arguments besides the optimizer (the model computes its own loss).

    Batch shapes vary between length buckets: a whole-step XLA compile per shape would cost
    more than it saves (the recurrent layers compile their own loops)."""
    return {"jit_compile": False}


def compile_model(model, train_recipe, steps_per_epoch=1):
    """The recipe's optimizer (`textlstm.optim.optimizer`: `train.lr_decay` after every
    `steps_per_epoch` steps) and `compile_settings`."""
    model.compile(optimizer=optim.optimizer(train_recipe, steps_per_epoch=steps_per_epoch), **compile_settings())


def build_and_compile(
    num_words,
    num_chars,
    num_tags,
    recipe,
    word_vectors=None,
    steps_per_epoch=1,
    charlm=None,
    trainable_words=None,
    char_classes=None,
):
    """Build and compile in one place, so a distribution-strategy scope can wrap both."""
    model = build_model(
        num_words,
        num_chars,
        num_tags,
        recipe["model"],
        recipe["train"]["seed"],
        word_vectors,
        charlm,
        trainable_words,
        char_classes,
    )
    compile_model(model, recipe["train"], steps_per_epoch)
    return model


def decode_tags(model, emissions, mask):
    """Best tag ids [B, L] (0 at padding) from emissions: Viterbi with a CRF, else argmax."""
    crf = model.crf_layer() if hasattr(model, "crf_layer") else None
    if crf is not None:
        tags, _ = crf.decode(emissions, mask)
    else:
        tags = ops.cast(ops.argmax(emissions, axis=-1), "int32")
    return ops.where(mask, tags, 0)
