"""A word's casing as features: what a lowercased word lookup loses (Reimers and Gurevych 2017).

GloVe 6B and most vectors files are lowercase, so a tagger that looks words up lowercased
sees "apple", "Apple" and "APPLE" as one word; only its character features still see the
capitals. `CasingFeatures` gives the network the casing directly, as a handful of 0/1
features per word computed from the word's characters inside the model (so tagging, export
and serving need no new input):

    all_digits, mainly_digits (more than half), has_digit, all_lower, all_upper,
    initial_upper, mixed_case (lower-case letters and a capital after the first character:
    "iPhone", "McDonald"), no_letters

Characters are classed once from the character vocabulary (`char_classes`): the unknown
character and padding are neither letters nor digits. Only the first `data.max_word_chars`
characters of a word are seen, as by the char features.

Reference: Reimers and Gurevych (2017), "Reporting Score Distributions Makes a Difference:
Performance Study of LSTM-networks for Sequence Tagging" (the casing embedding).
"""

import keras
from keras import ops

OTHER, LOWER, UPPER, DIGIT = 0, 1, 2, 3
FEATURES = (
    "all_digits",
    "mainly_digits",
    "has_digit",
    "all_lower",
    "all_upper",
    "initial_upper",
    "mixed_case",
    "no_letters",
)


def char_classes(char_vocab):
    """Each character id's class (OTHER 0, LOWER 1, UPPER 2, DIGIT 3), as a list of ints.

    Args:
        char_vocab: a `Vocabulary` of characters (id 0 padding, id 1 unknown).

    Returns:
        list[int] of `len(char_vocab)` entries; the reserved ids are OTHER.
    """
    reserved = 2 if char_vocab.unknown else 1
    classes = []
    for index, char in enumerate(char_vocab.items):
        if index < reserved or len(char) != 1:
            classes.append(OTHER)
        elif char.isdigit():
            classes.append(DIGIT)
        elif char.isupper():
            classes.append(UPPER)
        elif char.islower():
            classes.append(LOWER)
        else:
            classes.append(OTHER)
    return classes


@keras.saving.register_keras_serializable(package="textlstm")
class CasingFeatures(keras.layers.Layer):
    """Eight 0/1 casing features per word from its character ids (see the module docstring).

    Args:
        classes: list of ints, the class of each character id (`char_classes`).

    Call arguments:
        char_ids: int tensor [B, L, C], 0 for padding.

    Returns:
        float tensor [B, L, 8]; all zeros for a padding word.

    Example:
        >>> CasingFeatures([0, 0, 1, 2, 3])(keras.ops.convert_to_tensor([[[3, 2, 0]]])).shape
        (1, 1, 8)
    """

    def __init__(self, classes, **kwargs):
        super().__init__(**kwargs)
        self.classes = [int(c) for c in classes]
        if not self.classes or any(c not in (OTHER, LOWER, UPPER, DIGIT) for c in self.classes):
            raise ValueError(f"classes must be a non-empty list of 0-3, received {classes!r}")

    def call(self, char_ids):
        table = ops.convert_to_tensor(self.classes, dtype="int32")
        ids = ops.clip(ops.cast(char_ids, "int32"), 0, len(self.classes) - 1)
        kinds = ops.take(table, ids)
        real = ops.not_equal(ids, 0)

        def count(kind):
            return ops.sum(ops.cast(ops.logical_and(ops.equal(kinds, kind), real), "float32"), axis=-1)

        total = ops.sum(ops.cast(real, "float32"), axis=-1)
        lower, upper, digits = count(LOWER), count(UPPER), count(DIGIT)
        letters = lower + upper
        word = total > 0
        first_upper = ops.equal(kinds[..., 0], UPPER)
        features = [
            ops.logical_and(word, ops.equal(digits, total)),
            2.0 * digits > total,
            digits > 0,
            ops.logical_and(letters > 0, ops.equal(upper, 0.0)),
            ops.logical_and(letters > 0, ops.equal(lower, 0.0)),
            first_upper,
            ops.logical_and(lower > 0, upper - ops.cast(first_upper, "float32") > 0),
            ops.logical_and(word, ops.equal(letters, 0.0)),
        ]
        return ops.stack([ops.cast(f, self.compute_dtype) for f in features], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], len(FEATURES))

    def get_config(self):
        config = super().get_config()
        config.update({"classes": self.classes})
        return config
