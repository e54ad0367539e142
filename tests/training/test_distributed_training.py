"""Training under tf.distribute: the same numbers as one device.

TensorFlow fixes its devices and its cluster when it starts, so each distributed run is a
fresh process (tests/support/distributed_runs.py): `mirrored` over two logical devices, made from
the first GPU where there is one (cuDNN kernels) and from the CPU otherwise (the fused
loop), beside the reference, the same tiny char LM (no dropout) on one device of the same
kind; and `multi-worker` as two `textlstm train charlm` processes on 127.0.0.1 that find
each other through TF_CONFIG. Two processes cannot share one GPU's collectives, so the
workers, and their reference, run on the CPU on every machine. Same global batch, so the
same losses and weights up to float rounding: the replicas' gradient sums are added in
another order. Clipping acts on each replica's share of the gradient in Keras, so the
recipe sets a clip norm these runs never reach.
"""

import csv
import json
import random
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from support.distributed_runs import STEP_LOSSES_MARK
from support.processes import ROOT, WORKER_TIMEOUT, environment
from textlstm.charlm.model import DEFAULTS
from textlstm.recipes import resolve_recipe
from textlstm.rundir import load_keras_model

STEPS_PER_EPOCH, EPOCHS = 3, 2
TINY = {
    "data.seq_len": 16,
    "model.units": 16,
    "model.layers": 1,
    "model.embedding_dim": 8,
    "model.dropout": 0.0,
    "train.batch_size": 4,
    "train.steps_per_epoch": STEPS_PER_EPOCH,
    "train.epochs": EPOCHS,
    "train.seed": 7,
    "train.clipnorm": 1000.0,
}
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rng = random.Random(3)
    words = "north wind sun cloud rain field barn lamp, the a of and slowly. quickly; again".split()
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(" ".join(rng.choice(words) for _ in range(10)) for _ in range(70)) + "\n")
    return path


def _recipe(corpus, strategy="one-device"):
    settings = [f"{key}={json.dumps(value)}" for key, value in TINY.items()]
    return resolve_recipe(
        DEFAULTS, None, settings + [f"data.paths={json.dumps([str(corpus)])}", f"train.strategy={json.dumps(strategy)}"]
    )


HAS_GPU = bool(tf.config.list_physical_devices("GPU"))  # lists devices without starting TensorFlow
DEVICE_KIND = "gpu" if HAS_GPU else "cpu"


def _runs_in_a_fresh_process(spec, cpu_only=False):
    """Run `distributed_runs` with `spec`; returns (stdout, per-run step losses)."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.support.distributed_runs", json.dumps(spec)],
        cwd=ROOT,
        env=environment(cpu_only),
        capture_output=True,
        text=True,
        timeout=WORKER_TIMEOUT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith(STEP_LOSSES_MARK))
    return result.stdout, json.loads(line[len(STEP_LOSSES_MARK) :])


def _reference_runs(root):
    """The one-device reference and a one-device run interrupted inside epoch 2, as specs."""
    return [
        {"run_dir": str(root / "reference"), "strategy": "one-device"},
        {
            "run_dir": str(root / "one-device-interrupted"),
            "strategy": "one-device",
            "interrupt_at": STEPS_PER_EPOCH + 1,
        },
    ]


@pytest.fixture(scope="module")
def single_machine(corpus, tmp_path_factory):
    """One process, two logical devices: the one-device reference, a one-device run
    interrupted inside epoch 2, and mirrored runs (a whole one; one interrupted and resumed)."""
    root = tmp_path_factory.mktemp("single-machine")
    runs = _reference_runs(root) + [
        {"run_dir": str(root / "mirrored")},
        {"run_dir": str(root / "mirrored-interrupted"), "interrupt_at": STEPS_PER_EPOCH + 1},  # Ctrl-C in epoch 2
        {"run_dir": str(root / "mirrored-interrupted"), "resume": True},
    ]
    stdout, losses = _runs_in_a_fresh_process({"replicas": 2, "recipe": _recipe(corpus, "mirrored"), "runs": runs})
    return {"root": root, "stdout": stdout, "losses": losses}


@pytest.fixture(scope="module")
def reference(single_machine):
    """`(run_dir, step losses)` of the run on one device."""
    return single_machine["root"] / "reference", single_machine["losses"][0]


@pytest.fixture(scope="module")
def cpu_reference(corpus, single_machine, tmp_path_factory):
    """`(run_dir, interrupted run_dir)` on one CPU device: the multi-worker tests' reference."""
    if not HAS_GPU:  # the single-machine runs were on the CPU already
        root = single_machine["root"]
    else:
        root = tmp_path_factory.mktemp("cpu-reference")
        _runs_in_a_fresh_process({"recipe": _recipe(corpus), "runs": _reference_runs(root)}, cpu_only=True)
    return root / "reference", root / "one-device-interrupted"


