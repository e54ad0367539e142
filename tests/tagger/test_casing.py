"""The tagger's casing features (`model.casing`): each feature on words made for it, and in a
tiny trained tagger, where the casing alone tells apart words the lowercased lookup merges."""

import keras
import numpy as np
import pytest

from textlstm.tagger.casing import FEATURES, CasingFeatures, char_classes
from textlstm.tagger.model import DEFAULTS, build_model
from textlstm.tagger.vocab import Vocabulary

CHARS = Vocabulary(list("abcABCé1-"))


def _features(words, width=6):
    ids = np.array([[CHARS.encode(list(w)) + [0] * (width - len(w)) for w in words]], "int32")
    out = np.asarray(CasingFeatures(char_classes(CHARS))(ids))[0]
    return {w: {name for name, on in zip(FEATURES, row) if on} for w, row in zip(words, out)}, out


def test_classes_of_the_character_vocabulary():
    assert char_classes(CHARS) == [0, 0, 1, 1, 1, 2, 2, 2, 1, 3, 0]  # <pad> <unk> a b c A B C é 1 -


@pytest.mark.parametrize(
    "word, expected",
    [
        ("abc", {"all_lower"}),
        ("Abc", {"initial_upper"}),
        ("ABC", {"all_upper", "initial_upper"}),
        ("aBc", {"mixed_case"}),
        ("AbC", {"initial_upper", "mixed_case"}),
        ("111", {"all_digits", "mainly_digits", "has_digit", "no_letters"}),
        ("11a", {"mainly_digits", "has_digit", "all_lower"}),
        ("a1", {"has_digit", "all_lower"}),
        ("-", {"no_letters"}),
        ("é", {"all_lower"}),
        ("aZ", {"all_lower"}),  # Z is not in the vocabulary: the unknown character is neither
    ],
)
def test_each_feature(word, expected):
    found, _ = _features([word])
    assert found[word] == expected


def test_a_padding_word_has_no_features_and_the_layer_round_trips():
    _, out = _features(["Abc", ""])
    assert out.shape == (2, len(FEATURES)) and not out[1].any()
    layer = CasingFeatures(char_classes(CHARS))
    assert CasingFeatures.from_config(layer.get_config()).classes == layer.classes
    with pytest.raises(ValueError, match="classes"):
        CasingFeatures([0, 7])


def test_the_tagger_reads_the_casing_its_lowercased_words_lose(tmp_path):
    recipe = {
        **DEFAULTS["model"],
        "casing": True,
        "units": 4,
        "word_dim": 4,
        "char_features": "none",
        "dropout": 0.0,
        "word_dropout": 0.0,
    }
    model = build_model(5, len(CHARS), 3, recipe, seed=1, char_classes=char_classes(CHARS))
    words = np.array([[2], [2]], "int32")  # two one-word sentences, one lowercased word id ...
    chars = np.array([[CHARS.encode(list("abc"))], [CHARS.encode(list("ABC"))]], "int32")  # ... written two ways
    scores = np.asarray(model([words, chars], training=False))
    assert np.abs(scores[0, 0] - scores[1, 0]).max() > 1e-5
    path = tmp_path / "tagger.keras"
    model.save(path)
    again = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(np.asarray(again([words, chars], training=False)), scores, rtol=1e-6)
    without = build_model(5, len(CHARS), 3, {**recipe, "casing": False}, seed=1)
    plain = np.asarray(without([words, chars], training=False))
    np.testing.assert_array_equal(plain[0], plain[1])  # without it (and no char features) they are one word
