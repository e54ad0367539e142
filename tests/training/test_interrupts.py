"""Ctrl-C at any moment of a training: one line, exit status 130, and a run that `--resume` continues.

Each moment is reached deterministically by making the code that runs there raise
KeyboardInterrupt (what Python's SIGINT handler does): the data reader, SentencePiece's
sentence stream, the first call of fit (before the optimizer exists), the final evaluation
and the sample. For every model family a run stopped before its first step resumes to
weights and optimizer variables bit-identical to a run that was never interrupted. One
test sends a real SIGINT to a training process once it has said it trains its subword models.
"""

import json
import os
import pathlib
import re
import shlex
import signal
import subprocess
import sys

import pytest

from support import weights as support_weights
from support.cli import invoke
from support.corpora import write_tiny_corpora
from textlstm import interrupts, training
from textlstm.charlm.model import DEFAULTS as CHARLM_DEFAULTS
from textlstm.charlm.train import train_charlm
from textlstm.errors import Interrupted
from textlstm.recipes import resolve_recipe
from textlstm.seq2seq import subwords
from textlstm.seq2seq.model import DEFAULTS as SEQ2SEQ_DEFAULTS
from textlstm.seq2seq.train import train_seq2seq
from textlstm.tagger.model import DEFAULTS as TAGGER_DEFAULTS
from textlstm.tagger.train import train_tagger

ROOT = pathlib.Path(__file__).resolve().parents[2]
SPE, EPOCHS = 3, 1  # every run here: 3 optimizer steps
AT_STEP_0 = re.compile(r"interrupted at step 0; continue with: textlstm train (\w+) --run-dir .* --resume")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    return write_tiny_corpora(
        root, 3, 40, 16, 4, pairs=80, dev_pairs=6, max_words=6, target=lambda s: " ".join(reversed(s.split())).upper()
    )


def _settings(values):
    return [f"{key}={json.dumps(value)}" for key, value in values.items()]


SCHEDULE = {"train.steps_per_epoch": SPE, "train.epochs": EPOCHS}
RECIPES = {  # dropout on: resuming must also give the uninterrupted dropout masks
    "charlm": lambda root: resolve_recipe(
        CHARLM_DEFAULTS,
        None,
        _settings(
            {
                **SCHEDULE,
                "data.paths": [str(root / "corpus.txt")],
                "data.seq_len": 12,
                "model.units": 8,
                "model.layers": 1,
                "model.embedding_dim": 4,
                "model.dropout": 0.3,
                "train.batch_size": 4,
                "train.seed": 7,
            }
        ),
    ),
    "tagger": lambda root: resolve_recipe(
        TAGGER_DEFAULTS,
        None,
        _settings(
            {
                **SCHEDULE,
                "data.train": str(root / "train.conllu"),
                "data.dev": str(root / "dev.conllu"),
                "model.units": 6,
                "model.word_dim": 6,
                "model.char_dim": 4,
                "model.char_units": 4,
                "model.dropout": 0.5,
                "model.word_dropout": 0.1,
                "train.batch_size": 4,
                "train.seed": 5,
            }
        ),
    ),
    "seq2seq": lambda root: resolve_recipe(
        SEQ2SEQ_DEFAULTS,
        None,
        _settings(
            {
                **SCHEDULE,
                "data.tsv": str(root / "train.tsv"),
                "data.valid_tsv": str(root / "dev.tsv"),
                "data.vocab_size": 30,
                "model.units": 8,
                "model.embedding_dim": 6,
                "model.dropout": 0.3,
                "train.batch_size": 8,
                "train.bleu_sentences": 4,
                "decode.max_length": 8,
                "train.seed": 3,
            }
        ),
    ),
}
TRAIN = {"charlm": train_charlm, "tagger": train_tagger, "seq2seq": train_seq2seq}
READERS = {
    "charlm": "textlstm.charlm.tokens.scan_corpus",
    "tagger": "textlstm.tagger.corpus.read_tagged",
    "seq2seq": "textlstm.seq2seq.data.read_parallel",
}  # each family's first read of its data


@pytest.fixture(scope="module")
def references(data, tmp_path_factory):
    """Each family's uninterrupted run, trained once when first asked for."""
    made = {}

    def reference(kind):
        if kind not in made:
            made[kind] = tmp_path_factory.mktemp(f"{kind}-reference") / "run"
            TRAIN[kind](RECIPES[kind](data), made[kind])
        return made[kind]

    return reference


def assert_bit_identical(run_dir, reference_dir):
    support_weights.assert_bit_identical(run_dir, reference_dir, SPE * EPOCHS)


def _raise_keyboard_interrupt(*args, **kwargs):
    raise KeyboardInterrupt


class _StoppedBeforeTheFirstStep:
    """A trainer whose first `fit` is cut off by Ctrl-C before anything is built (the first step
    compiling); later calls go to the model."""

    def __init__(self, model):
        self.model, self.fits = model, 0

    def fit(self, *args, **kwargs):
        self.fits += 1
        if self.fits == 1:
            raise KeyboardInterrupt
        return self.model.fit(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.model, name)


