"""Contextual character-LM features for the tagger: a forward and a backward char LM read the
sentence as text, and each word gets their hidden states at its boundaries.

The text a language model reads for a chunk of tokens (a sentence, or a `data.max_len` piece
of a longer one) is the tokens joined by single spaces, with one space before and one after:

    " " + " ".join(tokens) + " "

The outer spaces give the first word (forward) and the last word (backward) one character of
context, as a word inside running text has (Flair adds a newline before and a space after;
a space is in every LM's vocabulary, a newline is not in the middle of a sentence). For word i:

- a forward LM contributes its top layer's hidden state after reading the word's last character;
- a backward LM (trained on text reversed at the character level, `data.direction =
  "backward"` in its recipe; a recipe without the key is forward) reads the same text right to
  left and contributes its hidden state after reading the word's first character.

Each LM starts from a zero state at the first character of the text. Characters an LM never
saw map to its unknown id. The LM's `model.dropout` is not applied (the tagger's own dropout
acts on the concatenated word features); its output layer is not used.

`CharLMFeatures` is the one Keras layer that computes the features, at training, tagging and
evaluation time alike: inside the tagger when the LMs are fine-tuned (`model.charlm_trainable
= true`), or ahead of it when they are frozen (the default; then training computes the
features once per chunk, before the first epoch, and reuses them in every epoch).

Reference: Akbik, Blythe and Vollgraf (2018), "Contextual String Embeddings for Sequence
Labeling", COLING (flair's `FlairEmbeddings`).
"""

import pathlib

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from textlstm.charlm.corpus import VOCAB_FILE, CharVocabulary, is_subword, reading_order
from textlstm.charlm.model import RECURRENT_LAYERS
from textlstm.errors import UserError
from textlstm.models import load_best_or_last
from textlstm.rundir import RunDir, atomic_save_model, atomic_write_text
from textlstm.tagger.data import pad_lm_inputs

LM_KIND, LM_MODEL_FILE = "charlm", "best.keras"
COPIES = "charlm"  # the tagger run's folder of LM copies: charlm/0, charlm/1, ... (recipe order)
DIRECTIONS = ("forward", "backward")


def sentence_text(tokens):
    """`(text, starts, ends)`: the text the LMs read and each token's first and last character index."""
    starts, ends, position = [], [], 1
    for token in tokens:
        starts.append(position)
        ends.append(position + len(token) - 1)
        position += len(token) + 1
    return " " + " ".join(tokens) + " ", starts, ends


def lm_text_and_positions(tokens, direction):
    """`(text in reading order, positions)`: where each token's feature is read, per direction."""
    text, starts, ends = sentence_text(tokens)
    if direction == "forward":
        return text, ends
    last = len(text) - 1  # a backward LM reads the text from its end: its index i is the text's last - i
    return reading_order(text, backward=True), [last - start for start in starts]


