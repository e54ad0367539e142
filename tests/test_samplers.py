"""Samplers and the sampling loop, driven by a fake step function over five tokens."""

import numpy as np
import pytest

import textlstm.decoding as decoding  # before tensorflow: pins the Keras backend
import tensorflow as tf
from textlstm.decoding import (
    GreedySampler,
    TemperatureSampler,
    TopKSampler,
    TopPSampler,
    get_sampler,
    sample_sequence,
)
from textlstm.errors import UserError

V = 5
# Next-token logits indexed by the previous token; every row has a distinct argmax.
TABLE = np.array(
    [
        [0.1, 2.0, 0.3, -1.0, 0.5],
        [1.5, 0.0, -0.5, 0.2, 0.9],
        [0.0, 0.4, 0.3, 2.5, -0.2],
        [0.7, 0.1, 1.8, 0.0, 0.6],
        [2.2, 0.3, 0.1, 0.5, 0.0],
    ],
    dtype=np.float32,
)


def table_step(tokens, state):
    """Logits from the previous token; the state counts steps and carries a list."""
    logits = tf.gather(tf.constant(TABLE), tokens)
    pair = [state["pair"][0], state["pair"][1] * 2.0]
    return logits, {"count": state["count"] + 1, "pair": pair}


def initial_state(batch):
    return {"count": tf.zeros([batch], tf.int32), "pair": (tf.ones([batch, 2]), tf.ones([batch]))}


def many_rows(probs, rows=4000):
    """The same distribution repeated, so one sampler call draws `rows` samples."""
    return tf.constant(np.tile(np.log(probs, dtype=np.float32), (rows, 1)))


def seen(sampler, logits, seed=(3, 4)):
    return set(sampler(logits, tf.constant(seed, tf.int32)).numpy().tolist())


def test_greedy_follows_argmax_path():
    tokens, last, state = sample_sequence(
        table_step, tf.constant([0, 2]), initial_state(2), GreedySampler(), 6, seed=0
    )
    for row, start in enumerate([0, 2]):
        expected, prev = [], start
        for _ in range(6):
            prev = int(np.argmax(TABLE[prev]))
            expected.append(prev)
        assert tokens[row].numpy().tolist() == expected
        assert int(last[row]) == expected[-1]
    assert state["count"].numpy().tolist() == [6, 6]
    np.testing.assert_allclose(state["pair"][1].numpy(), [64.0, 64.0])


def test_top_k_stays_in_the_top_k():
    probs = np.array([0.1, 0.3, 0.05, 0.35, 0.2])
    assert seen(TopKSampler(k=2), many_rows(probs)) == {3, 1}
    assert seen(TopKSampler(k=3, temperature=2.0), many_rows(probs)) == {3, 1, 4}
    assert seen(TopKSampler(k=50), many_rows(probs)) == set(range(V))


def test_top_p_keeps_exactly_the_nucleus():
    probs = np.array([0.05, 0.25, 0.1, 0.45, 0.15])  # ranked: 3, 1, 4, 2, 0
    assert seen(TopPSampler(p=0.6), many_rows(probs)) == {3, 1}  # 0.45 < 0.6 <= 0.70
    assert seen(TopPSampler(p=0.75), many_rows(probs)) == {3, 1, 4}  # 0.70 < 0.75
    assert seen(TopPSampler(p=0.01), many_rows(probs)) == {3}  # always at least one
    assert seen(TopPSampler(p=1.0), many_rows(probs)) == set(range(V))


def test_small_temperature_approaches_greedy():
    logits = tf.constant(np.tile(TABLE, (200, 1)))
    greedy = GreedySampler()(logits, None).numpy()
    cold = TemperatureSampler(0.01)(logits, tf.constant([1, 2])).numpy()
    warm = TemperatureSampler(1.0)(logits, tf.constant([1, 2])).numpy()
    np.testing.assert_array_equal(cold, greedy)
    assert (warm != greedy).any()


def test_same_seed_same_tokens_other_seed_other_tokens():
    def run(seed):
        tokens, _, _ = sample_sequence(
            table_step, tf.zeros([4], tf.int32), initial_state(4), TemperatureSampler(1.5), 40, seed
        )
        return tokens.numpy()

    first = run(11)
    assert first.shape == (4, 40)
    np.testing.assert_array_equal(first, run(11))
    assert (first != run(12)).any()


