"""The seq2seq network on its own: .keras round trip, and `encode` + `decode_step` stepping
through a target reproduces the teacher-forced logits of `call` for every variant."""

import keras
import numpy as np
import pytest

import textlstm  # noqa: F401  (TensorFlow backend)
from textlstm.errors import UserError
from textlstm.seq2seq.attention import SCORES
from textlstm.seq2seq.model import MaskedCrossEntropy, Seq2Seq

SOURCE = np.array([[4, 5, 6, 7, 0], [8, 9, 0, 0, 0]], np.int32)
TARGET_IN = np.array([[2, 5, 6, 9], [2, 7, 0, 0]], np.int32)
TARGET_OUT = np.array([[5, 6, 9, 3], [7, 3, 0, 0]], np.int32)

VARIANTS = {
    "lstm-general": {},
    "gru-dot-tied": {"cell": "gru", "attention": "dot", "tie_embeddings": True},
    "bahdanau-input-feeding-2-layers": {"attention": "bahdanau", "input_feeding": True, "num_layers": 2},
    "tied-narrow-embedding": {"tie_embeddings": True, "embedding_dim": 6},
}


def _model(**options):
    keras.utils.set_random_seed(0)
    options = {"units": 12, "embedding_dim": 8, "dropout": 0.1, **options}
    model = Seq2Seq(12, 14, **options)
    model.build()
    model.compile(optimizer="adam", loss=MaskedCrossEntropy(0.1), run_eagerly=True)  # no tracing: fast
    return model


def _stepped_logits(model):
    state, memory = model.encode(SOURCE)
    logits = []
    for t in range(TARGET_IN.shape[1]):
        step_logits, state = model.decode_step(TARGET_IN[:, t], state, memory)
        logits.append(np.asarray(step_logits))
    return np.stack(logits, axis=1)


@pytest.mark.parametrize("options", VARIANTS.values(), ids=VARIANTS.keys())
def test_round_trip_and_step_contract(options, tmp_path):
    model = _model(**options)
    model.fit({"source": SOURCE, "target_in": TARGET_IN}, TARGET_OUT, epochs=1, verbose=0)
    inputs = {"source": SOURCE, "target_in": TARGET_IN}
    expected = np.asarray(model(inputs))
    np.testing.assert_allclose(_stepped_logits(model), expected, atol=1e-5)

    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True, compile=True)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_allclose(np.asarray(loaded(inputs)), expected, atol=1e-6)
    assert int(loaded.optimizer.iterations.numpy()) == 1  # the optimizer state came back too
    for mine, expected in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(expected))


@pytest.mark.parametrize("attention", SCORES)
def test_attention_weights_cover_only_real_source_positions(attention):
    model = _model(attention=attention)
    state, memory = model.encode(SOURCE)
    token = TARGET_IN[:, 0]
    for _ in range(3):  # a few steps: each attends again with a new query
        logits, state, weights = model.decode_step_with_attention(token, state, memory)
        weights = np.asarray(weights)
        np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-6)
        assert np.all(weights[0, 4:] < 1e-6) and np.all(weights[1, 2:] < 1e-6)
        assert np.all(weights[0, :4] > 1e-6) and np.all(weights[1, :2] > 1e-6)
        token = np.argmax(np.asarray(logits), axis=-1).astype("int32")


def test_loss_ignores_padding_and_smooths_labels():
    logits = np.log(np.array([[[0.7, 0.1, 0.1, 0.1], [0.25, 0.25, 0.25, 0.25]]], np.float32))
    plain = float(MaskedCrossEntropy(0.0)(np.array([[0, 0]]) + np.array([[1, 0]]), logits))
    assert plain == pytest.approx(-np.log(0.1), rel=1e-5)  # the padded second position adds nothing
    # Several real tokens in rows of different lengths: the mean over real tokens (not their
    # sum, not a mean over every position, not a mean of per-row means).
    probs = np.random.default_rng(0).dirichlet(np.ones(5), size=(2, 4)).astype(np.float32)
    targets = np.array([[1, 2, 3, 0], [4, 0, 0, 0]])
    real = [(0, 0), (0, 1), (0, 2), (1, 0)]
    expected = np.mean([-np.log(probs[r, t, targets[r, t]]) for r, t in real])
    assert float(MaskedCrossEntropy(0.0)(targets, np.log(probs))) == pytest.approx(expected, rel=1e-5)
    smoothed = float(MaskedCrossEntropy(0.2)(np.array([[1, 0]]), logits))
    assert smoothed == pytest.approx(0.8 * -np.log(0.1) + 0.2 * -np.mean(np.log([0.7, 0.1, 0.1, 0.1])), rel=1e-5)


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({"cell": "rnn"}, "model.cell must be one of"),
        ({"attention": "cosine"}, "model.attention must be one of"),
        ({"units": 7}, "model.units must be an even number"),
    ],
)
def test_bad_model_options(options, fragment):
    with pytest.raises(UserError, match=fragment):
        Seq2Seq(10, 10, **options)
