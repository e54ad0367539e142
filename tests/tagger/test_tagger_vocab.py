import gzip
import json

import numpy as np
import pytest

from textlstm.errors import UserError
from textlstm.tagger.conll import Sentence
from textlstm.tagger.embeddings import extend_with_vectors
from textlstm.tagger.vocab import (
    PAD,
    UNK,
    Vocabulary,
    build_char_vocab,
    build_tag_vocab,
    build_word_vocab,
)

SENTENCES = [
    Sentence(tokens=["the", "cat", "sat"], tags=["DET", "NOUN", "VERB"]),
    Sentence(tokens=["The", "dog", "sat"], tags=["DET", "NOUN", "VERB"]),
    Sentence(tokens=["cat", "<unk>"], tags=["NOUN", "X"]),
]


def test_word_vocab_reserves_padding_and_unknown():
    vocab = build_word_vocab(SENTENCES)
    assert vocab.items[:2] == [PAD, UNK]
    assert vocab.pad_id == 0 and vocab.unk_id == 1
    # most frequent first, ties by the word itself; a literal "<unk>" maps to the unknown id
    assert vocab.items[2:] == ["cat", "sat", "The", "dog", "the"]
    assert vocab.encode(["cat", "zebra", "<unk>"]) == [2, 1, 1]
    assert vocab.decode([0, 1, 2]) == [PAD, UNK, "cat"]
    assert len(vocab) == 7 and "dog" in vocab and "zebra" not in vocab


def test_min_freq_max_size_and_lowercase():
    vocab = build_word_vocab(SENTENCES, min_freq=2)
    assert vocab.items[2:] == ["cat", "sat"]
    lowered = build_word_vocab(SENTENCES, lowercase=True)
    assert lowered.items[2:] == ["cat", "sat", "the", "dog"]
    assert lowered.encode(["THE", "Dog"]) == [4, 5]
    assert build_word_vocab(SENTENCES, max_size=1).items == [PAD, UNK, "cat"]


def test_char_vocab():
    vocab = build_char_vocab(SENTENCES)
    assert vocab.unknown and vocab.items[2] == "t"
    assert vocab.encode("cat") == [vocab.index("c"), vocab.index("a"), vocab.index("t")]
    assert vocab.index("é") == 1


def test_tag_vocab_has_no_unknown():
    tags = build_tag_vocab(SENTENCES)
    assert tags.items == [PAD, "NOUN", "DET", "VERB", "X"]
    assert tags.unk_id is None
    with pytest.raises(KeyError):
        tags.encode(["NOUN", "ADJ"])
    with pytest.raises(UserError, match="sentence 2 has no tags"):
        build_tag_vocab([SENTENCES[0], Sentence(tokens=["a"])])


def test_json_round_trip_is_plain_json():
    for vocab in (build_word_vocab(SENTENCES, lowercase=True), build_tag_vocab(SENTENCES)):
        data = json.loads(vocab.to_json())
        assert data["format"] == "textlstm.vocabulary/1"
        again = Vocabulary.from_json(vocab.to_json())
        assert again == vocab and again.items == vocab.items
        assert again.unknown == vocab.unknown and again.lowercase == vocab.lowercase


def test_save_and_load(tmp_path):
    vocab = build_word_vocab(SENTENCES)
    path = tmp_path / "words.json"
    vocab.save(path)
    vocab.save(path)  # overwriting is atomic and leaves no temporary files
    assert [p.name for p in tmp_path.iterdir()] == ["words.json"]
    assert Vocabulary.load(path) == vocab
    with pytest.raises(UserError, match="no such vocabulary file"):
        Vocabulary.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(UserError, match="bad.json: not valid JSON"):
        Vocabulary.load(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"items": []}', encoding="utf-8")
    with pytest.raises(UserError, match="not a textlstm vocabulary"):
        Vocabulary.load(tmp_path / "other.json")


