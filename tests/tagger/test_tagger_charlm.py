"""Char-LM features in the tagger (Akbik et al. 2018): which hidden state each word gets, the
self-contained run directory, tag/evaluate from it, exact resume with frozen features, and
fine-tuning that changes the LM weights. Tiny LMs are trained here for a few steps."""

import json
import shutil

import numpy as np
import pytest

import textlstm
from support.cli import assert_one_error_line, invoke
from support.tagger_data import conll_text
from textlstm.api import Tagger
from textlstm.charlm.model import DEFAULTS as CHARLM_DEFAULTS
from textlstm.charlm.train import train_charlm
from textlstm.errors import UserError
from textlstm.recipes import resolve_recipe
from textlstm.rundir import load_keras_model
from textlstm.tagger import conll
from textlstm.tagger.charlm_features import CharLMSet, LanguageModel, lm_text_and_positions, sentence_text
from textlstm.tagger.model import DEFAULTS as TAGGER_DEFAULTS
from textlstm.tagger.train import train_tagger

LM_TINY = [
    "data.seq_len=16",
    "model.units=6",
    "model.layers=2",
    "model.embedding_dim=4",
    "train.batch_size=4",
    "train.steps_per_epoch=2",
    "train.epochs=1",
    "data.valid_fraction=0.2",
    "train.seed=3",
    "decode.length=20",
]


def _train_lm(root, name, text_path, direction):
    settings = LM_TINY + [f"data.paths={json.dumps([str(text_path)])}", f"data.direction={json.dumps(direction)}"]
    recipe = resolve_recipe(CHARLM_DEFAULTS, None, settings)
    run_dir = root / name
    train_charlm(recipe, run_dir)
    return run_dir


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("tagger-charlm")
    (root / "train.conll").write_text(conll_text(1, 16), encoding="utf-8")
    (root / "dev.conll").write_text(conll_text(2, 6), encoding="utf-8")
    text = "".join(
        " ".join(tokens) + "\n"
        for tokens in (
            [line.split("\t")[0] for line in block.splitlines() if "\t" in line and line.strip()]
            for block in conll_text(3, 60).split("\n\n")
        )
    )
    (root / "lm.txt").write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def lms(data):
    return [_train_lm(data, "lm-fw", data / "lm.txt", "forward"), _train_lm(data, "lm-bw", data / "lm.txt", "backward")]


TAGGER_TINY = [
    "model.units=6",
    "model.word_dim=6",
    "model.char_dim=4",
    "model.char_units=4",
    "model.dropout=0.3",
    "model.word_dropout=0.1",
    "train.batch_size=4",
    "train.epochs=2",
    "train.steps_per_epoch=3",
    "train.seed=5",
]


def _tagger_recipe(data, lm_dirs, *settings):
    return resolve_recipe(
        TAGGER_DEFAULTS,
        None,
        [
            f"data.train={json.dumps(str(data / 'train.conll'))}",
            f"data.dev={json.dumps(str(data / 'dev.conll'))}",
            *TAGGER_TINY,
            f"model.charlm={json.dumps([str(path) for path in lm_dirs])}",
            *settings,
        ],
    )


def test_sentence_text_and_positions():
    text, starts, ends = sentence_text(["Anna", "sees", "a", "dog"])
    assert text == " Anna sees a dog "
    assert [text[i] for i in starts] == ["A", "s", "a", "d"] and [text[i] for i in ends] == ["a", "s", "a", "g"]
    backward, positions = lm_text_and_positions(["Anna", "sees", "a", "dog"], "backward")
    assert backward == text[::-1] and [backward[i] for i in positions] == ["A", "s", "a", "d"]
    assert [backward[: i + 1][::-1] for i in positions][0] == "Anna sees a dog "  # read right to left up to "A"


