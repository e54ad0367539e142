"""The step arithmetic's two arrangements (`textlstm.layers.fusion`): split first for XLA, add first
for TensorFlow's graph executor. Both must give the same numbers; the sampling loop without XLA must
trace the arrangement with fewer operations."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from textlstm.charlm.model import CharStepper, build_model
from textlstm.decoding.samplers import get_sampler, sample_sequence
from textlstm.layers.fusion import arranged_for_xla, dense_logits, split_sum

MODEL = {"embedding_dim": 8, "units": 16, "layers": 2, "dropout": 0.2, "cell": "lstm"}


def _terms(rng, columns=12):
    product = rng.standard_normal((3, columns)).astype("float32")
    scale = rng.uniform(0.5, 2.0, columns).astype("float32")
    return [
        rng.standard_normal((3, columns)).astype("float32"),
        None,
        (product, scale),
        rng.standard_normal(columns).astype("float32"),
    ]


@pytest.mark.parametrize("xla", [True, False], ids=["split-first", "add-first"])
def test_split_sum_is_the_split_of_the_sum(xla):
    rng = np.random.default_rng(0)
    terms = _terms(rng)
    expected = np.split(terms[0] + terms[2][0] / terms[2][1] + terms[3], 3, axis=-1)
    with arranged_for_xla(xla):
        pieces = split_sum(terms, 3)
    assert len(pieces) == 3
    for piece, want in zip(pieces, expected):
        np.testing.assert_allclose(np.asarray(piece), want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("xla", [True, False], ids=["halves", "dense-call"])
def test_dense_logits_equals_the_dense_layer(xla):
    dense = keras.layers.Dense(7)
    x = np.random.default_rng(1).standard_normal((2, 5)).astype("float32")
    expected = np.asarray(dense(x))
    with arranged_for_xla(xla):
        np.testing.assert_allclose(np.asarray(dense_logits(dense, x)), expected, rtol=1e-6, atol=1e-6)


def _traced_ops(stepper, xla):
    """Op types of one traced char LM step (batch 2) under an arrangement."""

    @tf.function
    def step(ids, state):
        with arranged_for_xla(xla):
            return stepper(ids, state)

    graph = step.get_concrete_function(tf.zeros([2], tf.int32), stepper.initial_state(2)).graph
    return [op.type for op in graph.get_operations()]


def test_the_graph_arrangement_has_fewer_operations():
    stepper = CharStepper(build_model(11, MODEL, seed=0))
    for_xla, for_graph = _traced_ops(stepper, True), _traced_ops(stepper, False)
    assert len(for_graph) < len(for_xla)
    assert for_graph.count("Split") < for_xla.count("Split")


def test_sampling_with_and_without_xla_gives_the_same_text():
    """The loop without XLA traces the add-first arrangement; the text is the same seed's text."""
    stepper = CharStepper(build_model(11, MODEL, seed=0))
    sampler = get_sampler("temperature", temperature=0.8)
    texts = []
    for jit_compile in (True, False):
        tokens, _, _ = sample_sequence(
            stepper, tf.zeros([3], tf.int32), stepper.initial_state(3), sampler, 40, seed=5, jit_compile=jit_compile
        )
        texts.append(np.asarray(tokens))
    np.testing.assert_array_equal(texts[0], texts[1])
