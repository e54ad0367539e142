"""The GRU's training loop in pieces of time (`fused_gru.gru_training`) against keras.layers.GRU.

The layers here are tiny, so each test lowers the size from which training is cut into pieces
and cuts 7 steps into 3 uneven pieces (2, 2, 3); outputs and the gradients of the inputs, the
initial state and every weight must agree with Keras's generic loop to 1e-5, called with
`training=True` (the path `fit` takes).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from support.layers import TOLERANCE, as_list, masked_stack
from textlstm.layers import GRU, fused_gru

RNG = np.random.default_rng(5)
BATCH, STEPS, FEATURES, UNITS = 5, 7, 3, 4
X = RNG.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
MASKS = {
    "none": None,
    "right": np.arange(STEPS)[None, :] < np.array([7, 5, 1, 7, 3])[:, None],
    "holes": np.array([[1, 0, 1, 1, 0, 1, 1]] * 2 + [[0, 1, 1, 0, 1, 0, 0]] * 3, dtype=bool),
    "empty-row": np.arange(STEPS)[None, :] < np.array([7, 0, 4, 2, 7])[:, None],
}


@pytest.fixture
def pieces(monkeypatch):
    """Training cuts even these tiny layers into 3 pieces; returns the list of piece counts used."""
    monkeypatch.setattr(fused_gru, "CHUNKED_MIN_STEP_MACS", 0)
    monkeypatch.setattr(fused_gru, "MIN_CHUNK_STEPS", 1)
    monkeypatch.setattr(fused_gru, "TRAINING_CHUNKS", 3)
    used = []
    original = fused_gru.gru_training

    def spy(*args):
        used.append(args[-1])
        return original(*args)

    monkeypatch.setattr(fused_gru, "gru_training", spy)
    return used


def outputs_and_gradients(layer, x, mask=None, initial_state=None, training=True, function=False):
    """The layer's outputs and the gradients of a loss weighting every output element differently."""
    x = tf.constant(x)
    kwargs = {"training": training}
    if mask is not None:
        kwargs["mask"] = tf.constant(mask)
    states = [] if initial_state is None else [tf.constant(s) for s in initial_state]
    if states:
        kwargs["initial_state"] = states

    def run(x, *states):
        with tf.GradientTape() as tape:
            tape.watch([x, *states])
            outputs = as_list(layer(x, **({**kwargs, "initial_state": list(states)} if states else kwargs)))
            loss = sum(
                tf.reduce_sum(o * tf.sin(tf.reshape(tf.range(tf.size(o), dtype=o.dtype), tf.shape(o)))) for o in outputs
            )
        return outputs, tape.gradient(loss, [x, *states, *layer.trainable_weights])

    if function:  # a graph where the number of steps is unknown
        signature = [tf.TensorSpec([None, None, x.shape[-1]])] + [tf.TensorSpec([None, UNITS])] * len(states)
        run = tf.function(run, input_signature=signature)
    outputs, gradients = run(x, *states)
    return [np.asarray(o) for o in outputs], [np.asarray(g) for g in gradients]


def assert_matches_keras(make_options, x, mask=None, initial_state=None, function=False):
    reference = keras.layers.GRU(UNITS, use_cudnn=False, **make_options)
    ours = GRU(UNITS, **make_options)
    for layer in (ours, reference):
        layer.build(x.shape)
    ours.set_weights(reference.get_weights())
    expected = outputs_and_gradients(reference, x, mask, initial_state)
    got = outputs_and_gradients(ours, x, mask, initial_state, function=function)
    assert ours.kernel_used == "fused"
    for a, b in zip(got[0] + got[1], expected[0] + expected[1], strict=True):
        np.testing.assert_allclose(a, b, atol=TOLERANCE, rtol=TOLERANCE)


@pytest.mark.parametrize("loop", ["compiled", "graph"])
@pytest.mark.parametrize("mask", MASKS, ids=str)
@pytest.mark.parametrize("go_backwards", [False, True], ids=["forwards", "backwards"])
def test_training_in_pieces_matches_keras(pieces, loop, mask, go_backwards, monkeypatch):
    if loop == "graph":  # the form large layers train with
        monkeypatch.setattr(fused_gru, "TRAINING_STEP_MACS_FACTOR", 0)
    options = dict(return_sequences=True, return_state=True, go_backwards=go_backwards, zero_output_for_mask=True)
    assert_matches_keras(options, X, MASKS[mask])
    assert pieces == [3]


