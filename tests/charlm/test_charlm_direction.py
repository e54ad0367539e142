"""Backward char LMs (`data.direction = "backward"`): the token file, generate, evaluate, resume,
and the per-character hidden states (`textlstm.charlm.states`).

A backward LM must be exactly a forward LM trained on the reversed text: its token file holds
the forward one's parts reversed, its score of a text T is the score of reversed T fed to the
same network, and what it generates is printed the right way round with the prompt at the end.
"""

import json
import math
import re

import numpy as np
import pytest
import tensorflow as tf

from support.cli import assert_one_error_line, invoke, prose
from textlstm.charlm import tokens as tokens_lib
from textlstm.charlm.corpus import CharVocabulary
from textlstm.charlm.model import DEFAULTS, CharStepper
from textlstm.charlm.states import CharHiddenStates
from textlstm.recipes import resolve_recipe
from textlstm.rundir import RunDir

WORDS = "the a river stone light morning quiet garden of and in under over runs sleeps bright, slowly.".split()
SEQ_LEN = 16
TINY = [
    "--set",
    "model.units=16",
    "--set",
    "model.layers=2",
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
    "--epochs",
    "2",
]


@pytest.fixture(scope="module")
def backward(tmp_path_factory):
    """`(run_dir, train_file, valid_file)` of a tiny backward run trained through the CLI; the
    validation text is 1 + a multiple of the window length, so evaluate on it equals training's."""
    root = tmp_path_factory.mktemp("backward")
    train_file, valid_file = root / "train.txt", root / "valid.txt"
    train_file.write_text(prose(WORDS, 1, 2500), encoding="utf-8")
    valid_file.write_text(prose(WORDS, 2, 600)[: SEQ_LEN * 30 + 1], encoding="utf-8")
    run_dir = root / "run"
    result = invoke(
        "train",
        "charlm",
        "--data",
        train_file,
        "--valid",
        valid_file,
        "--run-dir",
        run_dir,
        "--set",
        "data.direction=backward",
        *TINY,
    )
    assert result.exit_code == 0, result.output
    assert "read backwards" in result.output
    return run_dir, train_file, valid_file


def _recipe(data, direction, **data_settings):
    settings = [f"data.paths={json.dumps([str(p) for p in data])}", f'data.direction="{direction}"']
    settings += [f"data.{key}={json.dumps(value)}" for key, value in data_settings.items()]
    return resolve_recipe(DEFAULTS, None, settings)


@pytest.mark.parametrize("split", ["valid_fraction", "valid_file"])
def test_the_backward_token_file_holds_each_part_reversed(tmp_path, split):
    """Both parts reversed on their own (the same characters held out in both directions), with
    blocks small enough that the in-place reversal swaps many of them, across several pieces."""
    first, second, valid = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "valid.txt"
    first.write_text(prose(WORDS, 3, 900), encoding="utf-8")
    second.write_text(prose(WORDS, 4, 700), encoding="utf-8")
    valid.write_text(prose(WORDS, 5, 300), encoding="utf-8")
    extra = {"valid": str(valid)} if split == "valid_file" else {"valid_fraction": 0.2}
    corpora = {}
    for direction in ("forward", "backward"):
        data = _recipe([first, second], direction, **extra)["data"]
        train_scan, valid_scan = tokens_lib.scan_corpus(data)
        vocab = tokens_lib.vocabulary_of(train_scan, tokens_lib.split_of(data, train_scan)[0])
        run = RunDir.create(tmp_path / direction, "charlm")
        corpora[direction] = tokens_lib.build_token_file(run, data, vocab, train_scan, valid_scan)
        assert json.loads(run.file(tokens_lib.TOKENS_INFO).read_text())["direction"] == direction
        assert tokens_lib.TokenCorpus.open(run, len(vocab), data) is not None  # resume reuses it
        other = "forward" if direction == "backward" else "backward"
        assert tokens_lib.TokenCorpus.open(run, len(vocab), _recipe([first, second], other, **extra)["data"]) is None
    forward, reverse = corpora["forward"], corpora["backward"]
    assert (reverse.train_chars, reverse.valid_chars) == (forward.train_chars, forward.valid_chars)
    np.testing.assert_array_equal(np.asarray(reverse.train), np.asarray(forward.train)[::-1])
    np.testing.assert_array_equal(np.asarray(reverse.valid), np.asarray(forward.valid)[::-1])


