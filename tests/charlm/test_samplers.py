"""Samplers and the sampling loop, driven by a fake step function over five tokens."""

import numpy as np
import pytest
import tensorflow as tf

import textlstm.decoding as decoding  # before tensorflow: pins the Keras backend
from textlstm import schema
from textlstm.decoding import (
    GreedySampler,
    TemperatureSampler,
    TopKSampler,
    TopKTopPSampler,
    TopPSampler,
    choose_sampler,
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
    tokens, last, state = sample_sequence(table_step, tf.constant([0, 2]), initial_state(2), GreedySampler(), 6, seed=0)
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
    whole, whole_last, whole_state = sample_sequence(table_step, start, initial_state(3), sampler, 45, seed=7)
    pieces, token, state, offset = [], start, initial_state(3), 0
    for chunk in (8, 16, 3, 18):
        tokens, token, state = sample_sequence(table_step, token, state, sampler, chunk, seed=7, offset=offset)
        pieces.append(tokens.numpy())
        offset += chunk
    np.testing.assert_array_equal(np.concatenate(pieces, axis=1), whole.numpy())
    np.testing.assert_array_equal(token.numpy(), whole_last.numpy())
    np.testing.assert_array_equal(state["count"].numpy(), whole_state["count"].numpy())


def test_zero_length_returns_the_start():
    tokens, last, state = sample_sequence(table_step, tf.constant([2, 3]), initial_state(2), GreedySampler(), 0, seed=1)
    assert tokens.shape == (2, 0)
    assert last.numpy().tolist() == [2, 3]
    assert state["count"].numpy().tolist() == [0, 0]


@pytest.mark.parametrize("sampler", [TemperatureSampler(1.5), TopPSampler(0.8), TopKSampler(3), GreedySampler()])
def test_xla_sampling_loop_draws_the_tokens_of_the_plain_loop(sampler):
    def run(jit_compile):
        return sample_sequence(
            table_step, tf.zeros([4], tf.int32), initial_state(4), sampler, 30, 3, jit_compile=jit_compile
        )

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
    assert get_sampler("top_k_top_p", k=3, p=0.5) == TopKTopPSampler(3, 0.5)
    assert set(decoding.SAMPLERS) == {"greedy", "temperature", "top_k", "top_p", "top_k_top_p"}
    assert tuple(decoding.SAMPLERS) == schema.SAMPLERS  # the recipe key decode.sampler allows exactly these


@pytest.mark.parametrize(
    "name, options, words",
    [
        ("nucleus", {}, ["'nucleus'", "greedy", "temperature", "top_k", "top_p"]),
        ("temperature", {"temperature": 0}, ["'temperature'", ">= 0.001", "got 0"]),
        ("temperature", {"temperature": float("inf")}, ["'temperature'", "finite", "got inf"]),
        ("top_p", {"p": float("nan")}, ["'p'", "got nan"]),
        ("top_k", {"k": 0}, ["'k'", ">= 1", "got 0"]),
        ("top_k", {"k": 2.5}, ["'k'", "integer", "got 2.5"]),
        ("top_p", {"p": 1.5}, ["'p'", "> 0 and <= 1", "got 1.5"]),
        ("top_p", {"p": 0.0}, ["'p'", "> 0 and <= 1", "got 0.0"]),
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


def test_top_k_then_top_p_keeps_the_nucleus_of_the_top_k():
    # top 3 of [.4 .3 .2 .1]: {0, 1, 2} renormalised to [.44 .33 .22]; p = .5 keeps {0, 1}
    logits = many_rows(np.array([0.4, 0.3, 0.2, 0.1, 1e-9]))
    assert seen(TopKTopPSampler(k=3, p=0.5), logits) == {0, 1}
    assert seen(TopKTopPSampler(k=1, p=1.0), logits) == {0}
    assert seen(TopKTopPSampler(k=3, p=1.0), logits) == {0, 1, 2}


RECIPE_DECODE = {"sampler": "top_k", "temperature": 0.8, "top_k": 40, "top_p": 0.95}


@pytest.mark.parametrize(
    "given, expected",
    [
        ({}, ("top_k", TopKSampler(40, 0.8))),
        ({"temperature": 1.5}, ("top_k", TopKSampler(40, 1.5))),
        ({"top_p": 0.5}, ("top_p", TopPSampler(0.5, 0.8))),
        ({"top_k": 5, "top_p": 0.5}, ("top_k_top_p", TopKTopPSampler(5, 0.5, 0.8))),
        ({"sampler": "greedy"}, ("greedy", GreedySampler())),
        ({"sampler": "top_k_top_p"}, ("top_k_top_p", TopKTopPSampler(40, 0.95, 0.8))),
    ],
)
def test_choose_sampler_given_options_over_the_recipe(given, expected):
    assert choose_sampler(RECIPE_DECODE, **given) == expected


def test_choose_sampler_temperature_turns_a_greedy_recipe_into_sampling():
    assert choose_sampler({**RECIPE_DECODE, "sampler": "greedy"}) == ("greedy", GreedySampler())
    assert choose_sampler({**RECIPE_DECODE, "sampler": "greedy"}, temperature=2.0) == (
        "temperature",
        TemperatureSampler(2.0),
    )


@pytest.mark.parametrize(
    "given, words",
    [
        ({"sampler": "greedy", "temperature": 3.0}, ["greedy sampler uses no temperature: give one"]),
        ({"sampler": "top_k", "top_p": 0.5}, ["top_k sampler uses no top_p: give one"]),
        ({"temperature": float("nan")}, ["temperature must be a finite number", "got nan"]),
        ({"top_k": 0}, ["top_k must be an integer >= 1", "got 0"]),
        ({"sampler": "beam"}, ["sampler must be one of greedy, temperature"]),
    ],
)
def test_choose_sampler_refuses_conflicts_and_bad_values(given, words):
    with pytest.raises(UserError) as error:
        choose_sampler(RECIPE_DECODE, **given)
    for word in words:
        assert word in str(error.value)
    assert "--" not in str(error.value)  # a Python caller's parameters, not the command line's options


UNKNOWN = 2  # the fake vocabulary's unknown entry: by far the most likely token after every token


def unknown_favouring_step(tokens, state):
    logits = tf.gather(tf.constant(TABLE), tokens) + tf.one_hot(UNKNOWN, V) * 8.0
    return logits, state


@pytest.mark.parametrize("jit_compile", [False, True], ids=["eager-graph", "xla"])
@pytest.mark.parametrize(
    "sampler",
    [
        GreedySampler(),
        TemperatureSampler(2.0),
        TopKSampler(2, 3.0),
        TopPSampler(0.9, 3.0),
        TopKTopPSampler(3, 0.9, 3.0),
    ],
    ids=lambda s: type(s).__name__,
)
def test_banned_id_is_never_sampled(sampler, jit_compile):
    start = tf.range(V, dtype=tf.int32)
    state = {"count": tf.zeros([V], tf.int32)}
    free, _, _ = sample_sequence(unknown_favouring_step, start, state, sampler, 40, seed=5, jit_compile=jit_compile)
    assert (free.numpy() == UNKNOWN).mean() > 0.5  # without the ban the step prefers it
    tokens, _, _ = sample_sequence(
        unknown_favouring_step, start, state, sampler, 40, seed=5, jit_compile=jit_compile, banned_ids=(UNKNOWN,)
    )
    assert UNKNOWN not in tokens.numpy()
    assert set(tokens.numpy().ravel().tolist()) <= set(range(V))


def _sampling_traces():
    from textlstm.decoding.samplers import _compiled_cache

    return sum(fn.experimental_get_tracing_count() for key, fn in _compiled_cache.items() if key[0] == "sample")


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_new_sampler_values_and_lengths_trace_nothing_again(jit_compile):
    """Every new temperature, k, p or length once compiled a new loop, kept for the process's
    life (a server's memory grew with each); now they are tensors of one trace per sampler kind."""
    start, state = tf.range(3, dtype=tf.int32), initial_state(3)
    for sampler in (TemperatureSampler(0.5), TopKSampler(2), TopPSampler(0.5), TopKTopPSampler(2, 0.5)):
        sample_sequence(table_step, start, state, sampler, 3, seed=1, jit_compile=jit_compile)
    before = _sampling_traces()
    for i in range(12):
        for sampler in (
            TemperatureSampler(0.3 + i / 7),
            TopKSampler(1 + i, 0.9 + i / 10),
            TopPSampler(0.2 + i / 20),
            TopKTopPSampler(1 + i % 4, 0.3 + i / 30, 1.0 + i),
        ):
            tokens, _, _ = sample_sequence(table_step, start, state, sampler, 5 + i, seed=i, jit_compile=jit_compile)
            assert tokens.shape == (3, 5 + i)
    assert _sampling_traces() == before


def test_tensor_numbers_draw_what_python_numbers_draw():
    """The compiled loop gives a sampler its numbers as tensors; the same tokens as the sampler
    called with its Python numbers (the top-k draw takes its noise where a [B, k] draw would)."""
    logits = tf.constant(np.random.default_rng(0).normal(size=(6, 40)), tf.float32)
    seed = tf.constant([7, 9], tf.int32)
    for sampler in (
        TemperatureSampler(0.7),
        TopKSampler(5, 1.3),
        TopKSampler(400),
        TopPSampler(0.6, 0.8),
        TopKTopPSampler(7, 0.8, 1.1),
    ):
        options = {name: tf.constant(value) for name, value in sampler.numbers().items()}
        assert sampler.draw(logits, seed, **options).numpy().tolist() == sampler(logits, seed).numpy().tolist()
    k = 5  # as tf.math.top_k then a draw over the k logits, the way TopKSampler once drew
    top_logits, top_ids = tf.math.top_k(logits, k=k)
    expected = tf.gather(top_ids, decoding.samplers._draw(top_logits, seed), batch_dims=1)
    assert (
        TopKSampler(k).draw(logits, seed, k=tf.constant(k), temperature=1.0).numpy().tolist()
        == expected.numpy().tolist()
    )