@keras.saving.register_keras_serializable(package="textlstm")
class CharLMFeatures(keras.layers.Layer):
    """The hidden states of a char LM's top layer at given character positions.

    The layer holds the LM's character embedding and recurrent layers (weights laid out as in
    the LM run's model, so they copy over with `load_lm_weights`); the LM's output layer is
    not part of it.

    Args:
        vocab_size: the LM's vocabulary size (its unknown entry included).
        embedding_dim: the LM's character embedding size.
        cell: "lstm" or "gru" (default "lstm").
        units: units of each recurrent layer (default 256).
        num_layers: stacked recurrent layers (default 1).
        direction: "forward" or "backward": which way the LM reads; the caller passes text in
            that reading order (recorded for the run, not used by the computation).

    Call arguments:
        inputs: `[char_ids, positions]`: int32 `[B, T]` LM character ids of each text in
            reading order (right-padded with any id: padding comes after every position read),
            and int32 `[B, L]` the character index whose hidden state each word gets.

    Returns:
        float `[B, L, units]`.

    Example:
        >>> layer = CharLMFeatures(30, 8, units=16)
        >>> layer([keras.ops.ones((2, 24), "int32"), keras.ops.zeros((2, 5), "int32")]).shape
        (2, 5, 16)

    Reference: Akbik et al. (2018), "Contextual String Embeddings for Sequence Labeling".
    """

    def __init__(self, vocab_size, embedding_dim, cell="lstm", units=256, num_layers=1, direction="forward", **kwargs):
        super().__init__(**kwargs)
        if cell not in RECURRENT_LAYERS:
            raise ValueError(f"cell must be one of {sorted(RECURRENT_LAYERS)}, received cell={cell!r}")
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, received direction={direction!r}")
        self.vocab_size, self.embedding_dim = int(vocab_size), int(embedding_dim)
        self.cell, self.units, self.num_layers, self.direction = cell, int(units), int(num_layers), direction
        self.embedding = keras.layers.Embedding(self.vocab_size, self.embedding_dim, name="embedding")
        self.rnns = [
            RECURRENT_LAYERS[cell](self.units, return_sequences=True, name=f"rnn_{i}") for i in range(self.num_layers)
        ]

    def build(self, input_shape):
        self.embedding.build((None, None))
        size = self.embedding_dim
        for rnn in self.rnns:
            rnn.build((None, None, size))
            size = self.units

    def call(self, inputs):
        char_ids, positions = inputs
        x = self.embedding(char_ids)
        for rnn in self.rnns:
            x = rnn(x)
        return ops.take_along_axis(x, ops.expand_dims(ops.cast(positions, "int32"), -1), axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[1][0], input_shape[1][1], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocab_size": self.vocab_size,
                "embedding_dim": self.embedding_dim,
                "cell": self.cell,
                "units": self.units,
                "num_layers": self.num_layers,
                "direction": self.direction,
            }
        )
        return config


class LanguageModel:
    """A char LM run directory read for features: vocabulary, direction, architecture, weights."""

    def __init__(self, path, vocab, recipe, model):
        self.path, self.vocab, self.recipe, self.model = pathlib.Path(path), vocab, recipe, model
        self.direction = _check_usable(path, recipe)
        architecture = recipe.get("model", {})
        self.cell, self.units = architecture.get("cell", "lstm"), architecture.get("units")
        self.num_layers, self.embedding_dim = architecture.get("layers"), architecture.get("embedding_dim")

    @classmethod
    def open(cls, path):
        """The char LM in run directory `path` (its best checkpoint, else the last); one line if it is none."""
        run = RunDir.open(path, LM_KIND)
        recipe = run.read_recipe()
        _check_usable(path, recipe)  # before its files: a subword run has no character vocabulary
        vocab = CharVocabulary.load(run.file(VOCAB_FILE))
        return cls(path, vocab, recipe, load_best_or_last(run))

    def layer(self, name):
        """A `CharLMFeatures` layer holding this LM's weights."""
        layer = CharLMFeatures(
            len(self.vocab), self.embedding_dim, self.cell, self.units, self.num_layers, self.direction, name=name
        )
        layer.build(None)
        load_lm_weights(layer, self.model, self.path)
        return layer

    def encode(self, tokens):
        """`(char ids [T], positions [len(tokens)])` of a chunk of tokens for this LM."""
        text, positions = lm_text_and_positions(tokens, self.direction)
        return self.vocab.encode(text), np.asarray(positions, np.int32)

    def save_copy(self, path):
        """Write this LM into `path` as a char LM run directory of its own (recipe, vocabulary, weights)."""
        run = RunDir.create(path, LM_KIND)
        from textlstm.recipes import recipe_to_toml

        atomic_write_text(run.file("recipe.toml"), recipe_to_toml(self.recipe))
        self.vocab.save(run.file(VOCAB_FILE))
        atomic_save_model(self.model, run.file(LM_MODEL_FILE))