def test_tagging_batches_follow_the_lm_text_length_with_the_short_batch_first():
    """Per-batch LM features: batches of similar text lengths (the LMs step once per character of
    the longest text), every example once, the remainder batch first and shortest."""
    from textlstm.tagger.data import Example, sorted_batches

    rng = np.random.default_rng(0)
    token_counts, char_counts = rng.integers(1, 12, 70), rng.integers(5, 90, 70)

    def example(tokens, characters, features=None):
        return Example(
            0,
            0,
            np.ones(tokens, np.int32),
            [],
            None,
            lm_inputs=[(np.ones(characters, np.int32), np.zeros(tokens, np.int32))],
            lm_features=features,
        )

    examples = [example(t, c) for t, c in zip(token_counts, char_counts)]
    batches = sorted_batches(examples, 32)
    assert [len(batch) for batch in batches] == [6, 32, 32]
    order = np.concatenate(batches)
    assert sorted(order.tolist()) == list(range(70))
    assert np.all(np.diff(char_counts[order]) >= 0)
    frozen = [example(t, c, np.zeros((t, 2), np.float32)) for t, c in zip(token_counts, char_counts)]
    assert np.all(np.diff(token_counts[np.concatenate(sorted_batches(frozen, 32))]) >= 0)  # features computed: tokens
    assert sorted_batches([], 32) == []


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_features_are_the_lm_hidden_states_at_word_boundaries(lms, direction):
    """Word i's feature is the LM's state after the word's last character (forward) or after reading,
    right to left, its first character (backward), by the char LM's own `CharHiddenStates`."""
    from textlstm.charlm.states import CharHiddenStates
    from textlstm.tagger import data as data_lib
    from textlstm.tagger.vocab import Vocabulary

    lm_dir = lms[0] if direction == "forward" else lms[1]
    charlm = CharLMSet.open_sources([lm_dir])
    assert charlm.lms[0].direction == direction
    sentences = [
        conll.Sentence(tokens=["Anna", "sees", "the", "dog"]),
        conll.Sentence(tokens=["Bob", "runs§"]),
        conll.Sentence(tokens=["Oslo"] * 7),
    ]
    vocab = Vocabulary(["x"])
    examples = data_lib.encode_sentences(sentences, vocab, vocab, max_len=5)  # the third is read in 2 chunks
    charlm.encode(examples, sentences)
    charlm.attach_features(examples, batch_size=2)
    reference = CharHiddenStates(lm_dir)
    for example in examples:
        tokens = sentences[example.sentence].tokens[example.start : example.start + len(example)]
        text, starts, ends = sentence_text(tokens)
        states = reference(text, order="text")  # row j: the state right after the LM read text[j]
        at = ends if direction == "forward" else starts
        assert example.lm_features.shape == (len(tokens), 6)
        np.testing.assert_allclose(example.lm_features, states[at], rtol=1e-5, atol=1e-6)
    lm = charlm.lms[0]
    assert "§" not in lm.vocab.index  # an unknown character reads as the unknown id
    reading, _ = lm_text_and_positions(["runs§"], direction)
    assert lm.encode(["runs§"])[0][reading.index("§")] == lm.vocab.unknown_id


@pytest.fixture(scope="module")
def frozen_run(data, lms, tmp_path_factory):
    """Trained by the command line: `--charlm RUN` is model.charlm, frozen by default."""
    run_dir = tmp_path_factory.mktemp("frozen") / "run"
    sets = [arg for setting in TAGGER_TINY for arg in ("--set", setting)]
    result = invoke(
        "train",
        "tagger",
        "--train",
        data / "train.conll",
        "--dev",
        data / "dev.conll",
        "--charlm",
        lms[0],
        "--charlm",
        lms[1],
        "--run-dir",
        run_dir,
        *sets,
    )
    assert result.exit_code == 0, result.output
    assert "char LMs (frozen, 12 features per word): forward 2x6 lstm (" in result.output
    assert ", backward 2x6 lstm (" in result.output
    return run_dir


def test_run_is_self_contained_and_tags_and_evaluates(data, lms, frozen_run, tmp_path):
    moved = [tmp_path / "lm-fw", tmp_path / "lm-bw"]
    copied = tmp_path / "copied-run"
    shutil.copytree(frozen_run, copied)
    before = Tagger(frozen_run).tag_sentences([conll.Sentence(tokens=["Anna", "sees", "the", "dog"])])
    for lm, away in zip(lms, moved):
        shutil.move(lm, away)  # the LM run directories are gone: the tagger run needs none of them
    try:
        tagger = textlstm.load(copied)  # the Python API, as `tag` and `evaluate` use it
        assert [lm.direction for lm in tagger.charlm.lms] == ["forward", "backward"]
        assert tagger.tag([["Anna", "sees", "the", "dog"]]) == before
        output = tagger.tag_file(data / "dev.conll")
        assert len(output.splitlines()) == len((data / "dev.conll").read_text().splitlines())
        result = tagger.evaluate(data / "dev.conll")
        assert result["tokens"] > 0 and 0.0 <= result["accuracy"] <= 1.0
        nbest = tagger.tag(["Anna sees the dog"], n_best=2)
        assert nbest[0][0]["tags"] == before[0]
    finally:
        for lm, away in zip(lms, moved):
            shutil.move(away, lm)