def write_vectors(tmp_path, text, name="vectors.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_vectors_of_training_words_glove_format_with_lowercase_fallback(tmp_path):
    vocab = Vocabulary(["cat", "Paris", "zebra"])
    path = write_vectors(tmp_path, "cat 1 2 3\nparis 4 5 6\nsat 7 8 9\n")
    words, matrix, found = extend_with_vectors(path, vocab)
    assert matrix.shape == (7, 3) and matrix.dtype == np.float32  # 5 training ids, "paris" and "sat" added
    assert found == 2
    np.testing.assert_array_equal(matrix[0], 0.0)
    np.testing.assert_array_equal(matrix[2], [1, 2, 3])
    np.testing.assert_array_equal(matrix[3], [4, 5, 6])
    assert np.all(np.abs(matrix[[1, 4]]) <= 0.1) and np.any(matrix[4] != 0)
    _, again, _ = extend_with_vectors(path, vocab)
    np.testing.assert_array_equal(again, matrix)  # seeded


def test_vectors_file_word2vec_header_spaces_and_gzip(tmp_path):
    vocab = Vocabulary(["a b", "dog"])
    text = "3 2\na b 0.5 0.25 \ndog 1 -1 \nDog 9 9 \n"
    for path in (write_vectors(tmp_path, text), tmp_path / "v.txt.gz"):
        if path.suffix == ".gz":
            path.write_bytes(gzip.compress(text.encode("utf-8")))
        words, matrix, found = extend_with_vectors(path, vocab)
        assert found == 2 and words.vector_dim == 2
        np.testing.assert_array_equal(matrix[2:4], [[0.5, 0.25], [1, -1]])


def test_vectors_file_errors(tmp_path):
    vocab = Vocabulary(["cat"])
    bad = write_vectors(tmp_path, "cat 1 2 3\ndog 1 2\n")
    with pytest.raises(UserError, match=r"vectors.txt:2: expected a word and 3 numbers, found 2"):
        extend_with_vectors(bad, vocab)
    header = write_vectors(tmp_path, "2 4\ncat 1 2 3\n", "header.txt")
    with pytest.raises(UserError, match=r"header.txt:2: expected a word and 4 numbers, found 3"):
        extend_with_vectors(header, vocab)
    with pytest.raises(UserError, match="empty.txt: file is empty"):
        extend_with_vectors(write_vectors(tmp_path, "\n", "empty.txt"), vocab)
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"cat 1 2\ncaf\xe9 3 4\n")
    with pytest.raises(UserError, match=r"latin.txt:2: not valid UTF-8"):
        extend_with_vectors(latin, vocab)
    with pytest.raises(UserError, match="no such word-vector file.*--word-vectors PATH"):
        extend_with_vectors(tmp_path / "missing.txt", vocab)
    with pytest.raises(UserError, match="not a number"):
        extend_with_vectors(write_vectors(tmp_path, "cat 1 x\n", "nan.txt"), vocab)


def test_extend_with_vectors_adds_every_new_word_of_the_file_after_the_training_words(tmp_path):
    train = Vocabulary(["cat", "LONDON", "Paris"])
    path = write_vectors(tmp_path, "3 2\ncat 1 1\nlondon 2 2\nParis 3 3\nparis 4 4\ncat 9 9\n")
    words, matrix, found = extend_with_vectors(path, train)
    assert words.items == [PAD, UNK, "cat", "LONDON", "Paris", "london", "paris"]
    assert words.trainable_rows == 5 and words.vector_dim == 2 and words.lowercase_fallback and found == 3
    np.testing.assert_array_equal(matrix[[0, 2, 3, 4, 5, 6]], [[0, 0], [1, 1], [2, 2], [3, 3], [2, 2], [4, 4]])
    assert np.all(np.abs(matrix[1]) <= 0.1) and np.any(matrix[1] != 0)  # <unk>: small seeded random
    # normal form, then lowercase, then <unk>
    assert words.encode(["LONDON", "London", "PARIS", "Paris", "CAT", "dog"]) == [3, 5, 6, 4, 2, 1]
    again = Vocabulary.from_json(words.to_json())
    assert again == words and again.trainable_rows == 5 and again.encode(["London"]) == [5]
    few, small, _ = extend_with_vectors(path, train, max_rows=2)  # the header is not a row
    assert few.items[5:] == ["london"] and small.shape == (6, 2)


def test_extend_with_vectors_in_a_lowercased_vocabulary_prefers_the_exact_row(tmp_path):
    train = Vocabulary(["cat"], lowercase=True)
    words, matrix, _ = extend_with_vectors(write_vectors(tmp_path, "Paris 1\nBERLIN 2\nparis 3\n"), train)
    assert words.items[3:] == ["paris", "berlin"] and not words.lowercase_fallback
    np.testing.assert_array_equal(matrix[3:, 0], [3, 2])
    assert words.encode(["PARIS", "Berlin"]) == [3, 4]
    with pytest.raises(UserError, match=r"vectors.txt:2: expected a word and 1 numbers, found 2"):
        extend_with_vectors(write_vectors(tmp_path, "cat 1\ndog 1 2\n"), train)


def test_old_vocabulary_files_load_and_look_up_as_before(tmp_path):
    old = '{"format": "textlstm.vocabulary/1", "unknown": true, "lowercase": false, "items": ["london", "Paris"]}'
    (tmp_path / "words.json").write_text(old, encoding="utf-8")
    vocab = Vocabulary.load(tmp_path / "words.json")
    assert not vocab.extended and not vocab.lowercase_fallback and vocab.trainable_rows == len(vocab) == 4
    assert vocab.encode(["london", "LONDON", "Paris"]) == [2, 1, 3]  # no lowercase fallback
    assert json.loads(vocab.to_json()) == json.loads(old)  # written back without the new fields
    bad = old.replace('"items"', '"trainable_rows": 9, "items"')
    with pytest.raises(UserError, match="'trainable_rows' must be an integer from 2 to 4, found 9"):
        Vocabulary.from_json(bad, source="words.json")