@pytest.mark.parametrize("length", [0, 1, 2, 7, 8, 9, 64])
def test_reverse_in_place_with_small_blocks(tmp_path, length):
    path = tmp_path / "ids.bin"
    ids = np.arange(length + 3, dtype=np.uint16)
    path.write_bytes(ids.tobytes())
    import os

    handle = os.open(path, os.O_RDWR)
    try:
        tokens_lib.reverse_in_place(handle, np.uint16, 2, 2 + length, block=3)
    finally:
        os.close(handle)
    expected = ids.copy()
    expected[2 : 2 + length] = ids[2 : 2 + length][::-1]
    np.testing.assert_array_equal(np.frombuffer(path.read_bytes(), np.uint16), expected)


def _reversed_reference(model, vocab, text, seq_len):
    """Nats per character of the reversed text fed to the network window by window (the last
    window shorter), independently of textlstm's evaluation code."""
    ids = np.asarray(vocab.encode(text[::-1]), dtype=np.int32)
    total = 0.0
    for start in range(0, len(ids) - 1, seq_len):
        window = ids[start : start + seq_len + 1][None, :]
        logits = tf.cast(model(window[:, :-1], training=False), tf.float64)
        total += float(tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(window[:, 1:], logits)))
    return total / (len(ids) - 1)


def test_score_and_evaluate_read_the_text_reversed(backward, tmp_path):
    import textlstm

    run_dir = backward[0]
    lm = textlstm.load(run_dir)
    assert lm.backward
    text = prose(WORDS, 9, 200)[: SEQ_LEN * 4 + 5]
    path = tmp_path / "text.txt"
    path.write_text(text, encoding="utf-8")
    reference = _reversed_reference(lm.model, lm.vocab, text, SEQ_LEN)
    for scores in (lm.score(text), lm.evaluate(path)):
        assert scores["characters"] == len(text) - 1
        assert scores["loss"] == pytest.approx(reference, rel=1e-4)
        assert scores["bits_per_char"] == pytest.approx(reference / math.log(2), rel=1e-4)
    # reading forwards would give another number
    forward = _reversed_reference(lm.model, lm.vocab, text[::-1], SEQ_LEN)
    assert forward != pytest.approx(reference, rel=1e-3)


def test_evaluate_on_the_validation_text_reproduces_training(backward):
    run_dir, _, valid_file = backward
    state = json.loads((run_dir / "state.json").read_text())
    result = invoke("evaluate", run_dir, "--data", valid_file)
    assert result.exit_code == 0, result.output
    loss = float(re.search(r"loss: ([0-9.]+)", result.stdout).group(1))
    assert loss == pytest.approx(state["best"], abs=1e-3)


def test_generate_puts_the_prompt_at_the_end(backward):
    """The text generated leftwards, printed the right way round: greedy decoding from the
    reversed prompt, reversed, then the prompt, on the CLI, in the API and in the stream."""
    import textlstm
    from textlstm.charlm.generate import sample_chunks
    from textlstm.decoding.samplers import choose_sampler

    run_dir = backward[0]
    lm = textlstm.load(run_dir)
    prompt = "the river"
    _, chooser = choose_sampler(lm.recipe["decode"], "greedy", None, None, None)
    tokens = np.concatenate(list(sample_chunks(CharStepper(lm.model), lm.vocab, prompt[::-1], 30, chooser, 0)), axis=1)
    expected = lm.vocab.decode(tokens[0][::-1])
    assert lm.generate(prompt, 30, sampler="greedy") == [expected]
    assert "".join(lm.stream(prompt, 30, sampler="greedy")) == expected
    assert lm.with_prompt(prompt, expected) == expected + prompt
    result = invoke("generate", run_dir, "--prompt", prompt, "--length", 30, "--greedy")
    assert result.exit_code == 0, result.output
    assert result.stdout == expected + prompt + "\n"
    several = invoke("generate", run_dir, "--prompt", prompt, "--length", 30, "--num-samples", 2, "--seed", 4)
    assert several.exit_code == 0, several.output
    texts = lm.generate(prompt, 30, seed=4, num_samples=2)
    assert several.stdout == "".join(f"--- sample {i + 1} ---\n{text}{prompt}\n" for i, text in enumerate(texts))


