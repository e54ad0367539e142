"""Subword LMs (`data.unit = "subword"`): the SentencePiece vocabulary, the token file of pieces,
bits per character in training, evaluate and score, generate, resume and the refusals.

The segmentation must be lossless (every text decodes back to itself, also characters the
model never saw, through byte pieces), and every number reported per character must be the
nats of the predicted pieces over the characters those pieces stand for, computed here
independently from the SentencePiece model and the network.
"""

import csv
import hashlib
import json
import math
import re

import numpy as np
import pytest
import tensorflow as tf

from support.cli import assert_one_error_line, invoke, prose
from textlstm.charlm import subword as subword_lib
from textlstm.charlm import tokens as tokens_lib
from textlstm.charlm.model import DEFAULTS
from textlstm.recipes import resolve_recipe
from textlstm.rundir import RunDir
from textlstm.textio import TextPiece

WORDS = (
    "the a river stone light morning quiet garden of and in under over runs sleeps finds green old "
    "small bright, slowly. again; window door road hill"
).split()
SEQ_LEN = 12
TINY = [
    "--set",
    "data.unit=subword",
    "--set",
    "data.vocab_size=320",
    "--set",
    "model.units=16",
    "--set",
    "model.layers=1",
    "--set",
    "model.embedding_dim=8",
    "--set",
    f"data.seq_len={SEQ_LEN}",
    "--set",
    "train.batch_size=4",
    "--set",
    "train.steps_per_epoch=5",
    "--set",
    "train.learning_rate=0.02",
    "--set",
    "model.dropout=0.0",
]
TRICKY = "Über  the\triver\n\n   ☃ snow — «quiet» 東京\n"  # doubled spaces, a tab, blank lines, unseen characters


def _vocabulary(text, vocab_size=320):
    scan = tokens_lib.scan([(TextPiece(literal=text), text)])
    return subword_lib.train_vocabulary(scan, len(text), vocab_size)[0]


@pytest.fixture(scope="module")
def vocab():
    return _vocabulary(prose(WORDS, 1, 3000))


def test_pieces_are_lossless_and_count_characters(vocab):
    assert len(vocab) == 320 and vocab.unit == "subword"
    text = prose(WORDS, 2, 300) + TRICKY
    ids = vocab.encode(text)
    assert vocab.decode(ids) == text  # also the characters the model never saw (byte pieces)
    assert vocab.processor.decode(ids.tolist()) == text  # our decoding table is SentencePiece's own
    assert len(ids) < 0.6 * len(text)  # pieces, not characters
    assert vocab.characters(ids) == len(text)
    assert vocab.characters(ids[1:]) == len(text) - len(vocab.decode(ids[:1]))
    assert vocab.unknown_chars(text) == []
    for chars in (1, 5, len(text) // 2, len(text)):
        count = vocab.ids_for_chars(ids, chars)
        assert vocab.characters(ids[:count]) >= chars > vocab.characters(ids[: count - 1])
    assert vocab.ids_for_chars(ids, len(text) + 10) == len(ids)
    assert set(vocab.banned_ids) == {0, 1, 2, 3}


def test_the_stream_decoder_joins_a_character_split_between_chunks(vocab):
    ids = vocab.encode("a ☃ b")  # the snowman is three byte pieces
    decode = vocab.stream_decoder()
    parts = [decode(ids[i : i + 1]) for i in range(len(ids))]
    assert "".join(parts) == "a ☃ b"
    assert "\ufffd" not in "".join(parts)


@pytest.mark.parametrize("cut", [1, 7, 50, 333])
def test_the_encoder_gives_the_same_pieces_however_the_text_is_cut(vocab, cut):
    text = prose(WORDS, 3, 900) + TRICKY
    encoder = tokens_lib.SubwordEncoder(vocab)
    parts = [encoder(text[i : i + cut]) for i in range(0, len(text), cut)] + [encoder.flush()]
    np.testing.assert_array_equal(np.concatenate(parts), vocab.encode(text))
    assert parts[0].dtype == np.uint16


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_the_token_file_holds_the_pieces_of_each_part(tmp_path, direction):
    """The held-out end of the text is encoded on its own (a piece never spans the cut), and a
    backward run holds each part's pieces reversed."""
    text = prose(WORDS, 4, 2000)
    path = tmp_path / "train.txt"
    path.write_text(text, encoding="utf-8")
    data = resolve_recipe(
        DEFAULTS,
        None,
        [
            f"data.paths={json.dumps([str(path)])}",
            'data.unit="subword"',
            "data.vocab_size=320",
            f'data.direction="{direction}"',
        ],
    )["data"]
    train_scan, valid_scan = tokens_lib.scan_corpus(data)
    train_chars, valid_chars = tokens_lib.split_of(data, train_scan)
    vocab, _ = subword_lib.train_vocabulary(train_scan, train_chars, 320)
    run = RunDir.create(tmp_path / "run", "charlm")
    corpus = tokens_lib.build_token_file(run, data, vocab, train_scan, valid_scan)
    order = slice(None, None, -1) if direction == "backward" else slice(None)
    np.testing.assert_array_equal(np.asarray(corpus.train), vocab.encode(text[:train_chars])[order])
    np.testing.assert_array_equal(np.asarray(corpus.valid), vocab.encode(text[train_chars:])[order])
    assert corpus.text_chars == (train_chars, valid_chars)
    counted = tokens_lib.ids_at_least(vocab, data, train_scan, valid_scan, train_chars, valid_chars, 10**9)
    assert counted == (corpus.train_chars, corpus.valid_chars)  # exact where the bounds are not enough
    reopened = tokens_lib.TokenCorpus.open(run, len(vocab), data)
    assert reopened.text_chars == corpus.text_chars and reopened.train_chars == corpus.train_chars
    other = dict(data, vocab_size=400)
    assert tokens_lib.TokenCorpus.open(run, len(vocab), other) is None  # another vocabulary: encode again


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("subword")
    train_file, valid_file = root / "train.txt", root / "valid.txt"
    train_file.write_text(prose(WORDS, 5, 4000), encoding="utf-8")
    valid_file.write_text(prose(WORDS, 6, 800), encoding="utf-8")
    run_dir = root / "run"
    result = invoke(
        "train", "charlm", "--data", train_file, "--valid", valid_file, "--run-dir", run_dir, *TINY, "--epochs", "2"
    )
    assert result.exit_code == 0, result.output
    return run_dir, train_file, valid_file, result


def _reference(model, ids, seq_len, whole_windows_only=False):
    """(summed nats, ids predicted) window by window from a zero state, the last window shorter."""
    total, predicted = 0.0, 0
    for start in range(0, len(ids) - 1, seq_len):
        window = np.asarray(ids[start : start + seq_len + 1], np.int32)[None, :]
        if whole_windows_only and window.shape[1] < seq_len + 1:
            break
        logits = tf.cast(model(window[:, :-1], training=False), tf.float64)
        total += float(tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(window[:, 1:], logits)))
        predicted += window.shape[1] - 1
    return total, predicted


