"""The tagger's word embedding when a vectors file is given: frozen vectors ⊕ trainable rows.

Every word of the (extended) vocabulary has a row in a frozen table of pretrained vectors,
which training never changes and the optimizer never sees (no gradients, no Adam slots: a
2M x 300 table costs its 2.4 GB once, not four times). The training words (ids below
`trainable_rows`) also have a trainable embedding; words added from the vectors file share
the `<unk>` row of it, which word dropout teaches. The table is a weight of the model, so a
saved `.keras` file holds it and tagging never needs the vectors file again.
"""

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="textlstm")
class WordEmbedding(keras.layers.Layer):
    """Word ids to [frozen pretrained vector ⊕ trainable embedding]; id 0 (padding) is masked.

    Args:
        vocab_size: rows of the frozen table: the extended vocabulary's size, padding included.
        vectors_dim: size of the pretrained vectors (the frozen part).
        trainable_rows: rows of the trainable part: the training words, reserved ids included;
            larger ids read row `unknown_id` of it.
        word_dim: size of the trainable part.
        unknown_id: the trainable row of words beyond `trainable_rows` (default 1, `<unk>`).

    The frozen table starts at zeros; `set_vectors` fills it (the model saves it as a weight,
    so `get_config` never holds it).

    Call arguments:
        word_ids: int tensor [B, L], 0 for padding.

    Returns:
        float tensor [B, L, vectors_dim + word_dim], frozen part first, with the mask
        `word_ids != 0`.

    Example:
        >>> layer = WordEmbedding(10, 3, trainable_rows=4, word_dim=2)
        >>> layer(keras.ops.ones((2, 5), "int32")).shape
        (2, 5, 5)

    Reference: Pennington et al. (2014) (GloVe vectors); keeping pretrained vectors fixed
    follows flair's `WordEmbeddings` (`fine_tune=False`).
    """

    def __init__(self, vocab_size, vectors_dim, trainable_rows, word_dim, unknown_id=1, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.vectors_dim = int(vocab_size), int(vectors_dim)
        self.trainable_rows, self.word_dim, self.unknown_id = int(trainable_rows), int(word_dim), int(unknown_id)
        if not 0 <= self.unknown_id < self.trainable_rows <= self.vocab_size:
            raise ValueError(
                f"need 0 <= unknown_id < trainable_rows <= vocab_size, received unknown_id="
                f"{unknown_id}, trainable_rows={trainable_rows}, vocab_size={vocab_size}"
            )
        self.embedding = keras.layers.Embedding(self.trainable_rows, self.word_dim, name="trainable_embedding")

    def build(self, input_shape=None):
        self.vectors = self.add_weight(
            shape=(self.vocab_size, self.vectors_dim), initializer="zeros", trainable=False, name="vectors"
        )
        self.embedding.build((None, None))

    def set_vectors(self, matrix):
        """Fill the frozen table from a [vocab_size, vectors_dim] array (float32)."""
        matrix = np.asarray(matrix, dtype="float32")
        if matrix.shape != (self.vocab_size, self.vectors_dim):
            raise ValueError(f"vectors must have shape {(self.vocab_size, self.vectors_dim)}, received {matrix.shape}")
        if not self.built:
            self.build()
        self.vectors.assign(matrix)

    def call(self, word_ids):
        word_ids = ops.cast(word_ids, "int32")
        frozen = ops.take(self.vectors, word_ids, axis=0)
        trained_ids = ops.where(word_ids < self.trainable_rows, word_ids, self.unknown_id)
        trained = self.embedding(trained_ids)
        return ops.concatenate([ops.cast(frozen, trained.dtype), trained], axis=-1)

    def compute_mask(self, inputs, mask=None):
        return ops.not_equal(inputs, 0)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.vectors_dim + self.word_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocab_size": self.vocab_size,
                "vectors_dim": self.vectors_dim,
                "trainable_rows": self.trainable_rows,
                "word_dim": self.word_dim,
                "unknown_id": self.unknown_id,
            }
        )
        return config