def _assert_same_weights(run_dir, reference_dir, tolerance=TOLERANCE):
    ours = load_keras_model(run_dir / "last.keras", compile=True)
    theirs = load_keras_model(reference_dir / "last.keras", compile=True)
    assert (
        int(ours.optimizer.iterations.numpy()) == int(theirs.optimizer.iterations.numpy()) == EPOCHS * STEPS_PER_EPOCH
    )
    for mine, expected in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, expected, rtol=0, atol=tolerance)
    for mine, expected in zip(ours.optimizer.variables, theirs.optimizer.variables, strict=True):
        np.testing.assert_allclose(np.asarray(mine), np.asarray(expected), rtol=0, atol=tolerance)


def _epoch_losses(run_dir):
    with open(run_dir / "metrics.csv", newline="") as handle:
        return [(float(row["loss"]), float(row["val_loss"])) for row in csv.DictReader(handle)]


def _state(run_dir):
    return json.loads((run_dir / "state.json").read_text())


def test_mirrored_over_two_logical_devices_follows_the_one_device_trajectory(single_machine, reference):
    reference_dir, reference_losses = reference
    root, stdout = single_machine["root"], single_machine["stdout"]
    assert f"strategy: mirrored over 2 devices ({DEVICE_KIND}:0, {DEVICE_KIND}:1)" in stdout
    mirrored_losses = single_machine["losses"][2]
    assert len(mirrored_losses) == len(reference_losses) == EPOCHS * STEPS_PER_EPOCH
    np.testing.assert_allclose(mirrored_losses, reference_losses, rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(_epoch_losses(root / "mirrored"), _epoch_losses(reference_dir), rtol=0, atol=TOLERANCE)
    _assert_same_weights(root / "mirrored", reference_dir)
    _assert_same_weights(root / "mirrored-interrupted", reference_dir)  # resumed under mirrored: the same weights
    assert "resuming inside epoch 2 at step 4" in stdout


def _wait_for_ports(rendezvous, workers, count):
    """Each worker's own port, as it reports it (see distributed_runs.join_cluster)."""
    deadline = time.monotonic() + WORKER_TIMEOUT
    paths = [rendezvous / f"port-{index}" for index in range(count)]
    while not all(path.exists() for path in paths):
        for process, log in workers:
            if process.poll() is not None:
                log.seek(0)
                raise AssertionError(f"a worker ended before reporting its port:\n{log.read()[-4000:]}")
        assert time.monotonic() < deadline, "the workers did not report their ports"
        time.sleep(0.05)
    return [int(path.read_text()) for path in paths]


def _two_workers(tmp_path, commands):
    """Run `textlstm` commands in worker 0 (the chief) and worker 1 together; returns their outputs.

    `commands[i]` is worker i's list of argument lists, run one after the other. Each worker
    picks and holds its own port and reports it; the cluster is then handed to both.
    """
    rendezvous = tmp_path / "rendezvous"
    rendezvous.mkdir()
    scratch = [tmp_path / f"worker-{index}-tmp" for index in range(2)]
    workers = []
    for index, worker_commands in enumerate(commands):
        scratch[index].mkdir()
        log = open(tmp_path / f"worker-{index}.log", "w+")
        spec = {"commands": worker_commands, "rendezvous": str(rendezvous), "index": index}
        command = [sys.executable, "-m", "tests.support.distributed_runs", json.dumps(spec)]
        workers.append(
            (
                subprocess.Popen(
                    command,
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    text=True,
                    env=environment(cpu_only=True, TMPDIR=str(scratch[index])),
                ),
                log,
            )
        )
    outputs = []
    try:
        ports = _wait_for_ports(rendezvous, workers, len(commands))
        partial = rendezvous / ".cluster.json"
        partial.write_text(json.dumps({"worker": [f"127.0.0.1:{port}" for port in ports]}))
        partial.rename(rendezvous / "cluster.json")
        for process, _ in workers:
            process.wait(timeout=WORKER_TIMEOUT)
    finally:
        for process, log in workers:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.seek(0)
            outputs.append((process.returncode, log.read()))
            log.close()
    for returncode, output in outputs:
        assert returncode == 0, output[-4000:]
    assert list(scratch[1].iterdir()) == [], "worker 1 left scratch files behind"
    return [output for _, output in outputs]


@pytest.fixture(scope="module")
def two_worker_runs(corpus, cpu_reference, tmp_path_factory):
    """Two workers on 127.0.0.1 train a new run, then resume one interrupted on one device.

    Worker 1 is told to write its new run elsewhere, to see that it writes nothing there;
    both resume the same directory (a copy of the interrupted run), as on a shared file
    system, where only the chief writes.
    """
    root = tmp_path_factory.mktemp("two-workers")
    new_runs = [root / "run", root / "worker-1-run"]
    interrupted = root / "interrupted"
    shutil.copytree(cpu_reference[1], interrupted)
    assert _state(interrupted)["step"] == STEPS_PER_EPOCH + 1
    settings = [arg for key, value in TINY.items() for arg in ("--set", f"{key}={json.dumps(value)}")]
    commands = [
        [
            [
                "train",
                "charlm",
                "--run-dir",
                str(new_runs[index]),
                "--data",
                str(corpus),
                "--strategy",
                "multi-worker",
                *settings,
            ],
            ["train", "charlm", "--run-dir", str(interrupted), "--resume", "--strategy", "multi-worker"],
        ]
        for index in range(2)
    ]
    chief, worker = _two_workers(root, commands)
    return {"chief": chief, "worker": worker, "run": new_runs[0], "worker run": new_runs[1], "interrupted": interrupted}


def test_two_workers_train_together_like_one_process_and_only_the_chief_writes(two_worker_runs, cpu_reference):
    reference_dir = cpu_reference[0]
    chief, worker, run_dir = two_worker_runs["chief"], two_worker_runs["worker"], two_worker_runs["run"]
    assert "multi-worker, 2 workers, 2 replicas in all; this task is worker 0 (the chief" in chief
    assert "this task is worker 1 (not the chief, writes nothing)" in worker
    assert "sample:" in chief and "sample:" not in worker  # the chief reports, the worker is done
    assert not two_worker_runs["worker run"].exists()  # worker 1 wrote nothing where it was told to write
    assert {
        "run.json",
        "recipe.toml",
        "vocab.json",
        "last.keras",
        "best.keras",
        "state.json",
        "metrics.csv",
        "tensorboard",
    } <= {path.name for path in run_dir.iterdir()}
    assert _state(run_dir)["step"] == EPOCHS * STEPS_PER_EPOCH and _state(run_dir)["finished"]
    _assert_same_weights(run_dir, reference_dir)
    np.testing.assert_allclose(_epoch_losses(run_dir), _epoch_losses(reference_dir), rtol=0, atol=TOLERANCE)


def test_two_workers_resume_a_run_interrupted_on_one_device(two_worker_runs, cpu_reference):
    reference_dir = cpu_reference[0]
    run_dir = two_worker_runs["interrupted"]
    for output in (two_worker_runs["chief"], two_worker_runs["worker"]):
        assert "resuming inside epoch 2 at step 4" in output
    assert _state(run_dir)["step"] == EPOCHS * STEPS_PER_EPOCH and _state(run_dir)["finished"]
    _assert_same_weights(run_dir, reference_dir)
    val_losses = [[val_loss for _, val_loss in _epoch_losses(path)] for path in (run_dir, reference_dir)]
    np.testing.assert_allclose(*val_losses, rtol=0, atol=TOLERANCE)
