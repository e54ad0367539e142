"""Beam search against brute-force enumeration, with fake step functions over tiny alphabets."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

import textlstm.decoding  # noqa: F401  (pins the Keras backend before TensorFlow loads)
from textlstm.decoding import beam_search
from textlstm.errors import UserError

START, END = 0, 1


def table_step(tables):
    """Step whose logits are `tables[sentence, position, previous token]`.

    The sentence id and position live in the state, so each row decodes its own
    "sentence" and the state has to follow the beams correctly.
    """
    tables = tf.constant(tables, tf.float32)
    last_position = tables.shape[1] - 1

    def step(tokens, state):
        position = tf.minimum(state["position"], last_position)
        logits = tf.gather_nd(tables, tf.stack([state["sentence"], position, tokens], axis=1))
        return logits, {"sentence": state["sentence"], "position": state["position"] + 1}

    return step


def decode(step, sentences, **options):
    sentences = tf.constant(sentences, tf.int32)
    state = {"sentence": sentences, "position": tf.zeros_like(sentences)}
    out = beam_search(step, state, len(sentences), START, END, **options)
    return tuple(x.numpy() for x in out)


def penalty(steps, alpha):
    return ((5.0 + steps) / 6.0) ** alpha


def brute_force(table, max_length, alpha=0.0):
    """Every hypothesis of one sentence as (score, tokens before END), best first."""
    table = table.astype(np.float64)
    log_probs = table - np.log(np.exp(table).sum(-1, keepdims=True))
    vocab = table.shape[-1]
    found = []
    for length in range(1, max_length + 1):
        for seq in itertools.product(range(vocab), repeat=length):
            if END in seq[:-1]:
                continue
            prev = (START,) + seq[:-1]
            total = sum(log_probs[t, prev[t], seq[t]] for t in range(length))
            if seq[-1] == END:
                found.append((total / penalty(length, alpha), seq[:-1]))
            elif length == max_length:
                found.append((total / penalty(length, alpha), seq))
    return sorted(found, key=lambda item: -item[0])


def hypotheses(tokens, scores, lengths, row):
    rows = zip(tokens[row], scores[row], lengths[row])
    return [(float(score), tuple(seq[:n].tolist())) for seq, score, n in rows]


def random_tables(sentences, max_length, vocab, seed=0):
    rng = np.random.default_rng(seed)
    tables = rng.normal(scale=1.5, size=(sentences, max_length, vocab, vocab))
    # A per-sentence bias on END, so rows finish at different steps.
    tables[..., END] += np.linspace(-1.5, 1.0, sentences)[:, None, None]
    return tables.astype(np.float32)


@pytest.mark.parametrize("alpha", [0.0, 0.8])
def test_exhaustive_beam_matches_brute_force(alpha):
    # V=4, max_length=3 has 40 hypotheses, so a 40-wide beam keeps all of them.
    tables = random_tables(2, 3, 4, seed=1)
    tokens, scores, lengths = decode(
        table_step(tables), [0, 1], beam_size=40, max_length=3, n_best=40, length_penalty=alpha
    )
    for row in range(2):
        expected = brute_force(tables[row], 3, alpha)
        got = hypotheses(tokens, scores, lengths, row)
        assert [seq for _, seq in got] == [seq for _, seq in expected]
        np.testing.assert_allclose([s for s, _ in got], [s for s, _ in expected], rtol=1e-5)


def test_beam_finds_the_best_sequence_where_greedy_does_not():
    probs = np.full((3, 6, 6), 1.0 / 6)
    probs[0, START] = [0.01, 0.01, 0.5, 0.4, 0.04, 0.04]
    probs[1, 2] = [0.02, 0.18, 0.22, 0.2, 0.19, 0.19]  # after the likely first token all is flat
    probs[1, 3] = [0.01, 0.01, 0.01, 0.01, 0.95, 0.01]
    probs[2, :] = [0.1, 0.3, 0.15, 0.15, 0.15, 0.15]
    probs[2, 4] = [0.002, 0.99, 0.002, 0.002, 0.002, 0.002]
    tables = np.log(probs)[None].astype(np.float32)
    best_score, best = brute_force(tables[0], 3)[0]
    assert best == (3, 4)

    tokens, scores, lengths = decode(table_step(tables), [0], beam_size=3, max_length=3)
    assert hypotheses(tokens, scores, lengths, 0)[0][1] == best
    np.testing.assert_allclose(scores[0, 0], best_score, rtol=1e-5)

    greedy = decode(table_step(tables), [0], beam_size=1, max_length=3)
    assert hypotheses(*greedy, 0)[0][1] == (2, 2)
    assert greedy[1][0, 0] < best_score - 1.0


def test_beam_size_one_is_greedy():
    tables = random_tables(3, 6, 6, seed=2)
    tokens, _, lengths = decode(table_step(tables), [0, 1, 2], beam_size=1, max_length=6)
    for row in range(3):
        expected, prev = [], START
        for position in range(6):
            prev = int(np.argmax(tables[row, position, prev]))
            if prev == END:
                break
            expected.append(prev)
        assert tokens[row, 0, : lengths[row, 0]].tolist() == expected
        assert (tokens[row, 0, lengths[row, 0] :] == END).all()


def test_batch_invariance():
    tables = random_tables(5, 7, 6, seed=3)
    step = table_step(tables)
    options = dict(beam_size=3, max_length=7, n_best=2, length_penalty=0.6)
    together = decode(step, [0, 1, 2, 3, 4], **options)
    lengths = together[2]
    assert len(set(lengths[:, 0].tolist())) > 1  # rows really stop at different steps
    singles = [decode(step, [s], **options) for s in range(5)]
    pairs = [decode(step, [a, b], **options) for a, b in [(4, 0), (1, 3), (2, 2)]]
    shuffled = decode(step, [3, 0, 4, 2, 1], **options)
    for got, expected in zip(shuffled, together):
        np.testing.assert_array_equal(got, expected[[3, 0, 4, 2, 1]])
    for sentence, single in enumerate(singles):
        for got, expected in zip(single, together):
            np.testing.assert_array_equal(got[0], expected[sentence])
    for (a, b), pair in zip([(4, 0), (1, 3), (2, 2)], pairs):
        for got, expected in zip(pair, together):
            np.testing.assert_array_equal(got, expected[[a, b]])


def test_n_best_are_distinct_sorted_and_scored_right():
    tables = random_tables(2, 5, 6, seed=4)
    tokens, scores, lengths = decode(
        table_step(tables), [0, 1], beam_size=6, max_length=5, n_best=4, length_penalty=0.5
    )
    assert tokens.shape == (2, 4, 5) and scores.shape == (2, 4) and lengths.shape == (2, 4)
    for row in range(2):
        exact = dict((seq, score) for score, seq in brute_force(tables[row], 5, 0.5))
        got = hypotheses(tokens, scores, lengths, row)
        assert len({seq for _, seq in got}) == 4
        assert all(a >= b for a, b in zip(scores[row], scores[row][1:]))
        for score, seq in got:
            np.testing.assert_allclose(score, exact[seq], rtol=1e-5)


def test_max_length_is_honoured():
    tables = random_tables(2, 4, 6, seed=5)
    tables[..., END] = -30.0  # ending is (almost) impossible
    tokens, scores, lengths = decode(table_step(tables), [0, 1], beam_size=3, max_length=4, n_best=2)
    assert tokens.shape == (2, 2, 4)
    assert (lengths == 4).all()
    assert (tokens != END).all()
    assert np.isfinite(scores).all()


def test_length_penalty_prefers_the_longer_hypothesis():
    probs = np.full((3, 6, 6), 0.002)
    probs[0, START, [END, 2]] = [0.45, 0.55]
    probs[1, 2] = [0.04, 0.04, 0.04, 0.8, 0.04, 0.04]
    probs[2, 3] = [0.02, 0.9, 0.02, 0.02, 0.02, 0.02]
    tables = np.log(probs)[None].astype(np.float32)
    step = table_step(tables)
    for alpha, expected in [(0.0, ()), (1.0, (2, 3))]:
        assert brute_force(tables[0], 3, alpha)[0][1] == expected
        tokens, scores, lengths = decode(step, [0], beam_size=2, max_length=3, length_penalty=alpha)
        assert hypotheses(tokens, scores, lengths, 0)[0][1] == expected


def test_extras_follow_the_winning_path():
    tables = random_tables(3, 5, 6, seed=6)
    base = table_step(tables)

    def step(tokens, state):
        logits, new_state = base(tokens, state)
        # Extras say which token was fed at which position.
        fed = tf.one_hot(tokens, 6) * tf.cast(state["position"] + 1, tf.float32)[:, None]
        return logits, new_state, fed

    sentences = [0, 1, 2]
    tokens, scores, lengths, extras = decode(step, sentences, beam_size=3, max_length=5, n_best=2, with_extras=True)
    plain = decode(base, sentences, beam_size=3, max_length=5, n_best=2)
    np.testing.assert_array_equal(tokens, plain[0])
    assert extras.shape == (3, 2, 5, 6)
    for row, hyp in itertools.product(range(3), range(2)):
        length = lengths[row, hyp]
        steps = length + int(length < 5 and tokens[row, hyp, length] == END)  # END is a step
        fed = [START] + tokens[row, hyp].tolist()
        for t in range(5):
            expected = np.eye(6)[fed[t]] * (t + 1) if t < steps else np.zeros(6)
            np.testing.assert_array_equal(extras[row, hyp, t], expected)


def test_constants_reach_every_step():
    tables = random_tables(3, 5, 6, seed=7)
    options = dict(beam_size=3, max_length=5, n_best=2, length_penalty=0.3)
    expected = decode(table_step(tables), [2, 0, 1], **options)

    def step(tokens, state, constants):
        position = tf.minimum(state, 4)
        rows = tf.range(tf.shape(tokens)[0])
        where = tf.stack([rows, position, tokens], axis=1)
        return tf.gather_nd(constants["tables"], where), state + 1

    got = beam_search(
        step,
        tf.zeros([3], tf.int32),
        3,
        START,
        END,
        constants={"tables": tf.constant(tables[[2, 0, 1]])},
        **options,
    )
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g.numpy(), e)


def test_works_inside_a_users_tf_function():
    tables = random_tables(2, 4, 6, seed=8)
    step = table_step(tables)
    expected = decode(step, [0, 1], beam_size=2, max_length=4)

    @tf.function
    def run(sentences):
        state = {"sentence": sentences, "position": tf.zeros_like(sentences)}
        return beam_search(step, state, tf.shape(sentences)[0], START, END, 2, 4)

    for g, e in zip(run(tf.constant([0, 1])), expected):
        np.testing.assert_array_equal(g.numpy(), e)


def test_compiles_with_xla():
    tables = random_tables(2, 4, 6, seed=9)
    expected = decode(table_step(tables), [0, 1], beam_size=2, max_length=4, n_best=2)
    got = decode(table_step(tables), [0, 1], beam_size=2, max_length=4, n_best=2, jit_compile=True)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-5)


@pytest.mark.parametrize(
    "options, words",
    [
        (dict(beam_size=0, max_length=3), ["'beam_size'", ">= 1", "got 0"]),
        (dict(beam_size=2, max_length=0), ["'max_length'", ">= 1", "got 0"]),
        (dict(beam_size=2, max_length=3, n_best=3), ["'n_best'", "<= beam_size (2)", "got 3"]),
        (dict(beam_size=2, max_length=3, length_penalty=-1), ["'length_penalty'", ">= 0", "-1"]),
    ],
)
def test_bad_options_are_user_errors(options, words):
    with pytest.raises(UserError) as error:
        decode(table_step(random_tables(1, 2, 6)), [0], **options)
    for word in words:
        assert word in str(error.value)


def test_new_lengths_penalties_and_n_best_trace_nothing_again():
    """max_length, length_penalty and n_best reach the compiled search as tensors: a server
    asked for ever new values keeps one trace per beam size instead of one per value."""
    from textlstm.decoding.samplers import _compiled_cache

    def traces():
        return sum(
            fn.experimental_get_tracing_count() for key, fn in _compiled_cache.items() if key[0] == "beam_search"
        )

    step = table_step(random_tables(2, 12, 6, seed=6))
    for max_length in (3, 4):  # the second shape of the penalty table generalises it
        decode(step, [0, 1], beam_size=3, max_length=max_length, n_best=1)
    before = traces()
    for i in range(10):
        tokens, scores, _ = decode(
            step, [0, 1], beam_size=3, max_length=5 + i, n_best=1 + i % 3, length_penalty=0.1 * i
        )
        assert tokens.shape == (2, 1 + i % 3, 5 + i) and scores.shape == (2, 1 + i % 3)
    assert traces() == before
