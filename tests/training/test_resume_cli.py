"""What the command line promises around training: Ctrl-C, resume, logs, and diverging runs.

- Ctrl-C ends with "interrupted at step N; continue with: textlstm train KIND --run-dir DIR
  --resume" and exit status 130, and that command continues the run.
- Output that is not a terminal holds one plain line per epoch, no control codes.
- `--resume` continues: `--epochs`/`--max-steps` extend the run, options that would change
  the recipe are refused by name, and the saved data paths work from any directory.
- A non-finite training loss stops training with one line naming the step; nothing
  non-finite is saved, and the last good checkpoint stays as it was.
"""

import csv
import hashlib
import json
import re
import shlex

import keras
import numpy as np
import pytest

from support.cli import assert_one_error_line, invoke
from textlstm import training
from textlstm.errors import UserError
from textlstm.recipes import load_recipe_file
from textlstm.rundir import RunDir, load_keras_model

SPE = 3
TINY = [
    "--set",
    "data.seq_len=12",
    "--set",
    "model.units=8",
    "--set",
    "model.layers=1",
    "--set",
    "model.embedding_dim=4",
    "--set",
    "model.dropout=0.2",
    "--set",
    "train.batch_size=4",
    "--set",
    f"train.steps_per_epoch={SPE}",
    "--set",
    "train.seed=3",
]
CONTROL = re.compile(r"[\x1b\r\x08]")
RUN_FILES = ("run.json", "recipe.toml", "vocab.json", "last.keras", "best.keras", "state.json", "metrics.csv")


def _digests(run_dir, names=RUN_FILES):
    return {name: hashlib.sha256((run_dir / name).read_bytes()).hexdigest() for name in names}


def _state(run_dir):
    return json.loads((run_dir / "state.json").read_text())


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A data folder with a small text, and an empty folder to start commands from."""
    root = tmp_path_factory.mktemp("workspace")
    (root / "data").mkdir()
    words = "north wind sun cloud rain field barn lamp, the a of and slowly. quickly; again".split()
    rng = np.random.default_rng(5)
    (root / "data" / "corpus.txt").write_text("\n".join(" ".join(rng.choice(words, 8)) for _ in range(30)) + "\n")
    (root / "elsewhere").mkdir()
    return root


@pytest.fixture(scope="module")
def two_epochs(workspace):
    """`(run_dir, result)`: 2 epochs trained from the data folder with relative paths."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workspace / "data")
        result = invoke("train", "charlm", "--data", "corpus.txt", "--run-dir", "run", *TINY, "--epochs", 2)
    assert result.exit_code == 0, result.output
    return workspace / "data" / "run", result


def test_redirected_training_output_is_plain_lines(two_epochs):
    _, result = two_epochs
    assert not CONTROL.search(result.output), repr(CONTROL.search(result.output))
    epoch_lines = [line for line in result.output.splitlines() if re.match(r"epoch \d+/2 - [\d.]+ s - loss: ", line)]
    assert len(epoch_lines) == 2  # one line per epoch (training.EpochLine), Keras's own turned off
    assert re.search(r"best model: validation \d+\.\d{3} bits/char \(loss \d+\.\d{4} nats", result.output)


def test_the_saved_recipe_names_the_data_by_absolute_path(two_epochs, workspace):
    recipe = load_recipe_file(two_epochs[0] / "recipe.toml")
    assert recipe["data"]["paths"] == [str(workspace / "data" / "corpus.txt")]


def test_max_steps_stops_inside_an_epoch_and_a_longer_cap_continues_bit_for_bit(workspace, tmp_path):
    data = workspace / "data" / "corpus.txt"
    tiny = [*TINY, "--set", "train.steps_per_epoch=20", "--epochs", 5]  # the later --set wins
    capped, straight = tmp_path / "capped", tmp_path / "straight"
    result = invoke("train", "charlm", "--data", data, "--run-dir", capped, *tiny, "--max-steps", 30)
    assert result.exit_code == 0, result.output
    state = _state(capped)
    assert (state["step"], state["epoch"], state["finished"]) == (30, 1, False)
    assert re.search(r"stopped at step 30 \(train.max_steps\), 10 of 20 steps into epoch 2; val_loss=\d", result.output)
    assert len((capped / "metrics.csv").read_text().splitlines()) == 2  # header and epoch 1: no half-epoch row
    before = _digests(capped)
    result = invoke("train", "charlm", "--run-dir", capped, "--resume")
    assert result.exit_code == 0 and "nothing to do" in result.output
    assert _digests(capped) == before
    for cap, epoch in ((35, 1), (50, 2)):  # a cap inside the same epoch, then one inside the next
        result = invoke("train", "charlm", "--run-dir", capped, "--resume", "--max-steps", cap)
        assert result.exit_code == 0, result.output
        assert (_state(capped)["step"], _state(capped)["epoch"]) == (cap, epoch)
    assert load_recipe_file(capped / "recipe.toml")["train"]["max_steps"] == 50

    result = invoke("train", "charlm", "--data", data, "--run-dir", straight, *tiny, "--max-steps", 50)
    assert result.exit_code == 0, result.output
    ours, theirs = (load_keras_model(path / "last.keras", compile=True) for path in (capped, straight))
    assert int(ours.optimizer.iterations.numpy()) == 50
    for mine, expected in zip(
        ours.weights + ours.optimizer.variables, theirs.weights + theirs.optimizer.variables, strict=True
    ):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(expected))

    def validation(run_dir):  # the training columns average the batches of one fit call, so only these match
        rows = list(csv.DictReader((run_dir / "metrics.csv").read_text().splitlines()))
        return [{key: value for key, value in row.items() if key.startswith("val_") or key == "epoch"} for row in rows]

    assert len(validation(straight)) == 2 and validation(capped) == validation(straight)
    assert {key: _state(capped)[key] for key in ("epoch", "step", "best", "epochs_without_improvement")} == {
        key: _state(straight)[key] for key in ("epoch", "step", "best", "epochs_without_improvement")
    }


