import itertools

import keras  # noqa: E402
import numpy as np
import pytest
import tensorflow as tf  # noqa: E402

from textlstm.tagger import crf  # imports textlstm first, which pins the TensorFlow backend

T, L = 3, 4
LENGTHS = [4, 1, 3, 2, 0]


def random_case(seed):
    rng = np.random.default_rng(seed)
    emissions = rng.normal(size=(len(LENGTHS), L, T)).astype("float32")
    transitions = rng.normal(size=(T, T)).astype("float32")
    start = rng.normal(size=T).astype("float32")
    end = rng.normal(size=T).astype("float32")
    mask = np.array([[t < n for t in range(L)] for n in LENGTHS])
    tags = rng.integers(0, T, size=(len(LENGTHS), L))
    return emissions, mask, tags, transitions, start, end


def path_score(emissions, path, transitions, start, end):
    score = start[path[0]] + end[path[-1]] + sum(emissions[t, y] for t, y in enumerate(path))
    return score + sum(transitions[a, b] for a, b in zip(path, path[1:]))


def all_paths(emissions, n, transitions, start, end):
    """Every tag path of length n with its score, best first (brute-force reference)."""
    scored = [
        (float(path_score(emissions, path, transitions, start, end)), list(path))
        for path in itertools.product(range(T), repeat=n)
    ]
    return sorted(scored, key=lambda item: -item[0])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_likelihood_and_partition_match_brute_force(seed):
    emissions, mask, tags, transitions, start, end = random_case(seed)
    log_z = np.asarray(crf.crf_log_partition(emissions, mask, transitions, start, end))
    log_lik = np.asarray(crf.crf_log_likelihood(emissions, tags, mask, transitions, start, end))
    for b, n in enumerate(LENGTHS):
        if n == 0:
            assert log_z[b] == 0.0 and log_lik[b] == 0.0
            continue
        scores = np.array([s for s, _ in all_paths(emissions[b], n, transitions, start, end)])
        expected_z = np.log(np.sum(np.exp(scores)))
        gold = path_score(emissions[b], tags[b, :n], transitions, start, end)
        np.testing.assert_allclose(log_z[b], expected_z, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(log_lik[b], gold - expected_z, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_viterbi_and_nbest_match_brute_force(seed):
    emissions, mask, _, transitions, start, end = random_case(seed)
    best_tags, best_scores = crf.viterbi_decode(emissions, mask, transitions, start, end)
    best_tags, best_scores = np.asarray(best_tags), np.asarray(best_scores)
    k = 5
    nbest_tags, nbest_scores = crf.nbest_viterbi_decode(emissions, mask, transitions, start, end, k=k)
    assert nbest_tags.shape == (len(LENGTHS), k, L) and nbest_scores.shape == (len(LENGTHS), k)
    for b, n in enumerate(LENGTHS):
        assert np.all(best_tags[b, n:] == 0) and np.all(nbest_tags[b, :, n:] == 0)
        if n == 0:
            assert best_scores[b] == 0.0
            continue
        reference = all_paths(emissions[b], n, transitions, start, end)
        assert list(best_tags[b, :n]) == reference[0][1]
        np.testing.assert_allclose(best_scores[b], reference[0][0], rtol=1e-5)
        available = min(k, len(reference))
        for rank in range(available):
            assert list(nbest_tags[b, rank, :n]) == reference[rank][1]
            np.testing.assert_allclose(nbest_scores[b, rank], reference[rank][0], rtol=1e-5)
        assert np.all(np.isneginf(nbest_scores[b, available:]))  # length 1 has only 3 paths


def test_train_step_runs_in_xla_with_unknown_shapes():
    emissions, mask, tags, transitions, start, end = random_case(0)
    weights = [tf.constant(w) for w in (transitions, start, end)]
    spec = [
        tf.TensorSpec([None, None, T], tf.float32),
        tf.TensorSpec([None, None], tf.int32),
        tf.TensorSpec([None, None], tf.bool),
    ]

    def step(emissions, tags, mask):
        with tf.GradientTape() as tape:
            tape.watch([emissions] + weights)
            loss = crf.crf_nll_loss(emissions, tags, mask, *weights)
            decoded = crf.viterbi_decode(emissions, mask, *weights)  # decoding under the tape
        return loss, tape.gradient(loss, [emissions] + weights), decoded

    compiled = tf.function(step, jit_compile=True, input_signature=spec)
    for length in (L, 1):  # length 1: the loops over time run zero times
        args = (
            tf.constant(emissions[:, :length]),
            tf.constant(tags[:, :length].astype("int32")),
            tf.constant(mask[:, :length]),
        )
        loss, grads, (best, scores) = compiled(*args)
        eager_loss, eager_grads, (eager_best, eager_scores) = step(*args)
        np.testing.assert_allclose(float(loss), float(eager_loss), rtol=1e-5)
        for grad, eager_grad in zip(grads, eager_grads):
            np.testing.assert_allclose(np.asarray(grad), np.asarray(eager_grad), atol=1e-5)
        np.testing.assert_array_equal(np.asarray(best), np.asarray(eager_best))
        np.testing.assert_allclose(np.asarray(scores), np.asarray(eager_scores), rtol=1e-5)


def test_gradients_are_finite_and_sum_to_expected_counts():
    emissions, mask, tags, transitions, start, end = random_case(4)
    inputs = [tf.constant(w) for w in (emissions, transitions, start, end)]
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        loss = crf.crf_nll_loss(inputs[0], tags, mask, *inputs[1:])
    grads = tape.gradient(loss, inputs)
    for grad in grads:
        assert np.all(np.isfinite(np.asarray(grad)))
    # d(-log p)/d emissions = (marginals - one-hot gold) / B: sums to 0 per real step
    per_step = np.asarray(grads[0]).sum(axis=2)
    np.testing.assert_allclose(per_step, 0.0, atol=1e-6)
    assert np.all(np.asarray(grads[0])[~mask] == 0.0)


def toy_model(num_tags):
    words = keras.Input(shape=(None,), dtype="int32")
    embedded = keras.layers.Embedding(10, 8, mask_zero=True)(words)
    emissions = keras.layers.Dense(num_tags)(embedded)
    layer = crf.CRF(num_tags, name="crf")
    return keras.Model(words, [layer(emissions), emissions]), layer


def test_crf_layer_learns_a_transition_pattern():
    # tags alternate 1, 2, 1, ... whatever the words: emissions cannot see the position, so
    # only the start and transition scores can get this right (a softmax tagger gets ~50%)
    rng = np.random.default_rng(0)
    words = rng.integers(1, 10, size=(64, 6)).astype("int32")
    words[::3, 4:] = 0  # some padded sequences
    mask = words > 0
    tags = (np.arange(6)[None, :] % 2 + 1) * mask
    model, layer = toy_model(3)
    optimizer = keras.optimizers.Adam(0.05)

    @tf.function(jit_compile=True)  # like a Keras train step with jit_compile
    def train_step(words, tags):
        with tf.GradientTape() as tape:
            _, emissions = model(words)
            loss = layer.loss(emissions, tags, words > 0)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    losses = [float(train_step(words, tags)) for _ in range(60)]
    assert losses[-1] < 0.3 * losses[0]
    predicted, _ = model(words)
    assert np.mean(np.asarray(predicted)[mask] == tags[mask]) == 1.0
    assert np.all(np.asarray(predicted)[~mask] == 0)


def test_crf_layer_config_and_keras_file_round_trip(tmp_path):
    model, layer = toy_model(4)
    config = layer.get_config()
    assert config["num_tags"] == 4
    assert crf.CRF.from_config(config).get_config() == config
    layer.transitions.assign(np.random.default_rng(1).normal(size=(4, 4)) * 3)
    words = np.array([[1, 2, 3, 0], [4, 5, 0, 0]], dtype="int32")
    before, _ = model(words)
    path = tmp_path / "tagger.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    after, _ = loaded(words)
    np.testing.assert_array_equal(np.asarray(before), np.asarray(after))
    np.testing.assert_array_equal(loaded.get_layer("crf").transitions.numpy(), layer.transitions.numpy())
    _, emissions = loaded(words)
    tags, _ = loaded.get_layer("crf").decode(emissions, words > 0)
    np.testing.assert_array_equal(np.asarray(tags), np.asarray(before))
    nbest, _ = loaded.get_layer("crf").nbest(emissions, words > 0, k=2)
    np.testing.assert_array_equal(nbest[:, 0], np.asarray(before))


def test_crf_layer_symbolic_shape_and_bad_arguments():
    emissions = keras.Input(shape=(None, 5))
    assert crf.CRF(5)(emissions).shape == (None, None)
    with pytest.raises(ValueError, match="num_tags must be a positive integer"):
        crf.CRF(0)
