"""Strategy choice, the --strategy option, worker run directories and our strategy loop, in process.

The runs that need more devices or several processes are in test_distributed_training.py.
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from support.cli import assert_one_error_line, invoke
from textlstm import distribute
from textlstm.api.training import prepare_training
from textlstm.charlm.model import DEFAULTS as CHARLM_DEFAULTS
from textlstm.errors import UserError
from textlstm.rundir import RunDir
from textlstm.strategy_loop import StrategyLoop

TWO_WORKERS = {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 1}}
DEFAULTS = CHARLM_DEFAULTS  # a real family's: every resolved recipe is checked against its schema


@pytest.fixture
def no_cluster(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)


@pytest.fixture
def two_workers(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps(TWO_WORKERS))


def test_auto_follows_the_gpus_here_and_is_multi_worker_in_a_cluster(no_cluster, monkeypatch):
    gpus = tf.config.list_physical_devices("GPU")
    assert distribute.resolve_name("auto") == ("mirrored" if len(gpus) > 1 else "one-device")
    monkeypatch.setenv("TF_CONFIG", json.dumps(TWO_WORKERS))
    assert distribute.cluster_size() == 2
    assert distribute.resolve_name("auto") == "multi-worker"
    assert distribute.resolve_name("multi-worker") == "multi-worker"


@pytest.mark.parametrize("name", ["mirrored", "one-device"])
def test_a_single_machine_strategy_in_a_cluster_is_refused(two_workers, name):
    with pytest.raises(UserError, match=rf"TF_CONFIG describes a cluster of 2 tasks, but train.strategy is '{name}'"):
        distribute.resolve_name(name)


def test_unknown_strategy_and_bad_tf_config(no_cluster, monkeypatch):
    with pytest.raises(
        UserError,
        match=r"train.strategy must be one of auto, one-device, mirrored, "
        r"multi-worker; got 'tpu'",
    ):
        distribute.resolve_name("tpu")
    monkeypatch.setenv("TF_CONFIG", "{oops")
    with pytest.raises(UserError, match="TF_CONFIG is not valid JSON"):
        distribute.resolve_name("auto")


def test_strategies_made_here(no_cluster, capsys):
    assert distribute.make_strategy("one-device") is tf.distribute.get_strategy()
    mirrored = distribute.make_strategy("mirrored")
    devices = [f"gpu:{i}" for i in range(len(tf.config.list_logical_devices("GPU")))] or ["cpu:0"]
    assert isinstance(mirrored, tf.distribute.MirroredStrategy) and mirrored.num_replicas_in_sync == len(devices)
    plural = "s" if len(devices) > 1 else ""
    assert f"strategy: mirrored over {len(devices)} device{plural} ({', '.join(devices)})" in capsys.readouterr().out


def test_a_worker_writes_its_run_directory_in_a_scratch_place(two_workers, tmp_path):
    run = RunDir.create(tmp_path / "run", "charlm")
    assert run.path != tmp_path / "run" and not (tmp_path / "run").exists()
    assert RunDir.read_kind(run.path) == "charlm"


# strategy= (--strategy) reaches the recipe: textlstm.api.training.prepare_training folds it in.
def _strategy_of(run_dir, **arguments):
    resolved, _, claim = prepare_training("charlm", str(run_dir), **arguments)
    claim.release()
    return resolved["train"]["strategy"]


def test_strategy_option_folds_into_the_recipe(tmp_path):
    assert _strategy_of(tmp_path) == "auto"
    assert _strategy_of(tmp_path, strategy="mirrored") == "mirrored"
    # The explicit argument beats overrides, as every explicit option does.
    assert _strategy_of(tmp_path, overrides={"train.strategy": "one-device"}, strategy="multi-worker") == "multi-worker"


def test_strategy_may_change_on_resume(tmp_path):
    run = RunDir.create(tmp_path / "run", "charlm")
    run.write_recipe({**DEFAULTS, "train": {**DEFAULTS["train"], "strategy": "one-device"}})
    assert _strategy_of(run.path, resume=True) == "one-device"
    assert _strategy_of(run.path, resume=True, strategy="mirrored") == "mirrored"


def test_strategy_option_errors(tmp_path):
    result = invoke("train", "charlm", "--run-dir", tmp_path, "--strategy", "tpu")
    assert result.exit_code == 2 and "Invalid value for '--strategy'" in result.output
    with pytest.raises(UserError, match="strategy must be one of"):
        prepare_training("charlm", str(tmp_path / "x"), strategy="tpu")


def test_cli_refuses_mirrored_in_a_cluster_before_writing_anything(two_workers, tmp_path):
    run_dir = tmp_path / "run"
    line = assert_one_error_line(invoke("train", "charlm", "--run-dir", run_dir, "--strategy", "mirrored"))
    assert line.startswith("Error: TF_CONFIG describes a cluster of 2 tasks"), line
    assert not run_dir.exists()


def _tiny_model():
    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    return model


def _batches():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], "float32")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(8)


class _Recorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_epoch_end(self, epoch, logs=None):
        self.events.append((epoch, sorted(logs)))


def test_strategy_loop_matches_keras_fit(no_cluster):
    """The loop used under multi-worker runs Keras's own steps: same weights, logs and callbacks."""
    expected, expected_calls = _tiny_model(), _Recorder()
    history = expected.fit(
        _batches().repeat(),
        steps_per_epoch=5,
        initial_epoch=1,
        epochs=3,
        validation_data=_batches().take(2),
        callbacks=[expected_calls],
        verbose=0,
    )
    strategy = distribute.make_strategy("mirrored")
    with strategy.scope():
        model = _tiny_model()
    ours, calls = StrategyLoop(model, strategy), _Recorder()
    our_history = ours.fit(
        _batches().repeat(),
        steps_per_epoch=5,
        initial_epoch=1,
        epochs=3,
        validation_data=_batches().take(2),
        callbacks=[calls],
        verbose=0,
    )
    assert calls.events == expected_calls.events == [(1, ["loss", "val_loss"]), (2, ["loss", "val_loss"])]
    np.testing.assert_allclose(our_history.history["loss"], history.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(our_history.history["val_loss"], history.history["val_loss"], rtol=1e-5)
    for mine, theirs in zip(model.get_weights(), expected.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)
    assert int(model.optimizer.iterations.numpy()) == 10
    assert ours.evaluate(_batches()) == pytest.approx(
        expected.evaluate(_batches(), return_dict=True, verbose=0), rel=1e-5
    )


def test_max_steps_stops_the_strategy_loop_inside_an_epoch(no_cluster, tmp_path, monkeypatch):
    """training.fit through our loop: train.max_steps ends at that exact step, and a larger cap continues it."""
    from textlstm import training

    strategy = distribute.make_strategy("mirrored")
    monkeypatch.setattr(training, "trainer_for", lambda model: StrategyLoop(model, strategy))
    stream = lambda start: _batches().repeat().skip(start)  # noqa: E731  (5 batches an epoch)

    def run(name, caps):
        with strategy.scope():
            model = _tiny_model()
        state, run_dir = None, RunDir.create(tmp_path / name, "test")
        for cap in caps:
            schedule = training.plan_schedule(5, 4, max_steps=cap, previous=state)
            state = training.fit(model, run_dir, stream, schedule, _batches().take(2), state=state, verbose=0)
            assert (state.step, state.epoch, int(model.optimizer.iterations.numpy())) == (cap, cap // 5, cap)
        return model, state

    capped, capped_state = run("capped", [7, 12])
    straight, straight_state = run("straight", [12])
    assert not capped_state.finished and capped_state.best == straight_state.best
    for mine, theirs in zip(
        capped.weights + capped.optimizer.variables, straight.weights + straight.optimizer.variables, strict=True
    ):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))
