"""Our GRU and GRUCell against keras.layers.GRU, and their Keras contract."""

import numpy as np
import pytest
import keras
import tensorflow as tf

from layer_helpers import assert_layer_round_trip, assert_same_as_reference
from textlstm.layers import GRU, GRUCell, kernel_plan

RNG = np.random.default_rng(11)
BATCH, STEPS, FEATURES, UNITS = 3, 6, 4, 5
X = RNG.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
RIGHT_PADDED = np.arange(STEPS)[None, :] < np.array([6, 2, 4])[:, None]
LEFT_PADDED = RIGHT_PADDED[:, ::-1].copy()


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("mask", [None, RIGHT_PADDED, LEFT_PADDED], ids=["nomask", "right", "left"])
def test_matches_keras(reset_after, return_sequences, go_backwards, mask):
    options = dict(
        return_sequences=return_sequences, return_state=True, go_backwards=go_backwards, reset_after=reset_after
    )
    ours = GRU(UNITS, **options)
    assert_same_as_reference(ours, keras.layers.GRU(UNITS, **options), X, mask=mask)
    assert ours.kernel_used == ("fused" if reset_after else "portable")


@pytest.mark.parametrize("use_bias", [True, False])
def test_initial_state_and_bias_options_match_keras(use_bias):
    state = [RNG.normal(size=(BATCH, UNITS)).astype("float32")]
    options = dict(return_sequences=True, return_state=True, use_bias=use_bias)
    assert_same_as_reference(GRU(UNITS, **options), keras.layers.GRU(UNITS, **options), X, RIGHT_PADDED, state)


def test_bidirectional_and_stacked_match_keras():
    def stack(layer_cls):
        return keras.Sequential(
            [
                keras.Input((STEPS, FEATURES)),
                keras.layers.Masking(0.0),
                keras.layers.Bidirectional(layer_cls(UNITS, return_sequences=True)),
                layer_cls(UNITS),
            ]
        )

    x = X.copy()
    x[2, 3:] = 0.0
    assert_same_as_reference(stack(GRU), stack(keras.layers.GRU), x)


@pytest.mark.parametrize("reset_after", [True, False])
def test_stepping_the_cell_equals_the_layer(reset_after):
    layer = GRU(UNITS, return_sequences=True, reset_after=reset_after)
    outputs = layer(X)
    h = tf.zeros((BATCH, UNITS))
    for t in range(STEPS):
        gates = layer.cell.gate_values(X[:, t], [h])
        # h' = z ⊙ h + (1 − z) ⊙ h̃ holds for the read-out gates.
        np.testing.assert_allclose(
            gates["h"], gates["update"] * h + (1 - gates["update"]) * gates["candidate"], atol=1e-6
        )
        h = gates["h"]
        np.testing.assert_allclose(h, outputs[:, t], atol=1e-6)


def test_cell_accepts_a_bare_state():
    cell = GRUCell(UNITS)
    h, state = cell(X[:, 0], tf.zeros((BATCH, UNITS)))
    assert h.shape == (BATCH, UNITS) and not isinstance(state, list)


def test_round_trip_and_training(tmp_path):
    assert_layer_round_trip(lambda: GRU(UNITS, dropout=0.1, reset_after=True), X, tmp_path)
    (tmp_path / "b").mkdir()
    assert_layer_round_trip(lambda: GRU(UNITS, reset_after=False), X, tmp_path / "b")


def test_kernel_plan_for_reset_before():
    kernel, reasons = kernel_plan(GRU(UNITS, reset_after=False))
    assert kernel == "portable"
    assert any("reset_after" in reason for reason in reasons)