def test_tags_do_not_depend_on_the_batching(frozen_run):
    """Features computed per batch: the same tags whichever sentences share a batch."""
    tagger = Tagger(frozen_run)
    sentences = [
        ["Anna", "sees", "the", "dog"],
        ["Bob"],
        ["Oslo", "is", "a", "city", "in", "Norway", "today"],
        ["a", "dog", "sees", "Anna"],
        ["the", "city"],
    ]
    parsed = [conll.Sentence(tokens=tokens) for tokens in sentences]
    alone = [tagger.tag_sentences([sentence], batch_size=1)[0] for sentence in parsed]
    assert tagger.tag_sentences(parsed, batch_size=2) == tagger.tag_sentences(parsed, batch_size=4) == alone


def test_frozen_lm_weights_are_the_sources_and_not_in_the_tagger(frozen_run, lms):
    for k, lm in enumerate(lms):
        copy, source = LanguageModel.open(frozen_run / "charlm" / str(k)), LanguageModel.open(lm)
        assert copy.direction == source.direction and copy.vocab.chars == source.vocab.chars
        for mine, theirs in zip(copy.model.weights, source.model.weights, strict=True):
            np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))
    model = load_keras_model(frozen_run / "last.keras")
    assert [layer.name for layer in model.layers if layer.name.startswith("charlm")] == ["charlm_features"]


def test_resume_with_frozen_features_is_bit_for_bit(data, lms, frozen_run, tmp_path, monkeypatch):
    from support.interrupts import stop_at
    from textlstm.errors import Interrupted

    run_dir = tmp_path / "run"
    stop_at(monkeypatch, 4, KeyboardInterrupt)
    with pytest.raises(Interrupted):
        train_tagger(_tagger_recipe(data, lms), run_dir)
    monkeypatch.undo()
    train_tagger(_tagger_recipe(data, lms), run_dir, resume=True)
    ours, theirs = (load_keras_model(path / "last.keras", compile=True) for path in (run_dir, frozen_run))
    assert int(ours.optimizer.iterations.numpy()) == 6
    for mine, expected in zip(
        ours.weights + ours.optimizer.variables, theirs.weights + theirs.optimizer.variables, strict=True
    ):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(expected), err_msg=mine.path)


def test_trainable_lms_are_fine_tuned(data, lms, tmp_path):
    run_dir = tmp_path / "run"
    train_tagger(_tagger_recipe(data, lms[:1], "model.charlm_trainable=true", "train.epochs=1"), run_dir)
    model = load_keras_model(run_dir / "last.keras")
    layer = model.get_layer("charlm_0")
    source = LanguageModel.open(lms[0]).model
    for tuned_layer, start_layer in [
        (layer.embedding, source.get_layer("embedding")),
        (layer.rnns[0], source.get_layer("rnn_0")),
        (layer.rnns[1], source.get_layer("rnn_1")),
    ]:
        tuned, start = tuned_layer.get_weights(), start_layer.get_weights()
        changed = max(float(np.max(np.abs(a - b))) for a, b in zip(tuned, start))
        assert 0.0 < changed < 0.05, (tuned_layer.name, changed)  # fine-tuned from the LM's weights, saved
    assert tagger_output_is_stable(run_dir)
    from textlstm.doctor import recurrent_layers_of

    assert [path for path, _ in recurrent_layers_of(model) if "charlm" in path]  # doctor sees the LM layers


