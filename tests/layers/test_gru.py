"""Our GRU and GRUCell against keras.layers.GRU, and their Keras contract.

Kernel-aware: on a GPU the default kernel is cuDNN (and must equal the fused loop), on a
CPU the fused loop. The reference is Keras's generic loop (`use_cudnn=False`), which
defines the masking contract. The full kernel-by-kernel matrix is in test_layer_parity.py.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from support.layers import (
    assert_default_kernel_equals_fused,
    assert_layer_round_trip,
    assert_recurrent_dropout_acts,
    assert_same_as_reference,
    expected_kernel,
    masked_stack,
)
from textlstm.layers import GRU, GRUCell, kernel_plan
from textlstm.layers.dispatch import gpu_available

DEFAULT_KERNEL = "cudnn" if gpu_available() else "fused"

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
    assert_same_as_reference(ours, keras.layers.GRU(UNITS, use_cudnn=False, **options), X, mask=mask)
    assert ours.kernel_used == (expected_kernel(DEFAULT_KERNEL, mask) if reset_after else "portable")


@pytest.mark.parametrize("use_bias", [True, False])
def test_initial_state_and_bias_options_match_keras(use_bias):
    state = [RNG.normal(size=(BATCH, UNITS)).astype("float32")]
    options = dict(return_sequences=True, return_state=True, use_bias=use_bias)
    ours = GRU(UNITS, **options)
    assert_same_as_reference(ours, keras.layers.GRU(UNITS, use_cudnn=False, **options), X, RIGHT_PADDED, state)
    assert ours.kernel_used == (DEFAULT_KERNEL if use_bias else "fused")  # cuDNN needs the bias


def test_bidirectional_and_stacked_match_keras():
    def stack(make_layer):
        return masked_stack(make_layer, STEPS, FEATURES, UNITS)

    x = X.copy()
    x[2, 3:] = 0.0
    reference = stack(lambda *args, **kwargs: keras.layers.GRU(*args, use_cudnn=False, **kwargs))
    assert_same_as_reference(stack(GRU), reference, x)


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


def test_kernel_plan_here():
    kernel, reasons = kernel_plan(GRU(UNITS))
    assert (kernel, reasons) == (("cudnn", []) if gpu_available() else ("fused", ["no GPU visible to TensorFlow"]))


def test_default_kernel_here_equals_the_fused_loop():
    """On a GPU: cuDNN by default, equal to the fused loop; on a CPU: the fused loop by default."""
    assert_default_kernel_equals_fused(lambda **kw: GRU(UNITS, **kw), X, RIGHT_PADDED, DEFAULT_KERNEL)


def test_recurrent_dropout_trains_on_the_portable_kernel():
    assert_recurrent_dropout_acts(lambda **kw: GRU(UNITS, **kw), X)
