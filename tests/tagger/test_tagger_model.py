"""The tagger network and its data pipeline: save/load round trips, the padding tag, chunking,
length buckets and the deterministic batch stream that makes resume exact."""

import copy

import keras
import numpy as np
import pytest

from textlstm.tagger import data as data_lib
from textlstm.tagger.conll import Sentence
from textlstm.tagger.model import DEFAULTS, CharFeatures, build_and_compile, decode_tags
from textlstm.tagger.vocab import Vocabulary

TINY = {"word_dim": 8, "char_dim": 4, "char_units": 6, "units": 8}


def _recipe(**model):
    recipe = copy.deepcopy(DEFAULTS)
    recipe["model"].update(TINY, **model)
    return recipe


def _batch(seed=0, rows=4, length=6, num_words=20, num_chars=10, num_tags=5):
    rng = np.random.default_rng(seed)
    words = rng.integers(1, num_words, (rows, length)).astype("int32")
    words[0, 3:] = 0  # a shorter sentence
    chars = rng.integers(1, num_chars, (rows, length, 5)).astype("int32")
    chars[words == 0] = 0
    tags = rng.integers(1, num_tags, (rows, length)).astype("int32")
    tags[words == 0] = 0
    return (words, chars), tags


@pytest.mark.parametrize("char_features,decoder", [("cnn", "crf"), ("lstm", "crf"), ("none", "softmax")])
def test_model_trains_saves_and_loads_with_safe_mode(tmp_path, char_features, decoder):
    model = build_and_compile(
        20, 10, 5, _recipe(char_features=char_features, decoder=decoder, dropout=0.0, word_dropout=0.0)
    )
    x, y = _batch()
    first = model.train_on_batch(x, y)
    assert np.isfinite(first)
    path = tmp_path / "tagger.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True, compile=True)
    np.testing.assert_allclose(model.predict(x, verbose=0), loaded.predict(x, verbose=0), atol=1e-6)
    assert (loaded.crf_layer() is not None) == (decoder == "crf")
    if decoder == "crf":
        np.testing.assert_array_equal(
            model.get_layer("crf").transitions.numpy(), loaded.get_layer("crf").transitions.numpy()
        )
    # the optimizer state came back: its step count and every slot variable, exactly
    assert int(loaded.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy()) == 1
    assert len(loaded.optimizer.variables) == len(model.optimizer.variables)
    for mine, expected in zip(loaded.optimizer.variables, model.optimizer.variables, strict=True):
        assert mine.shape == expected.shape
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(expected))
    assert any(np.any(np.asarray(v) != 0) for v in model.optimizer.variables[1:])  # Adam's moments moved


def test_crf_loss_decreases_and_decoding_never_predicts_padding():
    model = build_and_compile(20, 10, 5, _recipe(dropout=0.0, word_dropout=0.0))
    x, y = _batch()
    losses = [float(model.train_on_batch(x, y)) for _ in range(30)]
    assert losses[-1] < losses[0]
    mask = x[0] != 0
    tags = np.asarray(decode_tags(model, model.predict(x, verbose=0), mask))
    assert (tags[mask] > 0).all() and (tags[~mask] == 0).all()


def test_empty_rows_do_not_change_the_crf_loss():
    model = build_and_compile(20, 10, 5, _recipe(dropout=0.0, word_dropout=0.0))
    (words, chars), tags = _batch()
    padded = (np.concatenate([words, np.zeros_like(words)]), np.concatenate([chars, np.zeros_like(chars)]))
    padded_tags = np.concatenate([tags, np.zeros_like(tags)])
    np.testing.assert_allclose(
        model.test_on_batch((words, chars), tags), model.test_on_batch(padded, padded_tags), rtol=1e-5
    )


@pytest.mark.parametrize("encoder", ["cnn", "lstm"])
def test_char_features_ignore_padding_characters(encoder):
    layer = CharFeatures(encoder, 10, char_dim=4, units=6)
    chars = np.array([[[3, 4, 0, 0], [0, 0, 0, 0], [5, 6, 7, 8]]], "int32")
    wider = np.concatenate([chars, np.zeros((1, 3, 4), "int32")], axis=2)
    out, out_wider = np.asarray(layer(chars)), np.asarray(layer(wider))
    np.testing.assert_allclose(out, out_wider, atol=1e-6)
    assert np.all(out[0, 1] == 0)  # a padding word has no features
    assert np.any(out[0, 0] != 0) and np.any(out[0, 0] != out[0, 2])  # real words have their own


def _sentences(lengths, tagged=True):
    return [Sentence(tokens=[f"w{i % 7}" for i in range(n)], tags=["T"] * n if tagged else None) for n in lengths]


def _vocabs():
    words = Vocabulary([f"w{i}" for i in range(7)])
    chars = Vocabulary(list("w0123456"))
    tags = Vocabulary(["T"], unknown=False)
    return words, chars, tags


def test_long_sentences_are_split_into_chunks():
    assert data_lib.chunk_bounds(7, 3) == [(0, 3), (3, 6), (6, 7)]
    assert data_lib.chunk_bounds(0, 3) == [(0, 0)]
    examples = data_lib.encode_sentences(_sentences([7, 0, 2]), *_vocabs(), max_len=3)
    assert [(e.sentence, e.start, len(e)) for e in examples] == [(0, 0, 3), (0, 3, 3), (0, 6, 1), (2, 0, 2)]


def test_pad_batch_rounds_shapes_up():
    examples = data_lib.encode_sentences(_sentences([3, 9]), *_vocabs(), max_len=50)
    (words, chars), tags = data_lib.pad_batch(examples, rows=4)
    assert words.shape == (4, 16) and chars.shape == (4, 16, 8) and tags.shape == (4, 16)
    assert (words[2:] == 0).all() and (words[0, 3:] == 0).all() and (words[1, :9] > 0).all()


def test_training_batches_resume_at_any_step():
    examples = data_lib.encode_sentences(_sentences(list(range(1, 24))), *_vocabs(), max_len=50)
    per_epoch = data_lib.batches_per_epoch(examples, 5)
    assert per_epoch == 5
    stream = list(data_lib.training_batches(examples, 5, seed=3).take(3 * per_epoch).as_numpy_iterator())
    resumed = list(data_lib.training_batches(examples, 5, seed=3, start_step=7).take(4).as_numpy_iterator())
    for (x, y), (x2, y2) in zip(stream[7:11], resumed):
        np.testing.assert_array_equal(x[0], x2[0])
        np.testing.assert_array_equal(y, y2)
    # every example once per epoch, and epochs differ in order
    first_epoch = sorted(int((x[0] > 0).sum(axis=1)[i]) for x, _ in stream[:per_epoch] for i in range(5))
    assert first_epoch == sorted([0, 0] + list(range(1, 24)))
    lengths = [(x[0] > 0).sum() for x, _ in stream]
    assert lengths[:per_epoch] != lengths[per_epoch : 2 * per_epoch]