def test_inspect_and_saved_model_export_refuse_a_backward_run(backward, tmp_path):
    run_dir = backward[0]
    assert_one_error_line(
        invoke("inspect", run_dir, "--prompt", "the river", "--out", tmp_path / "r.html"), "backward char LM"
    )
    assert not (tmp_path / "r.html").exists()
    assert_one_error_line(invoke("export", run_dir, tmp_path / "out"), "backward char LM", "onnx")
    assert not (tmp_path / "out").exists()


def test_a_direction_that_is_not_one_is_refused(tmp_path):
    result = invoke("train", "charlm", "--run-dir", tmp_path / "run", "--set", "data.direction=sideways")
    assert_one_error_line(result, "data.direction", "forward, backward", "sideways")
    assert not (tmp_path / "run").exists()


# --- hidden states ---------------------------------------------------------------------------


def _stepper_states(model, vocab, text):
    """The top layer's hidden state after each character, one step at a time (the generator's cells)."""
    stepper = CharStepper(model)
    state = stepper.initial_state(1)
    rows = []
    for char_id in vocab.encode(text):
        _, state = stepper(tf.constant([char_id]), state)
        rows.append(np.asarray(state[-1][0][0]))
    return np.stack(rows)


def test_hidden_states_follow_the_reading_order(backward):
    states = CharHiddenStates(backward[0])
    assert states.backward and states.units == 16
    texts = ["the river runs", "a", "", "quiet garden of stone"]
    batched = states(texts, batch_size=3)
    for text, rows in zip(texts, batched, strict=True):
        assert rows.shape == (len(text), 16) and rows.dtype == np.float32
        np.testing.assert_allclose(rows, states(text), atol=1e-6)  # padding in a batch changes nothing
        if text:
            reading = _stepper_states(states.model, states.vocab, text[::-1])  # a backward LM reads it reversed
            np.testing.assert_allclose(rows, reading, atol=1e-5)
            np.testing.assert_allclose(states(text, order="text"), reading[::-1], atol=1e-5)
    lower = CharHiddenStates(backward[0], layer=0)
    assert not np.allclose(lower("the river"), states("the river"))
    with pytest.raises(Exception, match="layer must be between -2 and 1"):
        CharHiddenStates(backward[0], layer=2)
    with pytest.raises(Exception, match="order must be one of reading, text"):
        states("abc", order="sideways")


def test_a_forward_run_reads_left_to_right(tmp_path):
    """The same helper on a forward run: row i is the state after text[:i + 1] in both orders."""
    text_file = tmp_path / "train.txt"
    text_file.write_text(prose(WORDS, 6, 1200), encoding="utf-8")
    run_dir = tmp_path / "run"
    result = invoke(
        "train",
        "charlm",
        "--data",
        text_file,
        "--run-dir",
        run_dir,
        *TINY[:-2],
        "--epochs",
        "1",
        "--set",
        "train.steps_per_epoch=1",
    )
    assert result.exit_code == 0, result.output
    states = CharHiddenStates(run_dir)
    assert not states.backward
    text = "slowly the light"
    expected = _stepper_states(states.model, states.vocab, text)
    np.testing.assert_allclose(states(text), expected, atol=1e-5)
    np.testing.assert_allclose(states(text, order="text"), expected, atol=1e-5)
    assert isinstance(states.vocab, CharVocabulary)
