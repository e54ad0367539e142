"""`WordEmbedding`, the frozen vectors ⊕ trainable rows of a tagger trained with a vectors file:
the layer itself, and a tiny trained run whose vectors file knows words training never saw."""

import copy
import json
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

import textlstm
from support.runs import VECTOR_WORDS, tiny_run
from textlstm import memory
from textlstm.tagger.model import DEFAULTS, build_and_compile
from textlstm.tagger.word_embedding import WordEmbedding

VECTORS = np.arange(24, dtype="float32").reshape(8, 3)  # 8 words of 3 values; row i = 3i, 3i+1, 3i+2


def _layer():
    layer = WordEmbedding(8, 3, trainable_rows=5, word_dim=2, name="word_embedding")
    layer.set_vectors(VECTORS)
    return layer


def test_frozen_part_is_the_table_and_words_beyond_training_share_the_unknown_row():
    layer = _layer()
    ids = np.array([[2, 6, 1, 0]], "int32")
    out = np.asarray(layer(ids))
    assert out.shape == (1, 4, 5)
    np.testing.assert_array_equal(out[0, :, :3], VECTORS[[2, 6, 1, 0]])
    trainable = np.asarray(layer.embedding.embeddings)
    np.testing.assert_array_equal(out[0, :, 3:], trainable[[2, 1, 1, 0]])  # id 6 >= 5 reads <unk>'s row
    np.testing.assert_array_equal(np.asarray(layer.compute_mask(ids)), [[True, True, True, False]])
    config = layer.get_config()
    assert WordEmbedding.from_config(config).get_config() == config
    assert "23.0" not in json.dumps(config)  # the table is a weight, not part of the config
    with pytest.raises(ValueError, match=r"vectors must have shape \(8, 3\), received \(2, 3\)"):
        layer.set_vectors(VECTORS[:2])


def test_the_table_gets_no_gradient_and_no_optimizer_variables(tmp_path):
    recipe = copy.deepcopy(DEFAULTS)
    recipe["model"].update(word_dim=2, char_dim=4, char_units=6, units=8, dropout=0.0, word_dropout=0.0)
    model = build_and_compile(8, 10, 4, recipe, word_vectors=VECTORS, trainable_words=5)
    layer = model.get_layer("word_embedding")
    assert [w.path for w in layer.non_trainable_weights] == ["word_embedding/vectors"]
    words = np.array([[2, 6, 7, 0], [3, 4, 1, 5]], "int32")
    chars = np.ones((2, 4, 3), "int32") * (words[:, :, None] > 0)
    tags = np.array([[1, 2, 3, 0], [3, 2, 1, 1]], "int32")
    for _ in range(3):
        model.train_on_batch((words, chars), tags)
    np.testing.assert_array_equal(np.asarray(layer.vectors), VECTORS)
    assert all(tuple(v.shape) != (8, 3) for v in model.optimizer.variables)
    assert len(model.optimizer.variables) == 1 + 2 * len(model.trainable_weights)  # iterations + 2 Adam slots
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True, compile=True)
    np.testing.assert_array_equal(np.asarray(loaded.get_layer("word_embedding").vectors), VECTORS)
    np.testing.assert_allclose(
        loaded.predict((words, chars), verbose=0), model.predict((words, chars), verbose=0), atol=1e-6
    )


def test_memory_counts_the_frozen_table_once():
    recipe = copy.deepcopy(DEFAULTS)
    plain = memory.tagger_bytes(recipe, 1000, 50, 10)
    fewer = memory.tagger_bytes(recipe, 1000, 50, 10, trainable_words=100)
    assert plain - fewer == 4 * 4 * 900 * recipe["model"]["word_dim"]  # weights, gradients, two Adam moments
    table = 4 * 2_000_000 * 300
    assert (
        table
        <= memory.tagger_bytes(recipe, 2_000_000, 50, 10, trainable_words=100, vector_dim=300) - fewer
        < table * 1.01
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return tiny_run(tmp_path_factory, "tagger-vectors")


def test_a_word_only_the_vectors_file_knows_gets_its_vector_at_tag_time(run):
    tagger = textlstm.load(run)
    words = tagger.vocabs[0]
    file_words = [line.split(" ")[0] for line in (run.parent / "vectors.txt").read_text().splitlines()]
    assert file_words == VECTOR_WORDS
    assert "berlin" not in (run.parent / "ner-train.conll").read_text()
    berlin = words.index("berlin")
    assert berlin >= words.trainable_rows and words.index("BERLIN") == berlin  # lowercase fallback
    assert words.index("unread") == 1  # beyond data.max_vectors
    layer = tagger.model.get_layer("word_embedding")
    out = np.asarray(layer(np.array([[berlin, 1]], "int32")))
    row = (run.parent / "vectors.txt").read_text().splitlines()[VECTOR_WORDS.index("berlin")]
    np.testing.assert_allclose(out[0, 0, :5], [float(v) for v in row.split(" ")[1:]], rtol=1e-6)
    assert np.any(out[0, 0] != out[0, 1])
    np.testing.assert_array_equal(out[0, 0, 5:], out[0, 1, 5:])  # the trainable part is <unk>'s
    # the network reads it: the same characters with <unk>'s id give other scores
    chars = np.array([[[tagger.vocabs[1].index(c) for c in "berlin"]]], "int32")
    scores = [np.asarray(tagger.model([tf.constant([[i]]), tf.constant(chars)], training=False)) for i in (berlin, 1)]
    assert np.abs(scores[0] - scores[1]).max() > 1e-4


def test_tagging_needs_no_vectors_file(run, tmp_path):
    sentences = ["Anna sees the dog in berlin", "LONDON sees Carol", "berlin"]
    before = textlstm.load(run)
    tags, best = before.tag(sentences), before.tag(sentences, n_best=3)
    shutil.move(run.parent / "vectors.txt", tmp_path / "vectors.txt")
    try:
        after = textlstm.load(run)
        assert after.tag(sentences) == tags
        assert after.tag(sentences, n_best=3) == best  # the same paths with the same probabilities
    finally:
        shutil.move(tmp_path / "vectors.txt", run.parent / "vectors.txt")
