"""Every kernel of our LSTM and GRU against Keras's generic RNN loop, attribute by attribute.

The same matrix runs on each kernel (fused, portable, and cuDNN where a GPU is visible),
forced with `textlstm.layers.force_kernel`. The reference is `keras.layers.LSTM`/`GRU`
with `use_cudnn=False`: Keras's generic loop, which defines the RNN contract (Keras's own
cuDNN path writes zeros at padded steps whatever `zero_output_for_mask` says). Outputs at
every step, final states and gradients must agree to 1e-5.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from support.layers import as_list, assert_same_as_reference, expected_kernel
from textlstm.layers import GRU, LSTM, force_kernel
from textlstm.layers.dispatch import gpu_available

RNG = np.random.default_rng(3)
BATCH, STEPS, FEATURES, UNITS = 5, 7, 3, 4
X = RNG.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")


def _mask_from_lengths(lengths, left=False):
    mask = np.arange(STEPS)[None, :] < np.array(lengths)[:, None]
    return mask[:, ::-1].copy() if left else mask


MASKS = {
    "none": None,
    "right": _mask_from_lengths([7, 5, 1, 7, 3]),
    "left": _mask_from_lengths([7, 5, 1, 7, 3], left=True),
    "holes": np.array([[1, 0, 1, 1, 0, 1, 1]] * 2 + [[0, 1, 1, 0, 1, 0, 0]] * 3, dtype=bool),
    "empty-row": _mask_from_lengths([7, 0, 4, 2, 7]),
}
KINDS = {"LSTM": (LSTM, keras.layers.LSTM), "GRU": (GRU, keras.layers.GRU)}
KERNELS = [
    "fused",
    "portable",
    pytest.param("cudnn", marks=pytest.mark.skipif(not gpu_available(), reason="cuDNN needs a GPU; none is visible")),
]


def _kernels_of(layer):
    if isinstance(layer, keras.layers.Bidirectional):
        return {layer.forward_layer.kernel_used, layer.backward_layer.kernel_used}
    return {layer.kernel_used}


def assert_kernel_matches_keras(kernel, ours, reference, x, mask=None, initial_state=None):
    with force_kernel(kernel):
        results = assert_same_as_reference(ours, reference, x, mask=mask, initial_state=initial_state)
    assert _kernels_of(ours) == {expected_kernel(kernel, mask)}
    return results


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mask", MASKS, ids=str)
@pytest.mark.parametrize("go_backwards", [False, True], ids=["forwards", "backwards"])
@pytest.mark.parametrize("zero_output", [False, True], ids=["carry", "zero-output"])
def test_sequences_and_states(kernel, kind, mask, go_backwards, zero_output):
    options = dict(
        return_sequences=True, return_state=True, go_backwards=go_backwards, zero_output_for_mask=zero_output
    )
    ours_cls, keras_cls = KINDS[kind]
    reference = keras_cls(UNITS, use_cudnn=False, **options)
    outputs = assert_kernel_matches_keras(kernel, ours_cls(UNITS, **options), reference, X, mask=MASKS[mask])
    if MASKS[mask] is not None and zero_output:
        steps = MASKS[mask][:, ::-1] if go_backwards else MASKS[mask]
        assert np.all(outputs[0][~steps] == 0.0)  # the attribute took effect


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mask", ["right", "left", "empty-row"])
@pytest.mark.parametrize("zero_output", [False, True], ids=["carry", "zero-output"])
def test_last_output(kernel, kind, mask, zero_output):
    options = dict(return_state=True, zero_output_for_mask=zero_output)
    ours_cls, keras_cls = KINDS[kind]
    reference = keras_cls(UNITS, use_cudnn=False, **options)
    assert_kernel_matches_keras(kernel, ours_cls(UNITS, **options), reference, X, mask=MASKS[mask])


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("return_sequences", [True, False], ids=["sequences", "last"])
def test_bidirectional_with_variable_lengths(kernel, kind, return_sequences):
    ours_cls, keras_cls = KINDS[kind]
    options = dict(return_sequences=return_sequences, return_state=True)
    ours = keras.layers.Bidirectional(ours_cls(UNITS, **options))
    reference = keras.layers.Bidirectional(keras_cls(UNITS, use_cudnn=False, **options))
    assert ours.forward_layer.zero_output_for_mask is return_sequences  # set by Bidirectional
    results = assert_kernel_matches_keras(kernel, ours, reference, X, mask=MASKS["right"])
    assert len(results) == 1 + 2 * (2 if kind == "LSTM" else 1)  # output, then each direction's states
    if return_sequences:
        assert np.all(results[0][~MASKS["right"]] == 0.0)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("kind", KINDS)
def test_initial_state_with_left_padding(kernel, kind):
    ours_cls, keras_cls = KINDS[kind]
    options = dict(return_sequences=True, return_state=True)
    state = [RNG.normal(size=(BATCH, UNITS)).astype("float32") for _ in range(2 if kind == "LSTM" else 1)]
    reference = keras_cls(UNITS, use_cudnn=False, **options)
    assert_kernel_matches_keras(kernel, ours_cls(UNITS, **options), reference, X, MASKS["left"], state)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("kind", KINDS)
def test_stateful_with_masks_and_reset(kernel, kind):
    ours_cls, keras_cls = KINDS[kind]
    options = dict(return_sequences=True, stateful=True)
    ours, reference = ours_cls(UNITS, **options), keras_cls(UNITS, use_cudnn=False, **options)
    for layer in (ours, reference):
        layer.build(X.shape)
    ours.set_weights(reference.get_weights())
    batches = [(X, MASKS["right"]), (X[:, ::-1].copy(), MASKS["holes"]), (X, None)]
    with force_kernel(kernel):
        for step, (x, mask) in enumerate(batches):
            if step == 2:
                ours.reset_states()
                reference.reset_states()
            got, want = (np.asarray(layer(x, mask=mask)) for layer in (ours, reference))
            np.testing.assert_allclose(got, want, atol=1e-5)
            for a, b in zip(ours.states, reference.states):
                np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)
    assert ours.kernel_used == expected_kernel(kernel, None)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("kind", KINDS)
def test_compiled_call_matches_eager(kernel, kind):
    """Inside a compiled function (how fit and predict run) the kernel gives the same numbers."""
    ours_cls, _ = KINDS[kind]
    layer = keras.layers.Bidirectional(ours_cls(UNITS, return_sequences=True))
    mask = tf.constant(MASKS["left"])
    with force_kernel(kernel):
        eager = as_list(layer(X, mask=mask))
        compiled = as_list(tf.function(lambda x: layer(x, mask=mask))(tf.constant(X)))
    for a, b in zip(eager, compiled):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


def test_zero_output_for_mask_survives_config_and_saving(tmp_path):
    layer = LSTM(UNITS, return_sequences=True, zero_output_for_mask=True)
    assert LSTM.from_config(layer.get_config()).zero_output_for_mask is True
    model = keras.Sequential(
        [keras.Input((STEPS, FEATURES)), keras.layers.Bidirectional(GRU(UNITS, return_sequences=True))]
    )
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert loaded.layers[0].forward_layer.zero_output_for_mask is True
    assert loaded.layers[0].backward_layer.zero_output_for_mask is True


def test_forcing_a_kernel_the_layer_cannot_run_says_why():
    with pytest.raises(ValueError, match="forced kernel 'fused'.*activation is 'relu'"):
        with force_kernel("fused"):
            LSTM(UNITS, activation="relu")(X)
    with pytest.raises(ValueError, match="kernel"):
        with force_kernel("fast"):
            pass
    if not gpu_available():
        with pytest.raises(ValueError, match="no GPU visible"):
            with force_kernel("cudnn"):
                GRU(UNITS)(X)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mask", ["none", "holes", "left", "empty-row"])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["forwards", "backwards"])
def test_fused_graph_loop_matches_keras(kind, mask, go_backwards, monkeypatch):
    """The fused kernel's graph-loop form (used for large layers) agrees like the compiled one;
    its inference loop projects one step ahead (textlstm/layers/overlap.py), and a gradient
    asked of it goes through the up-front loop's backward pass."""
    from textlstm.layers import fused_lstm, gru, lstm

    monkeypatch.setattr(fused_lstm, "COMPILED_LOOP_MAX_STEP_MACS", 0)
    for module in (lstm, gru):  # a machine with one core keeps the up-front loop: test both forms everywhere
        monkeypatch.setattr(module, "worth_overlapping", lambda: True)
    calls = []
    for module, name in ((lstm, "lstm_inference"), (gru, "gru_inference")):
        original = getattr(module, name)
        monkeypatch.setattr(
            module, name, lambda *args, _original=original, **kwargs: calls.append(1) or _original(*args, **kwargs)
        )
    ours_cls, keras_cls = KINDS[kind]
    options = dict(return_sequences=True, return_state=True, go_backwards=go_backwards, zero_output_for_mask=True)
    reference = keras_cls(UNITS, use_cudnn=False, **options)
    assert_kernel_matches_keras("fused", ours_cls(UNITS, **options), reference, X, mask=MASKS[mask])
    assert calls  # the one-step-ahead inference loop ran (the layer is called in inference mode)
    assert not fused_lstm.use_compiled_loop(tf.zeros((STEPS, BATCH, 4 * UNITS)), tf.zeros((UNITS, 4 * UNITS)))


