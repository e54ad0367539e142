import json
import os
import stat

import numpy as np
import pytest

import textlstm
from textlstm import rundir
from textlstm.errors import UserError
from textlstm.rundir import (
    RunDir,
    atomic_save_model,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    is_chief,
    load_keras_model,
)


def test_atomic_writes_replace_content(tmp_path):
    path = tmp_path / "sub" / "f.txt"
    atomic_write_text(path, "héllo\n")
    atomic_write_text(path, "second\n")
    assert path.read_text(encoding="utf-8") == "second\n"
    atomic_write_bytes(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert sorted(os.listdir(path.parent)) == ["f.txt"]


def test_atomic_write_respects_umask_not_mkstemp_mode(tmp_path):
    path = tmp_path / "f.txt"
    atomic_write_text(path, "x")
    assert stat.S_IMODE(path.stat().st_mode) == rundir._FILE_MODE


def test_atomic_write_json_is_sorted_and_indented(tmp_path):
    path = tmp_path / "m.json"
    atomic_write_json(path, {"b": 1, "a": ["ü"]})
    text = path.read_text(encoding="utf-8")
    assert text == '{\n  "a": [\n    "ü"\n  ],\n  "b": 1\n}\n'


def test_failed_write_keeps_old_file_and_removes_temp(tmp_path):
    path = tmp_path / "m.json"
    atomic_write_json(path, {"ok": True})
    with pytest.raises(TypeError):
        atomic_write_json(path, {"bad": object()})
    with pytest.raises(TypeError):
        atomic_write_bytes(path, "text where bytes belong")  # fails after the temp file exists
    assert json.loads(path.read_text()) == {"ok": True}
    assert os.listdir(tmp_path) == ["m.json"]


def test_failed_model_save_leaves_no_temp(tmp_path):
    class Broken:
        def save(self, path):
            with open(path, "wb") as handle:
                handle.write(b"partial")
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_save_model(Broken(), tmp_path / "model.keras")
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match="must end in '.keras'"):
        atomic_save_model(Broken(), tmp_path / "model.h5")


def test_save_and_load_model_gives_same_predictions(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(2)])
    inputs = np.arange(6, dtype="float32").reshape(2, 3) / 6
    path = tmp_path / "model.keras"
    atomic_save_model(model, path)
    atomic_save_model(model, path)  # replacing an existing model works too
    assert os.listdir(tmp_path) == ["model.keras"]
    loaded = load_keras_model(path)
    np.testing.assert_array_equal(loaded.predict(inputs, verbose=0), model.predict(inputs, verbose=0))


def test_load_missing_model(tmp_path):
    with pytest.raises(UserError, match="no model file at .*missing.keras"):
        load_keras_model(tmp_path / "missing.keras")
    with pytest.raises(UserError, match="no model file at"):
        load_keras_model(tmp_path)