def _check_usable(path, recipe):
    """The LM's direction, once its recipe shows it reads characters in a known direction; else one line."""
    direction = recipe.get("data", {}).get("direction", "forward")
    if is_subword(recipe):
        raise UserError(
            f'{path} is a char LM of subword units; word features need one state per character (data.unit = "char")'
        )
    if direction not in DIRECTIONS:
        raise UserError(f"{path}: data.direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    return direction


def load_lm_weights(layer, lm_model, source="the char LM"):
    """Copy the embedding and recurrent weights of a char LM model (layers `embedding`, `rnn_i`)."""
    try:
        layer.embedding.set_weights(lm_model.get_layer("embedding").get_weights())
        for i, rnn in enumerate(layer.rnns):
            rnn.set_weights(lm_model.get_layer(f"rnn_{i}").get_weights())
    except ValueError as error:
        reason = (str(error).strip().splitlines() or [""])[0][:160]
        raise UserError(f"{source}: its model does not match its recipe's model section ({reason})") from None


class CharLMSet:
    """The tagger's char LMs, in recipe order: their inputs per chunk and their features.

    Args:
        lms: `LanguageModel`s (usually the tagger run's copies).
        trainable: whether the tagger fine-tunes them (then its model holds the layers).
    """

    def __init__(self, lms, trainable=False):
        self.lms, self.trainable = list(lms), bool(trainable)
        self._layers, self._extract = None, None

    @classmethod
    def open_sources(cls, paths, trainable=False):
        return cls([LanguageModel.open(path) for path in paths], trainable)

    @classmethod
    def open_copies(cls, run, count, trainable=False):
        """The copies in a tagger run directory (`charlm/0` ...); a missing one is one line."""
        return cls([LanguageModel.open(run.file(COPIES) / str(k)) for k in range(count)], trainable)

    def save_copies(self, run):
        for k, lm in enumerate(self.lms):
            lm.save_copy(run.file(COPIES) / str(k))

    def __len__(self):
        return len(self.lms)

    @property
    def size(self):
        """Feature values per word: the LMs' units together."""
        return sum(lm.units for lm in self.lms)

    def describe(self):
        return ", ".join(
            f"{lm.direction} {lm.num_layers}x{lm.units} {lm.cell} ({len(lm.vocab)} chars)" for lm in self.lms
        )

    def layers(self):
        """One `CharLMFeatures` per LM, named charlm_0, charlm_1, ..., with the LMs' weights."""
        if self._layers is None:
            with tf.init_scope():  # eagerly, also when first asked for inside a compiled function
                self._layers = [lm.layer(f"charlm_{k}") for k, lm in enumerate(self.lms)]
        return self._layers

    def encode(self, examples, sentences):
        """Give each example (a chunk of a sentence) its LM inputs: `example.lm_inputs`."""
        for example in examples:
            tokens = sentences[example.sentence].tokens[example.start : example.start + len(example)]
            example.lm_inputs = [lm.encode(tokens) for lm in self.lms]

    def extract(self, lm_tensors):
        """Features [B, L, size] from the padded LM inputs `(ids_0, positions_0, ids_1, ...)`."""
        if self._extract is None:
            layers = self.layers()

            @tf.function(reduce_retracing=True)
            def extract(*tensors):
                parts = [layer([tensors[2 * k], tensors[2 * k + 1]]) for k, layer in enumerate(layers)]
                return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)

            self._extract = extract
        return self._extract(*lm_tensors)

    def model_inputs(self, inputs):
        """The tagger model's inputs from a batch `(words, chars, *LM inputs)`: frozen LMs turn
        their ids and positions into features here (one compiled call); fine-tuned ones are read
        by the model's own layers; computed features (`lm_features`) pass through."""
        words, chars, *extra = inputs
        if self.trainable or len(extra) != 2 * len(self.lms):
            return list(inputs)
        return [words, chars, self.extract(extra)]

    def attach_features(self, examples, batch_size=64):
        """Frozen LMs: compute every example's features once (`example.lm_features`, [len, size]).

        Examples are batched by text length (little padding), in an order that depends only
        on the examples, so a resumed training computes the same values bit for bit.
        """
        order = np.argsort([len(example.lm_inputs[0][0]) for example in examples], kind="stable")
        for begin in range(0, len(order), batch_size):
            batch = [examples[i] for i in order[begin : begin + batch_size]]
            tensors = pad_lm_inputs(batch, len(batch), max(len(example) for example in batch))
            features = np.asarray(self.extract([tf.constant(t) for t in tensors]))
            for row, example in enumerate(batch):
                example.lm_features = features[row, : len(example)]