def test_training_reports_bits_per_character_of_the_pieces(trained):
    """The run keeps its SentencePiece model (no vocab.json); each epoch's val_bpc is the
    validation windows' nats over the characters their predicted pieces stand for."""
    import textlstm
    from textlstm.training import load_keras_model

    run_dir, _, valid_file, result = trained
    assert (run_dir / "subwords.model").is_file() and not (run_dir / "vocab.json").exists()
    assert "pieces" in result.output and "bits/char" in result.output
    with open(run_dir / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    lm = textlstm.load(run_dir)
    assert "320 pieces" in repr(lm)
    ids = lm.vocab.encode(valid_file.read_text(encoding="utf-8"))
    model = load_keras_model(run_dir / "last.keras")
    nats, predicted = _reference(model, ids, SEQ_LEN, whole_windows_only=True)
    chars = lm.vocab.characters(ids[1 : 1 + predicted])
    assert float(rows[-1]["val_loss"]) == pytest.approx(nats / predicted, rel=1e-4)
    assert float(rows[-1]["val_bpc"]) == pytest.approx(nats / chars / math.log(2), rel=1e-4)
    assert float(rows[-1]["val_bpc"]) < float(rows[-1]["val_loss"]) / math.log(2)  # pieces hold > 1 character


def test_evaluate_and_score_divide_the_nats_by_characters(trained, tmp_path):
    import textlstm

    run_dir = trained[0]
    lm = textlstm.load(run_dir)
    text = prose(WORDS, 7, 400) + TRICKY
    path = tmp_path / "text.txt"
    path.write_text(text, encoding="utf-8")
    ids = lm.vocab.encode(text)
    nats, predicted = _reference(lm.model, ids, SEQ_LEN)
    chars = lm.vocab.characters(ids[1:])
    for scores in (lm.score(text), lm.evaluate(path)):
        assert scores["tokens"] == predicted == len(ids) - 1
        assert scores["characters"] == chars
        assert scores["loss_per_token"] == pytest.approx(nats / predicted, rel=1e-4)
        assert scores["bits_per_char"] == pytest.approx(nats / chars / math.log(2), rel=1e-4)
        assert scores["loss"] == pytest.approx(nats / chars, rel=1e-4)
    result = invoke("evaluate", run_dir, "--data", path)
    assert result.exit_code == 0, result.output
    assert re.search(rf"characters: {chars:,} .*\npieces: {predicted:,} ", result.stdout), result.stdout


def test_generate_decodes_pieces(trained):
    import textlstm
    from textlstm.charlm.generate import sample_chunks
    from textlstm.charlm.model import CharStepper
    from textlstm.decoding.samplers import choose_sampler

    run_dir = trained[0]
    lm = textlstm.load(run_dir)
    _, chooser = choose_sampler(lm.recipe["decode"], "temperature", 5.0, None, None)
    ids = np.concatenate(
        list(sample_chunks(CharStepper(lm.model), lm.vocab, "The river", 200, chooser, 3, num_samples=2, chunk=7)),
        axis=1,
    )
    assert ids.shape == (2, 200)
    assert not set(ids.ravel().tolist()) & set(lm.vocab.banned_ids)  # control pieces are never sampled
    texts = lm.generate("The river", 200, temperature=5.0, seed=3, num_samples=2)
    assert texts == [lm.vocab.decode(row) for row in ids]
    assert "".join(lm.stream("The river", 200, temperature=5.0, seed=3, chunk=7)) == texts[0]
    result = invoke("generate", run_dir, "--prompt", "The river", "--length", 200, "--temperature", 5.0, "--seed", 3)
    assert result.exit_code == 0, result.output
    assert result.stdout == "The river" + texts[0] + "\n"


def test_resume_reuses_the_pieces_and_the_token_file(trained, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(trained[0], run_dir)
    model_hash = hashlib.sha256((run_dir / "subwords.model").read_bytes()).hexdigest()
    result = invoke("train", "charlm", "--run-dir", run_dir, "--resume", "--epochs", "3")
    assert result.exit_code == 0, result.output
    assert "encoding the corpus again" not in result.output
    assert hashlib.sha256((run_dir / "subwords.model").read_bytes()).hexdigest() == model_hash
    assert json.loads((run_dir / "state.json").read_text())["epoch"] == 3


def test_a_damaged_subword_model_is_one_line(trained, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(trained[0], run_dir)
    (run_dir / "subwords.model").write_bytes(b"not a model")
    assert_one_error_line(invoke("generate", run_dir, "--length", 5), "subwords.model")
    (run_dir / "subwords.model").unlink()
    assert_one_error_line(invoke("evaluate", run_dir, "--data", trained[2]), "subwords.model")


def test_commands_that_need_characters_refuse_a_subword_run(trained, tmp_path):
    from textlstm.charlm.states import CharHiddenStates
    from textlstm.errors import UserError

    run_dir = trained[0]
    assert_one_error_line(
        invoke("inspect", run_dir, "--prompt", "the river", "--out", tmp_path / "r.html"), "subword LM"
    )
    assert_one_error_line(invoke("export", run_dir, tmp_path / "out"), "subword LM", "onnx")
    with pytest.raises(UserError, match="data.unit"):
        CharHiddenStates(run_dir)


@pytest.mark.parametrize("setting, fragment", [("data.unit=word", "char, subword"), ("data.vocab_size=100", ">= 300")])
def test_bad_subword_settings_are_refused(tmp_path, setting, fragment):
    result = invoke("train", "charlm", "--run-dir", tmp_path / "run", "--set", setting)
    assert_one_error_line(result, setting.split("=")[0], fragment)
    assert not (tmp_path / "run").exists()


def test_a_text_too_short_in_pieces_is_refused_before_anything_is_written(tmp_path):
    """Enough characters for one batch of character windows, too few pieces: counted exactly."""
    path, valid = tmp_path / "train.txt", tmp_path / "valid.txt"
    path.write_text(prose(WORDS, 8, 700), encoding="utf-8")
    valid.write_text(prose(WORDS, 9, 700), encoding="utf-8")
    result = invoke(
        "train",
        "charlm",
        "--data",
        path,
        "--valid",
        valid,
        "--run-dir",
        tmp_path / "run",
        *TINY,
        "--set",
        "train.batch_size=40",
    )
    assert_one_error_line(result, "pieces", "windows of data.seq_len=12")
    assert not (tmp_path / "run").exists()


def test_a_vocabulary_too_small_for_the_characters_is_one_clear_error():
    from textlstm.errors import UserError

    text = "\n".join(" ".join(chr(0x4E00 + (i * 7 + j) % 120) * 3 for j in range(10)) for i in range(200))
    with pytest.raises(UserError, match=r"data.vocab_size=300 is too small for this text: .* need at least 3\d\d"):
        _vocabulary(text, 300)
