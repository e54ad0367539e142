"""The char LM's streamed corpus: files read piece by piece give the text, vocabulary, split and
ids of the in-memory pipeline they replace; the token file is memory-mapped, reused on resume,
and bad bytes are reported with file and offset before anything is written."""

import json
import math
import os
import random

import numpy as np
import pytest
import tensorflow as tf

from support.cli import assert_one_error_line, invoke, prose
from textlstm import textio
from textlstm.charlm import data as data_lib
from textlstm.charlm import tokens
from textlstm.charlm.corpus import CharVocabulary
from textlstm.errors import UserError
from textlstm.rundir import RunDir
from textlstm.textio import read_text_sources, stream_text_file, stream_text_sources

TRICKY = "ab\r\n\u00e9\u4e2d\U0001f600 x\n"  # CRLF, 2-, 3- and 4-byte characters
TINY = [
    "--set",
    "model.units=8",
    "--set",
    "model.layers=1",
    "--set",
    "model.embedding_dim=4",
    "--set",
    "data.seq_len=16",
    "--set",
    "train.batch_size=4",
    "--set",
    "train.steps_per_epoch=3",
    "--epochs",
    "1",
]
WORDS = "the river stone light of and in runs green old small window road".split()


def _tricky_files(directory, count=3, chars=2000):
    rng = random.Random(0)
    directory.mkdir(exist_ok=True)
    for i in range(count):
        bom = "\ufeff" if i == 1 else ""
        (directory / f"part{i}.txt").write_bytes((bom + "".join(rng.choice(TRICKY) for _ in range(chars))).encode())
    return directory


@pytest.mark.parametrize("piece_bytes", [5, 7, 64, 1 << 20])
def test_streamed_text_equals_the_files_read_whole(tmp_path, piece_bytes):
    directory = _tricky_files(tmp_path / "corpus")
    whole = "\n".join(text for _, text in read_text_sources([str(directory)]))
    pieces = list(stream_text_sources([str(directory)], piece_bytes))
    assert len(pieces) > 3
    assert "".join(text for _, text in pieces) == whole
    assert "".join(piece.text() for piece, _ in pieces) == whole  # each piece decodes again on its own


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"good line\n" * 50 + b"\xff\xfe bad", "is not valid UTF-8 (byte 0xff at offset 500, line 51)"),
        (b"x" * 300 + b"\x00", "looks like a binary file (NUL byte at offset 300)"),
        (b"\xff\xfeh\x00i\x00", "is UTF-16 encoded"),
        (b" \n\t\n", "is empty"),
    ],
)
def test_bad_bytes_are_named_with_file_and_offset_across_pieces(tmp_path, content, fragment):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(UserError, match="bad.txt") as error:
        list(stream_text_file(path, piece_bytes=16))
    assert fragment in str(error.value)


def _in_memory(text, valid_fraction):
    """The pipeline the token file replaces: split the joined text, count, encode."""
    cut = len(text) - math.ceil(len(text) * valid_fraction)
    vocab = CharVocabulary.from_text(text[:cut])
    return vocab, vocab.encode(text[:cut]), vocab.encode(text[cut:])


@pytest.mark.parametrize("piece_bytes", [7, 1 << 20])
def test_token_file_holds_the_in_memory_ids(tmp_path, monkeypatch, piece_bytes):
    monkeypatch.setattr(textio, "PIECE_BYTES", piece_bytes)  # the cut falls inside a piece
    directory = _tricky_files(tmp_path / "corpus")
    data = {"paths": [str(directory)], "valid": "", "valid_fraction": 0.07}
    vocab, train_ids, valid_ids = _in_memory("\n".join(t for _, t in read_text_sources([str(directory)])), 0.07)

    train_scan, valid_scan = tokens.scan_corpus(data)
    train_chars, _ = tokens.split_of(data, train_scan)
    assert tokens.vocabulary_of(train_scan, train_chars).chars == vocab.chars
    run = RunDir.create(tmp_path / "run", "charlm")
    corpus = tokens.build_token_file(run, data, vocab, train_scan, valid_scan)
    assert isinstance(corpus.tokens, tokens.TokenFile) and corpus.tokens.dtype == np.uint8  # read on demand
    np.testing.assert_array_equal(corpus.train, train_ids)
    np.testing.assert_array_equal(corpus.valid, valid_ids)
    assert os.path.getsize(run.file(tokens.TOKENS_FILE)) == len(train_ids) + len(valid_ids)

    reopened = tokens.TokenCorpus.open(run, len(vocab), data)
    np.testing.assert_array_equal(reopened.tokens, corpus.tokens)
    assert tokens.TokenCorpus.open(run, len(vocab), {**data, "valid_fraction": 0.1}) is None  # other settings