def test_resume_from_another_directory_extends_the_run_as_an_uninterrupted_one(
    two_epochs, workspace, tmp_path, monkeypatch
):
    run_dir = tmp_path / "run"
    import shutil

    shutil.copytree(two_epochs[0], run_dir)
    monkeypatch.chdir(workspace / "elsewhere")  # the recorded data path must not depend on this
    result = invoke("train", "charlm", "--run-dir", run_dir, "--resume", "--epochs", 3)
    assert result.exit_code == 0, result.output
    assert "continuing after epoch 2: training to epoch 3" in result.output
    assert _state(run_dir)["epoch"] == 3 and _state(run_dir)["step"] == 3 * SPE
    assert load_recipe_file(run_dir / "recipe.toml")["train"]["epochs"] == 3  # the extension is recorded

    reference = tmp_path / "reference"  # three epochs in one go
    result = invoke(
        "train", "charlm", "--data", workspace / "data" / "corpus.txt", "--run-dir", reference, *TINY, "--epochs", 3
    )
    assert result.exit_code == 0, result.output
    ours, theirs = (load_keras_model(path / "last.keras", compile=True) for path in (run_dir, reference))
    for mine, expected in zip(
        ours.weights + ours.optimizer.variables, theirs.weights + theirs.optimizer.variables, strict=True
    ):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(expected))

    result = invoke("train", "charlm", "--run-dir", run_dir, "--resume", "--max-steps", 4 * SPE + 1)
    assert result.exit_code == 0, result.output
    assert _state(run_dir)["step"] == 4 * SPE + 1  # one step into epoch 5: the run's epoch length is kept
    recipe = load_recipe_file(run_dir / "recipe.toml")["train"]
    assert (recipe["epochs"], recipe["max_steps"]) == (5, 4 * SPE + 1)
    before = _digests(run_dir)
    result = invoke("train", "charlm", "--run-dir", run_dir, "--resume")
    assert result.exit_code == 0 and "nothing to do" in result.output
    assert _digests(run_dir) == before


@pytest.mark.parametrize(
    "family, args, flag",
    [
        ("charlm", ["--data", "other.txt"], "--data"),
        ("charlm", ["--valid", "other.txt"], "--valid"),
        ("charlm", ["--set", "train.epochs=5"], "--set"),
        ("charlm", ["-r", "charlm-default"], "--recipe"),
        ("charlm", ["--seed", "9"], "--seed"),
        ("tagger", ["--train", "other.conllu"], "--train"),
        ("tagger", ["--dev", "other.conllu"], "--dev"),
        ("tagger", ["--column", "xpos"], "--column"),
        ("tagger", ["--word-vectors", "vectors.txt"], "--word-vectors"),
        ("seq2seq", ["--src", "a.txt", "--tgt", "b.txt"], "--src"),
        ("seq2seq", ["--valid-tsv", "dev.tsv"], "--valid-tsv"),
    ],
)
def test_resume_refuses_options_that_would_change_the_recipe(two_epochs, family, args, flag):
    run_dir = two_epochs[0]
    before = _digests(run_dir)
    line = assert_one_error_line(invoke("train", family, "--run-dir", run_dir, "--resume", *args), flag)
    assert "--resume continues the run with its own recipe" in line
    assert _digests(run_dir) == before


def test_ctrl_c_exits_130_with_the_command_that_continues(workspace, tmp_path, monkeypatch):
    run_dir = tmp_path / "run dir"  # a space: the printed command must still work when pasted

    def interrupt(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(training._Checkpointer, "on_train_batch_end", interrupt, raising=False)
    result = invoke(
        "train", "charlm", "--data", workspace / "data" / "corpus.txt", "--run-dir", run_dir, *TINY, "--epochs", 1
    )
    monkeypatch.undo()
    assert result.exit_code == 130, result.output
    assert "Traceback" not in result.output and not CONTROL.search(result.output)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    command = f"textlstm train charlm --run-dir {shlex.quote(str(run_dir))} --resume"
    assert lines[-1] == f"interrupted at step 2; continue with: {command}"
    result = invoke(*shlex.split(command)[1:])
    assert result.exit_code == 0, result.output
    assert "resuming inside epoch 1 at step 2" in result.output and _state(run_dir)["step"] == SPE


# --- a diverging run ------------------------------------------------------------------------


def _dense_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(keras.layers.Dropout(0.1)(inputs)))
    model.compile(optimizer="sgd", loss="mse")
    return model