@pytest.mark.parametrize("use_bias", [True, False])
def test_initial_state_and_no_bias(pieces, use_bias):
    state = [RNG.normal(size=(BATCH, UNITS)).astype("float32")]
    assert_matches_keras(dict(return_sequences=True, use_bias=use_bias), X, MASKS["right"], state)
    assert pieces == [3]


@pytest.mark.parametrize("loop", ["compiled", "graph"])
@pytest.mark.parametrize("steps", [7, 2], ids=["7-steps", "2-steps"])
def test_an_unknown_number_of_steps_and_empty_pieces(pieces, loop, steps, monkeypatch):
    """Traced without knowing the number of steps; 2 steps in 3 pieces leave one empty."""
    if loop == "graph":
        monkeypatch.setattr(fused_gru, "TRAINING_STEP_MACS_FACTOR", 0)
    assert_matches_keras(dict(return_sequences=True), X[:, :steps], MASKS["holes"][:, :steps], function=True)
    assert pieces == [3]


def test_bidirectional_and_stacked(pieces):
    def stack(make_layer):
        return masked_stack(make_layer, STEPS, FEATURES, UNITS)

    x = X.copy()
    x[2, 3:] = 0.0
    reference = stack(lambda *args, **kwargs: keras.layers.GRU(*args, use_cudnn=False, **kwargs))
    ours = stack(GRU)
    ours.set_weights(reference.get_weights())
    expected, got = (outputs_and_gradients(model, x) for model in (reference, ours))
    for a, b in zip(got[0] + got[1], expected[0] + expected[1], strict=True):
        np.testing.assert_allclose(a, b, atol=TOLERANCE, rtol=TOLERANCE)
    assert pieces == [3, 3, 3]


def test_dropout_draws_and_gradients_as_in_one_piece(pieces, monkeypatch):
    """With input dropout on, the same seed gives the same outputs and gradients in pieces as in one."""
    results, weights = [], None
    for min_macs in (0, 10**12):  # in pieces, then in one
        monkeypatch.setattr(fused_gru, "CHUNKED_MIN_STEP_MACS", min_macs)
        layer = GRU(UNITS, dropout=0.4, seed=7, return_sequences=True)
        layer.build(X.shape)
        weights = layer.get_weights() if weights is None else weights
        layer.set_weights(weights)
        results.append(outputs_and_gradients(layer, X, MASKS["holes"]))
    assert pieces == [3]
    for a, b in zip(results[0][0] + results[0][1], results[1][0] + results[1][1], strict=True):
        np.testing.assert_allclose(a, b, atol=TOLERANCE, rtol=TOLERANCE)
    inference = np.asarray(layer(X, mask=MASKS["holes"], training=False))
    assert not np.allclose(results[0][0][0], inference, atol=1e-3)  # dropout acted


def test_inference_is_never_cut(pieces):
    GRU(UNITS, return_sequences=True)(X, training=False)
    assert pieces == []


@pytest.mark.parametrize(
    "steps, batch, units, expected",
    [(100, 64, 512, 4), (50, 32, 256, 4), (40, 32, 128, 1), (20, 64, 512, 2), (7, 64, 512, 1), (None, None, 512, 4)],
)
def test_how_many_pieces(steps, batch, units, expected):
    """Sizes a and b of benchmarks/bench_layers.py train in 4 pieces, size c in one; each piece
    keeps at least `MIN_CHUNK_STEPS` steps."""
    assert fused_gru.training_chunks(steps, batch, units) == expected


@pytest.mark.parametrize(
    "batch, units, compiled",
    [(64, 512, True), (32, 256, True), (128, 512, True), (64, 1024, False), (None, 1024, True)],
)
def test_which_loop_trains(batch, units, compiled):
    """Training runs the XLA-compiled loop up to 128M multiply-adds a step, size a of
    benchmarks/bench_layers.py (50M) included, and the graph loop above."""
    assert fused_gru._trains_compiled(batch, units, 3 * units) is compiled
