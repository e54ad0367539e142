"""Our LSTM and LSTMCell against keras.layers.LSTM, and their Keras contract.

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
)
from textlstm.layers import LSTM, LSTMCell, kernel_plan
from textlstm.layers.dispatch import gpu_available

DEFAULT_KERNEL = "cudnn" if gpu_available() else "fused"

RNG = np.random.default_rng(7)
BATCH, STEPS, FEATURES, UNITS = 3, 6, 4, 5
X = RNG.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
RIGHT_PADDED = np.arange(STEPS)[None, :] < np.array([6, 3, 1])[:, None]
LEFT_PADDED = RIGHT_PADDED[:, ::-1].copy()


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("mask", [None, RIGHT_PADDED, LEFT_PADDED], ids=["nomask", "right", "left"])
def test_matches_keras(return_sequences, go_backwards, mask):
    options = dict(return_sequences=return_sequences, return_state=True, go_backwards=go_backwards)
    ours = LSTM(UNITS, **options)
    assert_same_as_reference(ours, keras.layers.LSTM(UNITS, use_cudnn=False, **options), X, mask=mask)
    assert ours.kernel_used == expected_kernel(DEFAULT_KERNEL, mask)


def test_initial_state_matches_keras():
    state = [RNG.normal(size=(BATCH, UNITS)).astype("float32") for _ in range(2)]
    options = dict(return_sequences=True, return_state=True)
    reference = keras.layers.LSTM(UNITS, use_cudnn=False, **options)
    assert_same_as_reference(LSTM(UNITS, **options), reference, X, RIGHT_PADDED, state)


def test_portable_kernel_matches_keras():
    options = dict(return_sequences=True, activation="relu")
    ours = LSTM(UNITS, **options)
    assert_same_as_reference(ours, keras.layers.LSTM(UNITS, use_cudnn=False, **options), X, RIGHT_PADDED)
    assert ours.kernel_used == "portable"


def test_bidirectional_and_stacked_match_keras():
    def stack(make_layer):
        return keras.Sequential(
            [
                keras.Input((STEPS, FEATURES)),
                keras.layers.Masking(0.0),
                keras.layers.Bidirectional(make_layer(UNITS, return_sequences=True)),
                make_layer(UNITS, return_sequences=True),
            ]
        )

    x = X.copy()
    x[1, 4:] = 0.0  # right padding seen by Masking
    ours = stack(LSTM)
    reference = stack(lambda *args, **kwargs: keras.layers.LSTM(*args, use_cudnn=False, **kwargs))
    assert_same_as_reference(ours, reference, x)


def test_stepping_the_cell_equals_the_layer():
    layer = LSTM(UNITS, return_sequences=True, return_state=True)
    outputs, h_last, c_last = layer(X)
    cell = layer.cell
    h, c = tf.zeros((BATCH, UNITS)), tf.zeros((BATCH, UNITS))
    for t in range(STEPS):
        gates = cell.gate_values(X[:, t], [h, c])
        h, c = gates["h"], gates["c"]
        np.testing.assert_allclose(h, outputs[:, t], atol=1e-6)
    np.testing.assert_allclose(h, h_last, atol=1e-6)
    np.testing.assert_allclose(c, c_last, atol=1e-6)


def test_gate_read_out_reproduces_the_states():
    cell = LSTMCell(UNITS)
    h0, c0 = RNG.normal(size=(2, BATCH, UNITS)).astype("float32")
    gates = cell.gate_values(X[:, 0], [h0, c0])
    c = gates["forget"] * c0 + gates["input"] * gates["candidate"]
    np.testing.assert_allclose(gates["c"], c, atol=1e-6)
    np.testing.assert_allclose(gates["h"], gates["output"] * np.tanh(c), atol=1e-6)
    for name in ("input", "forget", "output"):
        assert np.all((np.asarray(gates[name]) > 0) & (np.asarray(gates[name]) < 1))


def test_round_trip_and_training(tmp_path):
    assert_layer_round_trip(lambda: LSTM(UNITS, dropout=0.1, use_cudnn=False), X, tmp_path)


def test_get_config_mirrors_the_constructor():
    import inspect

    config = LSTM(UNITS).get_config()
    parameters = set(inspect.signature(LSTM.__init__).parameters) - {"self", "kwargs"}
    assert parameters <= set(config), parameters - set(config)
    bidirectional = keras.layers.Bidirectional(LSTM(UNITS, use_cudnn=False))
    assert bidirectional.backward_layer.use_cudnn is False


def test_unit_forget_bias_starts_at_one():
    layer = LSTM(UNITS)
    layer.build(X.shape)
    bias = np.asarray(layer.cell.bias)
    np.testing.assert_array_equal(bias[UNITS : 2 * UNITS], 1.0)
    np.testing.assert_array_equal(np.delete(bias, np.s_[UNITS : 2 * UNITS]), 0.0)


def test_use_cudnn_true_runs_cudnn_or_says_why():
    if gpu_available():
        layer = LSTM(UNITS, use_cudnn=True)
        layer(X)
        assert layer.kernel_used == "cudnn"
    else:
        with pytest.raises(ValueError, match="no GPU visible"):
            LSTM(UNITS, use_cudnn=True)(X)
    with pytest.raises(ValueError, match="use_cudnn"):
        LSTM(UNITS, use_cudnn="yes")


def test_kernel_plan_names_the_reasons():
    kernel, reasons = kernel_plan(LSTM(UNITS, recurrent_dropout=0.2))
    assert kernel == "portable"
    assert any("recurrent_dropout" in reason for reason in reasons)
    kernel, reasons = kernel_plan(LSTM(UNITS))
    assert (kernel, reasons) == (("cudnn", []) if gpu_available() else ("fused", ["no GPU visible to TensorFlow"]))


def test_default_kernel_here_equals_the_fused_loop():
    """On a GPU: cuDNN by default, equal to the fused loop; on a CPU: the fused loop by default."""
    assert_default_kernel_equals_fused(lambda **kw: LSTM(UNITS, **kw), X, RIGHT_PADDED, DEFAULT_KERNEL)


def test_recurrent_dropout_trains_on_the_portable_kernel():
    assert_recurrent_dropout_acts(lambda **kw: LSTM(UNITS, **kw), X)