@pytest.mark.parametrize("sampler", [TemperatureSampler(1.2), TopPSampler(0.9), TopKSampler(3)])
def test_chunked_generation_equals_one_call(sampler):
    start = tf.constant([0, 1, 4])
    whole, whole_last, whole_state = sample_sequence(
        table_step, start, initial_state(3), sampler, 45, seed=7
    )
    pieces, token, state, offset = [], start, initial_state(3), 0
    for chunk in (8, 16, 3, 18):
        tokens, token, state = sample_sequence(
            table_step, token, state, sampler, chunk, seed=7, offset=offset
        )
        pieces.append(tokens.numpy())
        offset += chunk
    np.testing.assert_array_equal(np.concatenate(pieces, axis=1), whole.numpy())
    np.testing.assert_array_equal(token.numpy(), whole_last.numpy())
    np.testing.assert_array_equal(state["count"].numpy(), whole_state["count"].numpy())


def test_zero_length_returns_the_start():
    tokens, last, state = sample_sequence(
        table_step, tf.constant([2, 3]), initial_state(2), GreedySampler(), 0, seed=1
    )
    assert tokens.shape == (2, 0)
    assert last.numpy().tolist() == [2, 3]
    assert state["count"].numpy().tolist() == [0, 0]


@pytest.mark.parametrize("sampler", [TemperatureSampler(1.5), TopPSampler(0.8), TopKSampler(3), GreedySampler()])
def test_xla_sampling_loop_draws_the_tokens_of_the_plain_loop(sampler):
    def run(jit_compile):
        return sample_sequence(table_step, tf.zeros([4], tf.int32), initial_state(4), sampler, 30, 3,
                               jit_compile=jit_compile)

    tokens, last, state = run(True)
    expected, expected_last, expected_state = run(False)
    assert tokens.shape == (4, 30)
    np.testing.assert_array_equal(tokens.numpy(), expected.numpy())
    np.testing.assert_array_equal(last.numpy(), expected_last.numpy())
    np.testing.assert_array_equal(state["count"].numpy(), expected_state["count"].numpy())


def test_get_sampler_by_name():
    assert get_sampler("greedy") == GreedySampler()
    assert get_sampler("temperature", temperature=0.7) == TemperatureSampler(0.7)
    assert get_sampler("top_k", k=4, temperature=0.5) == TopKSampler(4, 0.5)
    assert get_sampler("top_p", p=0.9) == TopPSampler(0.9)
    assert set(decoding.SAMPLERS) == {"greedy", "temperature", "top_k", "top_p"}


@pytest.mark.parametrize(
    "name, options, words",
    [
        ("nucleus", {}, ["'nucleus'", "greedy", "temperature", "top_k", "top_p"]),
        ("temperature", {"temperature": 0}, ["'temperature'", "> 0", "got 0"]),
        ("top_k", {"k": 0}, ["'k'", ">= 1", "got 0"]),
        ("top_k", {"k": 2.5}, ["'k'", "integer", "got 2.5"]),
        ("top_p", {"p": 1.5}, ["'p'", "(0, 1]", "got 1.5"]),
        ("top_p", {"p": 0.0}, ["'p'", "(0, 1]", "got 0.0"]),
        ("greedy", {"k": 3}, ["'greedy'", "'k'"]),
        ("top_k", {"p": 0.5}, ["'p'", "k, temperature"]),
    ],
)
def test_get_sampler_rejects_bad_names_and_options(name, options, words):
    with pytest.raises(UserError) as error:
        get_sampler(name, **options)
    for word in words:
        assert word in str(error.value)


def test_bad_length_and_seed_are_user_errors():
    start = tf.zeros([1], tf.int32)
    with pytest.raises(UserError, match="length"):
        sample_sequence(table_step, start, initial_state(1), GreedySampler(), -1, 0)
    with pytest.raises(UserError, match="seed"):
        sample_sequence(table_step, start, initial_state(1), GreedySampler(), 3, "x")