@pytest.mark.parametrize("content", [b"garbage bytes, not a zip", b"", "truncated"])
def test_load_corrupt_model(tmp_path, content):
    import keras

    path = tmp_path / "model.keras"
    if content == "truncated":
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        atomic_save_model(model, path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path.write_bytes(content)
    with pytest.raises(UserError) as info:
        load_keras_model(path)
    message = str(info.value)
    assert message.startswith(f"model file {path} is damaged")  # never "not found" for a file that is there
    assert "not found" not in message and "\n" not in message


def test_create_writes_run_json(tmp_path):
    run = RunDir.create(tmp_path / "a" / "b", "charlm")
    assert run.path == tmp_path / "a" / "b" and run.kind == "charlm"
    info = json.loads((run.path / "run.json").read_text())
    assert info == {"kind": "charlm", "textlstm_version": textlstm.__version__}
    assert run.file("vocab.json") == run.path / "vocab.json"
    assert RunDir.create(run.path, "charlm").kind == "charlm"  # an existing dir is fine


def test_create_refuses_other_kind_and_files(tmp_path):
    RunDir.create(tmp_path / "run", "tagger")
    with pytest.raises(UserError, match="already holds a 'tagger' model"):
        RunDir.create(tmp_path / "run", "charlm")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        RunDir.create(tmp_path / "file", "charlm")


def test_open_checks_kind(tmp_path):
    RunDir.create(tmp_path / "run", "tagger")
    assert RunDir.open(tmp_path / "run", "tagger").kind == "tagger"
    assert RunDir.open(tmp_path / "run", ("charlm", "tagger")).kind == "tagger"
    assert RunDir.read_kind(tmp_path / "run") == "tagger"
    with pytest.raises(UserError, match="holds a 'tagger' model, not a 'charlm' model"):
        RunDir.open(tmp_path / "run", "charlm")
    with pytest.raises(UserError, match="not a 'charlm' or 'seq2seq' model"):
        RunDir.open(tmp_path / "run", ("charlm", "seq2seq"))


@pytest.mark.parametrize(
    "setup, message",
    [
        (None, r"run directory .*run does not exist"),
        ("file", r"run is a file, not a run directory"),
        ("empty", r"run is not a textlstm run directory \(no run.json\)"),
        ("{not json", r"run\.json is corrupt"),
        ('["charlm"]', r"run\.json is corrupt \(expected an object"),
        ('{"kind": 3}', r"run\.json is corrupt"),
    ],
)
def test_open_errors(tmp_path, setup, message):
    path = tmp_path / "run"
    if setup == "file":
        path.write_text("x")
    elif setup == "empty":
        path.mkdir()
    elif setup is not None:
        path.mkdir()
        (path / "run.json").write_text(setup)
    with pytest.raises(UserError, match=message):
        RunDir.open(path, "charlm")
    with pytest.raises(UserError, match=message):
        RunDir.read_kind(path)


def test_recipe_round_trip(tmp_path):
    defaults = {"model": {"cell": "lstm", "units": 8, "extra": None}, "train": {"lr": 0.1}}
    run = RunDir.create(tmp_path / "run", "charlm")
    with pytest.raises(UserError, match="has no recipe.toml"):
        run.read_recipe()
    run.write_recipe(defaults)
    assert run.read_recipe() == {"model": {"cell": "lstm", "units": 8}, "train": {"lr": 0.1}}
    assert run.read_recipe(defaults) == defaults


@pytest.mark.parametrize(
    "tf_config, chief",
    [
        (None, True),
        ("", True),
        ({"cluster": {"worker": ["a:1"]}}, True),
        ({"cluster": {"chief": ["c:1"], "worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}, True),
        ({"cluster": {"chief": ["c:1"], "worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}, False),
        ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 0}}, True),
        ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}, False),
        ({"cluster": {"worker": ["a:1"], "ps": ["p:1"]}, "task": {"type": "ps", "index": 0}}, False),
        ({"cluster": {"worker": ["a:1"]}, "task": {"type": "evaluator", "index": 0}}, False),
    ],
)
def test_is_chief(monkeypatch, tf_config, chief):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config if isinstance(tf_config, str) else json.dumps(tf_config))
    assert is_chief() is chief


def test_is_chief_bad_tf_config(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{oops")
    with pytest.raises(UserError, match="TF_CONFIG is not valid JSON"):
        is_chief()


# --- failures while writing, the training lock, --overwrite -----------------------------------


@pytest.mark.parametrize("code", ["ENOSPC", "EROFS", "EACCES"])
def test_os_error_while_writing_is_one_line_and_keeps_the_old_file(tmp_path, monkeypatch, code):
    import errno

    path = tmp_path / "state.json"
    atomic_write_json(path, {"epoch": 1})

    def replace(source, target):
        raise OSError(getattr(errno, code), os.strerror(getattr(errno, code)))

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(UserError) as info:
        atomic_write_json(path, {"epoch": 2})
    assert str(info.value).startswith(f"cannot write {path}: ") and f"({code})" in str(info.value)
    assert json.loads(path.read_text()) == {"epoch": 1} and os.listdir(tmp_path) == ["state.json"]


def test_writing_onto_a_directory_or_under_a_file(tmp_path):
    with pytest.raises(UserError, match="it is a directory"):
        atomic_write_text(tmp_path, "x")
    (tmp_path / "f").write_text("")
    with pytest.raises(UserError, match=r"cannot create directory .*f/sub: .*f is a file, not a directory"):
        atomic_write_text(tmp_path / "f" / "sub" / "out.html", "x")


def test_memory_and_os_error_lines():
    from textlstm.errors import describe_memory_error, describe_os_error

    oom = RuntimeError("{{node x}} OOM when allocating tensor with shape[1024,1024,256] and type float on /cpu")
    assert describe_memory_error(oom).startswith(
        "out of memory allocating a float tensor of shape [1024, 1024, 256] (1.0 GiB)"
    )
    assert describe_os_error(OSError(28, "No space left on device", "/x/best.keras"), "write") == (
        "cannot write /x/best.keras: No space left on device (ENOSPC); free some disk space"
    )


def test_a_second_training_is_refused_and_a_stale_lock_is_cleared(tmp_path):
    import subprocess
    import sys

    run_dir = tmp_path / "new" / "run"
    claim = rundir.claim_for_training(run_dir, "charlm")
    assert (run_dir / "train.lock").is_file()
    with pytest.raises(UserError, match=f"is in use: process {os.getpid()} on "):
        rundir.claim_for_training(run_dir, "charlm")
    claim.release()
    assert not (tmp_path / "new").exists()  # the claim made these directories and nothing was written
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    run_dir.mkdir(parents=True)
    (run_dir / "train.lock").write_text(json.dumps({"pid": child.pid, "host": rundir.socket.gethostname()}))
    (run_dir / ".last.keras.abc.partial.keras").write_bytes(b"half")
    claim = rundir.claim_for_training(run_dir, "charlm")  # the dead process's lock and temp file go
    assert sorted(os.listdir(run_dir)) == ["train.lock"]
    claim.release()
    assert sorted(os.listdir(run_dir)) == []


def test_an_existing_run_needs_resume_or_overwrite(tmp_path):
    run = RunDir.create(tmp_path / "run", "charlm")
    (run.path / "state.json").write_text("{}")
    (run.path / "mine.txt").write_text("keep")
    before = sorted(os.listdir(run.path))
    with pytest.raises(UserError, match="already holds a charlm run; continue it with --resume, or replace it"):
        rundir.claim_for_training(run.path, "charlm")
    assert sorted(os.listdir(run.path)) == before
    claim = rundir.claim_for_training(run.path, "charlm", overwrite=True)
    assert sorted(os.listdir(run.path)) == before + ["train.lock"]  # nothing removed until the run starts
    RunDir.create(run.path, "charlm")
    assert sorted(os.listdir(run.path)) == ["mine.txt", "run.json", "train.lock"]
    claim.release()


@pytest.mark.parametrize(
    "content, fragment",
    [
        ('{"epoch": "x", "step": 2}', "'epoch' is \"x\", expected a whole number >= 0"),
        ("[1, 2]", "expected a JSON object, found list"),
        ('{"epoch": 1, "bogus": 2}', "unknown field 'bogus'"),
        ('{"epoch"', "not valid JSON"),
    ],
)
def test_damaged_training_state(tmp_path, content, fragment):
    from textlstm.training import TrainingState

    path = tmp_path / "state.json"
    path.write_text(content)
    with pytest.raises(UserError, match="training state .*state.json is damaged") as info:
        TrainingState.load(path)
    assert fragment in str(info.value)


def test_disk_full_inside_keras_save_keeps_the_last_good_model(tmp_path, monkeypatch):
    import errno
    import zipfile

    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    path = tmp_path / "best.keras"
    atomic_save_model(model, path)
    good = path.read_bytes()

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(zipfile.ZipFile, "writestr", full)
    with pytest.raises(UserError, match=r"cannot write .*best.keras: No space left on device \(ENOSPC\)"):
        atomic_save_model(model, path)
    assert path.read_bytes() == good and os.listdir(tmp_path) == ["best.keras"]
