"""Ctrl-C and `--resume`: a run interrupted anywhere ends with the weights of one that never was.

Ctrl-C is simulated by raising KeyboardInterrupt from a batch hook patched onto the
checkpointing callback when the optimizer reaches a chosen step. The tiny char LM has no
dropout, so an uninterrupted run with the same seed is an exact reference.
"""

import csv
import hashlib
import json
import random
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from support.cli import assert_one_error_line, invoke
from textlstm import training
from textlstm.charlm.model import DEFAULTS
from textlstm.charlm.train import train_charlm
from textlstm.cli import main
from textlstm.errors import UserError
from textlstm.recipes import resolve_recipe
from textlstm.rundir import load_keras_model

STEPS_PER_EPOCH, EPOCHS = 6, 2
TOTAL_STEPS = STEPS_PER_EPOCH * EPOCHS


def _recipe(corpus):
    return resolve_recipe(
        DEFAULTS,
        None,
        [
            f"data.paths={json.dumps([str(corpus)])}",
            "data.seq_len=16",
            "model.units=16",
            "model.layers=1",
            "model.embedding_dim=8",
            "model.dropout=0.0",
            "train.batch_size=4",
            f"train.epochs={EPOCHS}",
            f"train.steps_per_epoch={STEPS_PER_EPOCH}",
            "train.seed=7",
        ],
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rng = random.Random(3)
    words = "north wind sun cloud rain field barn lamp, the a of and slowly. quickly; again".split()
    text = "\n".join(" ".join(rng.choice(words) for _ in range(10)) for _ in range(70)) + "\n"
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reference_run(corpus, tmp_path_factory):
    """The uninterrupted run every resumed run must match."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    train_charlm(_recipe(corpus), run_dir)
    return run_dir


def _patch_batch_hook(monkeypatch, interrupt_at=None, crash_at=None):
    """Ctrl-C once at optimizer step `interrupt_at`; a crash at `crash_at`; never train past the plan.

    The guard turns a resume that would loop over the endless batch stream into a failure.
    """
    fired = []

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if step > TOTAL_STEPS:
            raise RuntimeError(f"trained past the schedule: step {step} of {TOTAL_STEPS}")
        if step == interrupt_at and not fired:
            fired.append(step)
            raise KeyboardInterrupt
        if step == crash_at:
            raise RuntimeError("simulated crash")

    monkeypatch.setattr(training._Checkpointer, "on_train_batch_end", on_train_batch_end, raising=False)


def _state(run_dir):
    return json.loads((run_dir / "state.json").read_text(encoding="utf-8"))


def _val_losses(run_dir):
    with open(run_dir / "metrics.csv", newline="") as handle:
        return [float(row["val_loss"]) for row in csv.DictReader(handle)]


def _assert_same_checkpoint(run_dir, reference_dir):
    ours = load_keras_model(run_dir / "last.keras", compile=True)
    theirs = load_keras_model(reference_dir / "last.keras", compile=True)
    assert [w.path for w in ours.weights] == [w.path for w in theirs.weights]
    for mine, expected in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(mine, expected, rtol=0, atol=1e-6)
    for mine, expected in zip(ours.optimizer.variables, theirs.optimizer.variables):
        np.testing.assert_allclose(np.asarray(mine), np.asarray(expected), rtol=0, atol=1e-6)


def _assert_same_state(run_dir, reference_dir):
    ours, theirs = _state(run_dir), _state(reference_dir)
    assert ours.pop("best") == pytest.approx(theirs.pop("best"), abs=1e-6)
    assert ours == theirs


def _interrupt_then_resume(corpus, run_dir, monkeypatch, capsys, step):
    _patch_batch_hook(monkeypatch, interrupt_at=step)
    with pytest.raises(UserError, match=rf"interrupted at step {step}.*--resume"):
        train_charlm(_recipe(corpus), run_dir)
    state = _state(run_dir)
    assert state["step"] == step and not state["finished"]
    assert state["epoch"] == (step - 1) // STEPS_PER_EPOCH  # the epoch of that step has not ended
    capsys.readouterr()
    train_charlm(_recipe(corpus), run_dir, resume=True)
    assert "resuming inside epoch" in capsys.readouterr().out


def test_reference_run_state(reference_run):
    state = _state(reference_run)
    assert state["step"] == TOTAL_STEPS and state["epoch"] == EPOCHS and state["finished"]
    assert len(_val_losses(reference_run)) == EPOCHS


def test_resume_inside_an_epoch_gives_the_uninterrupted_weights(corpus, reference_run, tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "run"
    _interrupt_then_resume(corpus, run_dir, monkeypatch, capsys, step=STEPS_PER_EPOCH + 2)
    _assert_same_state(run_dir, reference_run)
    _assert_same_checkpoint(run_dir, reference_run)
    np.testing.assert_allclose(_val_losses(run_dir), _val_losses(reference_run), rtol=0, atol=1e-6)


def test_resume_at_an_epoch_boundary_gives_the_uninterrupted_weights(
    corpus, reference_run, tmp_path, monkeypatch, capsys
):
    run_dir = tmp_path / "run"
    _interrupt_then_resume(corpus, run_dir, monkeypatch, capsys, step=STEPS_PER_EPOCH)
    _assert_same_state(run_dir, reference_run)
    _assert_same_checkpoint(run_dir, reference_run)


def test_resume_without_a_checkpoint_trains_from_the_beginning(corpus, reference_run, tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "run"
    _patch_batch_hook(monkeypatch, crash_at=2)  # dies before any checkpoint, unlike Ctrl-C
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_charlm(_recipe(corpus), run_dir)
    assert not (run_dir / "last.keras").exists()
    monkeypatch.undo()
    capsys.readouterr()
    train_charlm(_recipe(corpus), run_dir, resume=True)
    assert capsys.readouterr().out.count("training it from the beginning") == 1
    _assert_same_state(run_dir, reference_run)
    _assert_same_checkpoint(run_dir, reference_run)


@pytest.mark.parametrize("layout", ["missing", "empty", "run.json only"])
def test_cli_resume_of_a_directory_without_a_run(tmp_path, layout):
    run_dir = tmp_path / "run"
    if layout != "missing":
        run_dir.mkdir()
    if layout == "run.json only":  # what a start that failed on its data leaves behind
        (run_dir / "run.json").write_text(json.dumps({"kind": "charlm", "textlstm_version": "0.1.0"}))
    assert_one_error_line(invoke("train", "charlm", "--run-dir", run_dir, "--resume"), str(run_dir))


def test_resuming_a_finished_run_does_nothing(reference_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(reference_run, run_dir)
    files = ("last.keras", "best.keras", "state.json", "metrics.csv")
    before = {name: hashlib.sha256((run_dir / name).read_bytes()).hexdigest() for name in files}
    result = CliRunner().invoke(main, ["train", "charlm", "--run-dir", str(run_dir), "--resume"])
    assert result.exit_code == 0, result.output
    assert "nothing to do" in result.output
    assert {name: hashlib.sha256((run_dir / name).read_bytes()).hexdigest() for name in files} == before
    _assert_same_checkpoint(run_dir, reference_run)


def test_resume_refuses_recipe_changes(reference_run, tmp_path):
    result = CliRunner().invoke(
        main, ["train", "charlm", "--run-dir", str(reference_run), "--resume", "--set", "train.epochs=5"]
    )
    assert result.exit_code == 1
    assert "--resume continues the run with its own recipe, which --set would change" in result.stderr