@pytest.mark.parametrize("threads, cores, expected", [(0, 2, True), (0, 1, False), (1, 16, False), (4, 1, True)])
def test_the_overlapped_inference_loop_needs_two_threads(threads, cores, expected, monkeypatch):
    """One inter-op thread (set, or by default one core) keeps the up-front projection."""
    from textlstm.layers import overlap

    monkeypatch.setattr(tf.config.threading, "get_inter_op_parallelism_threads", lambda: threads)
    monkeypatch.setattr(overlap.os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    assert overlap.worth_overlapping() is expected


def _emulated_cudnn_loop(self, sequences, initial_state, mask):
    """What Keras's cuDNN path returns, computed on the CPU: zeros at padded steps
    (reversed order with go_backwards), the final h as last output; right-padded masks
    with a valid step in every row only."""
    if mask is not None:  # runs only where the branch is taken, in a compiled function too
        lengths = tf.reduce_sum(tf.cast(mask, "int32"), axis=1)
        tf.debugging.assert_positive(lengths)
        tf.debugging.assert_equal(tf.cast(mask, "bool"), tf.sequence_mask(lengths, STEPS))
    zero_output, self.zero_output_for_mask = self.zero_output_for_mask, True
    try:
        _, outputs, states = self._run_fused(sequences, initial_state, mask, False)
    finally:
        self.zero_output_for_mask = zero_output
    return states[0], outputs if self.return_sequences else states[0][:, None, :], states


@pytest.fixture
def emulated_cudnn(monkeypatch):
    """A GPU that is not there: dispatch sees one and `_cudnn_loop` emulates cuDNN."""
    from textlstm.layers import dispatch

    monkeypatch.setattr(dispatch, "gpu_available", lambda: True)
    for ours_cls, _ in KINDS.values():
        monkeypatch.setattr(ours_cls, "_cudnn_loop", _emulated_cudnn_loop)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mask", ["none", "right", "left", "empty-row"])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["forwards", "backwards"])
@pytest.mark.parametrize("zero_output", [False, True], ids=["carry", "zero-output"])
@pytest.mark.parametrize("return_sequences", [True, False], ids=["sequences", "last"])
def test_cudnn_branch_keeps_the_contract(kind, mask, go_backwards, zero_output, return_sequences, emulated_cudnn):
    """The cuDNN branch's own work (routing masks cuDNN cannot take, restoring Keras's
    masked outputs) against an emulation of cuDNN's outputs, so it is checked without a GPU."""
    ours_cls, keras_cls = KINDS[kind]
    options = dict(
        return_sequences=return_sequences,
        return_state=True,
        go_backwards=go_backwards,
        zero_output_for_mask=zero_output,
    )
    ours, reference = ours_cls(UNITS, **options), keras_cls(UNITS, use_cudnn=False, **options)
    assert_kernel_matches_keras("cudnn", ours, reference, X, mask=MASKS[mask])


@pytest.mark.parametrize("kind", KINDS)
def test_cudnn_branch_routes_masks_inside_a_compiled_function(kind, emulated_cudnn):
    """Compiled, the route is a tf.cond on the data: one trace serves every mask."""
    ours_cls, keras_cls = KINDS[kind]
    ours = keras.layers.Bidirectional(ours_cls(UNITS, return_sequences=True, return_state=True))
    reference = keras.layers.Bidirectional(keras_cls(UNITS, use_cudnn=False, return_sequences=True, return_state=True))
    for layer in (ours, reference):
        layer.build(X.shape)
    ours.set_weights(reference.get_weights())
    compiled = tf.function(lambda x, m: ours(x, mask=m))
    for mask in ("right", "left", "empty-row"):
        got = as_list(compiled(tf.constant(X), tf.constant(MASKS[mask])))
        want = as_list(reference(X, mask=MASKS[mask]))
        for a, b in zip(got, want):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)
    assert compiled.experimental_get_tracing_count() == 1
    assert ours.forward_layer.kernel_used == "cudnn"