def _batches_with_nan_at(bad_step):
    import tensorflow as tf

    def make(start):
        steps = tf.data.Dataset.range(start, 10**6)
        return steps.map(lambda i: (tf.fill([4, 3], tf.where(i + 1 == bad_step, np.nan, 1.0)), tf.ones([4, 1])))

    return make


def _validation():
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((np.ones((4, 3), "float32"), np.ones((4, 1), "float32"))).batch(4)


def test_a_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    run = RunDir.create(tmp_path / "run", "test")
    schedule = training.Schedule(epochs=3, steps_per_epoch=SPE)
    with pytest.raises(UserError, match=rf"training loss became nan at step {SPE + 2};") as error:
        training.fit(_dense_model(), run, _batches_with_nan_at(SPE + 2), schedule, _validation())
    assert "\n" not in str(error.value) and str(run.path) in str(error.value)
    assert _state(run.path)["step"] == SPE  # the epoch-1 checkpoint, untouched
    for name in ("last.keras", "best.keras"):
        model = load_keras_model(run.file(name), compile=True)
        assert all(np.isfinite(np.asarray(weight)).all() for weight in model.weights)
        assert int(model.optimizer.iterations.numpy()) == SPE


def test_non_finite_weights_are_never_saved(tmp_path, monkeypatch):
    """Weights that turn non-finite while the loss still looked finite are caught at the epoch's end."""
    run = RunDir.create(tmp_path / "run", "test")

    def poison(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) == 2 * SPE:
            kernel = self.model.get_layer("out").kernel
            kernel.assign(np.full(kernel.shape, np.inf, "float32"))

    training.fit(
        _dense_model(), run, _batches_with_nan_at(0), training.Schedule(epochs=1, steps_per_epoch=SPE), _validation()
    )
    before = _digests(run.path, ("last.keras", "best.keras", "state.json"))
    monkeypatch.setattr(training._Checkpointer, "on_train_batch_end", poison, raising=False)
    model, state = training.load_checkpoint(run)
    with pytest.raises(UserError, match=rf"out/kernel is not finite at step {2 * SPE};"):
        training.fit(
            model,
            run,
            _batches_with_nan_at(0),
            training.Schedule(epochs=2, steps_per_epoch=SPE),
            _validation(),
            state=state,
        )
    assert _digests(run.path, ("last.keras", "best.keras", "state.json")) == before


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--epochs", "1"], "--epochs 1 is fewer than the 2 epochs this run has done"),
        (["--max-steps", "2"], f"--max-steps 2 is fewer than the {2 * SPE} steps this run has done"),
    ],
)
def test_resume_refuses_to_shorten_a_run(two_epochs, args, fragment):
    before = _digests(two_epochs[0])
    assert_one_error_line(invoke("train", "charlm", "--run-dir", two_epochs[0], "--resume", *args), fragment)
    assert _digests(two_epochs[0]) == before


def test_a_kill_between_the_two_checkpoint_files_resumes_from_a_consistent_pair(tmp_path, monkeypatch):
    """Killed after last.keras of epoch 2 was written but before its state.json: the pending state is used."""
    schedule, batches = training.Schedule(epochs=3, steps_per_epoch=SPE), _batches_with_nan_at(0)
    reference = RunDir.create(tmp_path / "reference", "test")
    training.fit(_dense_model(), reference, batches, schedule, _validation())
    write_json = training.atomic_write_json

    def killed_at_epoch_2(path, obj):
        if obj.get("step") == 2 * SPE and training.PENDING not in obj:
            raise SystemExit("killed")
        write_json(path, obj)

    run = RunDir.create(tmp_path / "run", "test")
    monkeypatch.setattr(training, "atomic_write_json", killed_at_epoch_2)
    with pytest.raises(SystemExit):
        training.fit(_dense_model(), run, batches, schedule, _validation())
    monkeypatch.undo()
    saved = _state(run.path)
    assert saved["step"] == SPE and saved[training.PENDING]["step"] == 2 * SPE
    model, state = training.load_checkpoint(run)
    assert (state.epoch, state.step) == (2, 2 * SPE)
    training.fit(model, run, batches, schedule, _validation(), state=state)
    ours, theirs = (load_keras_model(path / "last.keras", compile=True) for path in (run.path, reference.path))
    for mine, expected in zip(
        ours.weights + ours.optimizer.variables, theirs.weights + theirs.optimizer.variables, strict=True
    ):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(expected))