def _no_temp_files(run_dir):
    return not [entry.name for entry in run_dir.rglob("*") if ".partial" in entry.name]


# --- the library's training entries --------------------------------------------------------


@pytest.mark.parametrize("kind", ["charlm", "tagger", "seq2seq"])
def test_ctrl_c_before_the_first_step_resumes_bit_for_bit(kind, data, references, tmp_path, monkeypatch, capsys):
    """The tagger that exited 130 at step 0 with a last.keras whose Adam variables were never built."""
    run_dir = tmp_path / "run"
    monkeypatch.setattr(training, "trainer_for", _StoppedBeforeTheFirstStep)
    with pytest.raises(Interrupted) as stopped:
        TRAIN[kind](RECIPES[kind](data), run_dir)
    monkeypatch.undo()
    assert AT_STEP_0.fullmatch(str(stopped.value)) and stopped.value.exit_code == 130
    assert not (run_dir / "last.keras").exists() and not (run_dir / "state.json").exists()
    capsys.readouterr()
    TRAIN[kind](RECIPES[kind](data), run_dir, resume=True)
    assert (
        f"note: {run_dir} stopped before its first checkpoint; training it from the beginning"
        in capsys.readouterr().out
    )
    assert_bit_identical(run_dir, references(kind))


@pytest.mark.parametrize("kind", ["charlm", "tagger", "seq2seq"])
def test_ctrl_c_while_the_data_are_read_writes_nothing(kind, data, tmp_path, monkeypatch):
    monkeypatch.setattr(READERS[kind], _raise_keyboard_interrupt)
    with pytest.raises(Interrupted, match=f"^{interrupts.BEFORE_START}$"):
        TRAIN[kind](RECIPES[kind](data), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_ctrl_c_while_sentencepiece_trains_leaves_a_run_that_resumes(data, references, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    real = subwords.train_model

    def stopped_halfway(sentences, *args, **kwargs):
        def stream():
            for number, sentence in enumerate(sentences):
                if number == 40:
                    raise KeyboardInterrupt  # inside SentencePiece's read of the sentences
                yield sentence

        return real(stream(), *args, **kwargs)

    monkeypatch.setattr(subwords, "train_model", stopped_halfway)
    with pytest.raises(Interrupted) as stopped:
        train_seq2seq(RECIPES["seq2seq"](data), run_dir)
    monkeypatch.undo()
    assert AT_STEP_0.fullmatch(str(stopped.value))
    assert sorted(entry.name for entry in run_dir.iterdir()) == ["recipe.toml", "run.json"]
    train_seq2seq(RECIPES["seq2seq"](data), run_dir, resume=True)
    assert _no_temp_files(run_dir)
    assert_bit_identical(run_dir, references("seq2seq"))


def test_sentencepiece_passes_on_what_its_sentence_stream_raised():
    def failing(error):
        yield "alpha beta gamma"
        raise error

    with pytest.raises(KeyboardInterrupt):
        subwords.train_model(failing(KeyboardInterrupt()), 20, "unigram")
    with pytest.raises(OSError, match="disk gone"):
        subwords.train_model(failing(OSError("disk gone")), 20, "unigram")


def test_ctrl_c_in_the_final_evaluation_says_training_finished(data, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    monkeypatch.setattr(training, "load_best_or_last", _raise_keyboard_interrupt)  # the tagger's last dev pass
    with pytest.raises(
        Interrupted,
        match=rf"^interrupted after training finished at step {SPE}; "
        rf"{re.escape(str(run_dir))} holds the trained model$",
    ):
        train_tagger(RECIPES["tagger"](data), run_dir)
    assert json.loads((run_dir / "state.json").read_text())["finished"] is True


def test_a_step_0_state_written_by_an_older_version_counts_as_no_checkpoint(data, tmp_path, capsys):
    run_dir = tmp_path / "run"
    run = training.start_run(run_dir, "charlm", RECIPES["charlm"](data))
    (run_dir / "last.keras").write_bytes(b"a model without its optimizer")
    (run_dir / "state.json").write_text(json.dumps({"epoch": 0, "step": 0}))
    assert not training.has_checkpoint(run)
    assert not training.resume_or_restart(run_dir, "charlm", True)
    assert "training it from the beginning" in capsys.readouterr().out
    assert sorted(entry.name for entry in run_dir.iterdir()) == ["recipe.toml", "run.json"]


# --- the command line ----------------------------------------------------------------------


def _cli_args(kind, root, run_dir):
    tiny = ["--set", f"train.steps_per_epoch={SPE}", "--epochs", EPOCHS]
    if kind == "charlm":
        return [
            "train",
            "charlm",
            "--data",
            root / "corpus.txt",
            "--run-dir",
            run_dir,
            *tiny,
            "--set",
            "data.seq_len=12",
            "--set",
            "model.units=8",
            "--set",
            "model.layers=1",
            "--set",
            "train.batch_size=4",
        ]
    if kind == "tagger":
        return [
            "train",
            "tagger",
            "--train",
            root / "train.conllu",
            "--dev",
            root / "dev.conllu",
            "--run-dir",
            run_dir,
            *tiny,
            "--set",
            "model.units=6",
            "--set",
            "model.word_dim=6",
            "--set",
            "model.char_dim=4",
            "--set",
            "model.char_units=4",
            "--set",
            "train.batch_size=4",
        ]
    return [
        "train",
        "seq2seq",
        "--tsv",
        root / "train.tsv",
        "--valid-tsv",
        root / "dev.tsv",
        "--run-dir",
        run_dir,
        *tiny,
        "--set",
        "data.vocab_size=30",
        "--set",
        "model.units=8",
        "--set",
        "model.embedding_dim=6",
        "--set",
        "train.batch_size=8",
        "--set",
        "train.bleu_sentences=4",
        "--set",
        "decode.max_length=8",
    ]


def assert_interrupted(result, line):
    """Exit 130, `line` last on stderr, neither click's "Aborted!" nor a traceback."""
    assert result.exit_code == 130, result.output
    assert "Aborted!" not in result.output + result.stderr and "Traceback" not in result.output + result.stderr
    assert [text for text in result.stderr.splitlines() if text.strip()][-1] == line


@pytest.mark.parametrize("kind", ["charlm", "tagger", "seq2seq"])
def test_cli_ctrl_c_while_the_data_are_read(kind, data, tmp_path, monkeypatch):
    monkeypatch.setattr(READERS[kind], _raise_keyboard_interrupt)
    assert_interrupted(invoke(*_cli_args(kind, data, tmp_path / "run")), interrupts.BEFORE_START)
    assert not (tmp_path / "run").exists()  # the lock and the directory it made are gone too


def test_cli_ctrl_c_in_the_sample_after_training(data, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    monkeypatch.setattr("textlstm.charlm.generate.generate", _raise_keyboard_interrupt)
    assert_interrupted(
        invoke(*_cli_args("charlm", data, run_dir)),
        f"interrupted after training finished at step {SPE}; {run_dir} holds the trained model",
    )


def test_cli_ctrl_c_at_step_0_then_resume(data, tmp_path, monkeypatch):
    run_dir = tmp_path / "run dir"
    monkeypatch.setattr(training, "trainer_for", _StoppedBeforeTheFirstStep)
    command = interrupts.continue_command(run_dir, "charlm")
    assert_interrupted(invoke(*_cli_args("charlm", data, run_dir)), f"interrupted at step 0; continue with: {command}")
    monkeypatch.undo()
    resumed = invoke(*shlex.split(command)[1:])
    assert resumed.exit_code == 0, resumed.output
    assert "training it from the beginning" in resumed.output
    assert json.loads((run_dir / "state.json").read_text())["step"] == SPE


def test_cli_resume_of_a_run_that_saved_no_recipe_says_to_start_again(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps({"kind": "tagger", "textlstm_version": "0.1.0"}))
    result = invoke("train", "tagger", "--run-dir", run_dir, "--resume")
    assert result.exit_code == 1 and "Aborted!" not in result.output
    assert result.stderr.strip() == (
        f"Error: cannot resume: {run_dir} holds no recipe.toml (it stopped before "
        f"training started); start it again without --resume"
    )


def test_cli_ctrl_c_in_any_command_is_one_line_and_130(monkeypatch, tmp_path):
    monkeypatch.setattr("textlstm.api.CharLM.check_options", _raise_keyboard_interrupt)
    assert_interrupted(invoke("generate", tmp_path), "interrupted")


def test_a_real_sigint_while_subword_models_train_exits_130_and_resumes(data, tmp_path):
    """SIGINT once the translator says it trains its subword models (its run directory and recipe
    are written just before): wherever it lands from there, the line names a step and --resume continues."""
    run_dir = tmp_path / "run"
    args = [str(arg) for arg in _cli_args("seq2seq", data, run_dir)]
    args[args.index("--epochs") + 1] = "100"  # long enough that the signal lands before the end
    environment = dict(
        {key: value for key, value in os.environ.items() if key != "TF_CONFIG"},
        PYTHONPATH=str(ROOT),
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "textlstm", *args],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C's default action, as from a terminal: a shell starts background jobs with SIGINT ignored,
        # and an ignored signal is inherited, so a suite run in the background would never interrupt the child
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        for line in process.stdout:
            if line.startswith("training unigram subword models"):
                process.send_signal(signal.SIGINT)
                break
        else:
            pytest.fail("the training ended before training its subword models")
        _, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err[-2000:]
    assert "Aborted!" not in err and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    stopped = re.fullmatch(r"interrupted at step (\d+); continue with: (.*)", last)
    assert stopped and stopped.group(2) == interrupts.continue_command(run_dir, "seq2seq"), last
    assert _no_temp_files(run_dir)
    step = int(stopped.group(1))
    resumed = invoke(*shlex.split(stopped.group(2))[1:], "--max-steps", step + 2)
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((run_dir / "state.json").read_text())["step"] == step + 2