def test_a_separate_validation_file_and_a_wide_vocabulary(tmp_path):
    train_text = "".join(chr(0x400 + i) for i in range(300)) * 3  # 301 entries with the unknown one
    (tmp_path / "train.txt").write_text(train_text, encoding="utf-8")
    (tmp_path / "valid.txt").write_text("\u0400\u0401?\u0402", encoding="utf-8")
    data = {"paths": [str(tmp_path / "train.txt")], "valid": str(tmp_path / "valid.txt"), "valid_fraction": 0.05}
    train_scan, valid_scan = tokens.scan_corpus(data)
    vocab = tokens.vocabulary_of(train_scan, train_scan.chars)
    corpus = tokens.build_token_file(RunDir.create(tmp_path / "run", "charlm"), data, vocab, train_scan, valid_scan)
    assert corpus.tokens.dtype == np.uint16 and len(vocab) == 301
    np.testing.assert_array_equal(corpus.train, vocab.encode(train_text))
    np.testing.assert_array_equal(corpus.valid, vocab.encode("\u0400\u0401?\u0402"))
    assert corpus.unknown_valid_chars == ["?"]
    assert [tokens.token_dtype(n) for n in (256, 257, 65536, 65537)] == [np.uint8, np.uint16, np.uint16, np.uint32]


def test_windows_from_the_token_file_are_the_in_memory_batches(tmp_path):
    ids = np.random.default_rng(0).integers(0, 200, 5000).astype(np.uint8)
    ids.tofile(tmp_path / "ids.bin")
    mapped = tokens.TokenFile(tmp_path / "ids.bin", np.uint8, len(ids))
    seq_len, batch = 10, 8
    stream = list(data_lib.training_batches(mapped, seq_len, batch, seed=3, start_step=55).take(12))
    per_epoch = data_lib.window_count(ids, seq_len) // batch
    epoch, skip = divmod(55, per_epoch)
    expected = []
    for e in (epoch, epoch + 1):
        order = np.asarray(
            tf.random.experimental.stateless_shuffle(
                np.arange(data_lib.window_count(ids, seq_len), dtype=np.int64), seed=[3, e]
            )
        )
        expected += [order[i * batch : (i + 1) * batch] for i in range(per_epoch)]
    for (inputs, targets), starts in zip(stream, expected[skip:]):
        windows = np.stack([ids[s * seq_len : s * seq_len + seq_len + 1] for s in starts]).astype(np.int32)
        np.testing.assert_array_equal(inputs.numpy(), windows[:, :-1])
        np.testing.assert_array_equal(targets.numpy(), windows[:, 1:])
    evaluation = list(data_lib.evaluation_batches(mapped, seq_len, 64))
    joined = np.concatenate([inputs.numpy() for inputs, _ in evaluation])
    assert joined.shape == (499, 10) and evaluation[-1][0].shape[0] == 499 - 7 * 64
    np.testing.assert_array_equal(joined.ravel(), ids[:4990])


def test_training_reuses_the_token_file_and_caps_validation(tmp_path):
    train_file, valid_file, run_dir = tmp_path / "train.txt", tmp_path / "valid.txt", tmp_path / "run"
    train_file.write_text(prose(WORDS, 1, 3000), encoding="utf-8")
    valid_file.write_text(prose(WORDS, 2, 900) + "\u2603\n", encoding="utf-8")
    args = ["train", "charlm", "--data", train_file, "--valid", valid_file, "--run-dir", run_dir, *TINY]
    first = invoke(*args, "--set", "data.max_valid_chars=500")
    assert first.exit_code == 0, first.output
    assert "not in the vocabulary and read as unknown: '\u2603' (in the validation text)" in first.stdout
    assert "validation: the first 500 of " in first.stdout and "(data.max_valid_chars=500)" in first.stdout
    info = json.loads((run_dir / tokens.TOKENS_INFO).read_text())
    assert info["dtype"] == "uint8" and info["valid_chars"] == len(valid_file.read_text())
    stamp = os.stat(run_dir / tokens.TOKENS_FILE).st_mtime_ns
    resumed = invoke("train", "charlm", "--run-dir", run_dir, "--resume", "--epochs", "2")
    assert resumed.exit_code == 0, resumed.output
    assert "encoding the corpus again" not in resumed.stdout
    assert os.stat(run_dir / tokens.TOKENS_FILE).st_mtime_ns == stamp  # read, not written again


def test_a_bad_byte_in_a_later_file_stops_training_before_anything_is_written(tmp_path):
    good, bad = tmp_path / "a.txt", tmp_path / "b.txt"
    good.write_text(prose(WORDS, 1, 3000), encoding="utf-8")
    bad.write_bytes(prose(WORDS, 2, 2000).encode() + b"\xc3(" + b" more text\n")
    run_dir = tmp_path / "run"
    result = invoke("train", "charlm", "--data", good, "--data", bad, "--run-dir", run_dir, *TINY)
    assert_one_error_line(result, str(bad), "not valid UTF-8", f"offset {len(prose(WORDS, 2, 2000).encode())}")
    assert not run_dir.exists()