@pytest.mark.parametrize("trainable", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["frozen", "fine-tuned"])
def test_mirrored_training_with_lm_features_follows_one_device(data, lms, tmp_path, trainable):
    """`--strategy mirrored` over two logical CPUs, in a fresh process (TensorFlow fixes its devices
    when it starts): the weights and the reported losses of a one-device run up to float rounding
    (the replicas' gradients are summed in another order). Dropout off and a clip norm never
    reached, as in tests/training/test_distributed_training.py, so the two runs draw and clip nothing
    differently. Then a batch the replicas cannot share evenly is refused in one line."""
    import csv
    import subprocess
    import sys

    from support.processes import ROOT, WORKER_TIMEOUT, environment

    settings = TAGGER_TINY + [
        "model.dropout=0.0",
        "model.word_dropout=0.0",
        "train.clipnorm=1000.0",
        f"model.charlm_trainable={str(trainable).lower()}",
    ]
    sets = [str(arg) for setting in settings for arg in ("--set", setting)]

    def command(strategy, *more):
        return [
            "train",
            "tagger",
            "--train",
            str(data / "train.conll"),
            "--dev",
            str(data / "dev.conll"),
            "--charlm",
            str(lms[0]),
            "--charlm",
            str(lms[1]),
            "--run-dir",
            str(tmp_path / strategy),
            "--strategy",
            strategy,
            *sets,
            *more,
        ]

    spec = {
        "logical_cpus": 2,
        "commands": [
            command("mirrored"),
            command("one-device"),
            command("mirrored", "--set", "train.batch_size=1", "--run-dir", str(tmp_path / "too-small")),
        ],
    }
    result = subprocess.run(
        [sys.executable, "-m", "tests.support.distributed_runs", json.dumps(spec)],
        cwd=ROOT,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=WORKER_TIMEOUT,
    )
    assert result.returncode != 0 and "strategy: mirrored over 2 devices" in result.stdout, result.stderr[-3000:]
    assert (
        "train.batch_size=1 is not a multiple of the 2 replicas of this strategy (each takes an equal part "
        "of every batch); use --set train.batch_size=2 or another multiple of 2"
    ) in result.stderr  # the last command, before any work
    assert not (tmp_path / "too-small").exists()
    mirrored, single = (load_keras_model(tmp_path / name / "last.keras") for name in ("mirrored", "one-device"))
    assert len(mirrored.weights) == len(single.weights)
    for mine, expected in zip(mirrored.weights, single.weights, strict=True):
        np.testing.assert_allclose(np.asarray(mine), np.asarray(expected), atol=1e-5, err_msg=mine.path)
    losses = [
        [float(row["loss"]) for row in csv.DictReader(open(tmp_path / name / "metrics.csv"))]
        for name in ("mirrored", "one-device")
    ]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)  # each replica's share, not their sum
    tagged = Tagger(tmp_path / "mirrored").tag_sentences([conll.Sentence(tokens=["Anna", "sees", "the", "dog"])])
    assert len(tagged[0]) == 4


def tagger_output_is_stable(run_dir):
    tagger = Tagger(run_dir)
    sentence = [conll.Sentence(tokens=["Bob", "finds", "the", "stone"])]
    return tagger.tag_sentences(sentence) == tagger.tag_sentences(sentence + sentence)[:1]


def test_not_a_char_lm_is_one_line(data, frozen_run, tmp_path):
    with pytest.raises(UserError, match="holds a 'tagger' model, not a 'charlm' model"):
        train_tagger(_tagger_recipe(data, [frozen_run]), tmp_path / "run")
    assert not (tmp_path / "run").exists()
    result = invoke(
        "train",
        "tagger",
        "--train",
        data / "train.conll",
        "--dev",
        data / "dev.conll",
        "--charlm",
        tmp_path / "missing",
        "--run-dir",
        tmp_path / "run",
    )
    assert_one_error_line(result, "missing")
    assert not (tmp_path / "run").exists()


def test_export_refuses_a_tagger_with_lm_features(frozen_run, tmp_path):
    result = invoke("export", frozen_run, tmp_path / "out")
    assert_one_error_line(result, "char-LM features")
    assert not (tmp_path / "out").exists()


def test_a_subword_lm_is_refused_in_one_line(tmp_path):
    """A subword run has no character vocabulary: the refusal names the unit, not a missing file."""
    from textlstm.rundir import RunDir

    recipe = resolve_recipe(CHARLM_DEFAULTS, None, ['data.unit="subword"'])
    RunDir.create(tmp_path / "sub", "charlm").write_recipe(recipe)
    with pytest.raises(UserError, match="sub is a char LM of subword units; word features need one state"):
        LanguageModel.open(tmp_path / "sub")
