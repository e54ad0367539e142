"""Failures of the machine are named for what they are, with the path: a full disk is "No space
left on device" naming the file (also where Keras or TensorFlow raised it without a file name,
and where TensorFlow calls it ResourceExhaustedError, its class for running out of memory), an
unreadable file is "Permission denied", not "damaged", and only real memory errors say memory.

We run as root, where chmod 000 does not stop a read, so EACCES is simulated by making `open`
refuse the one file.
"""

import builtins
import errno
import os
import shutil

import keras
import pytest
import tensorflow as tf

from support.cli import assert_one_error_line, invoke, prose
from support.runs import CHARLM_TINY, tiny_run
from textlstm.errors import TextlstmError, describe_machine_error, naming_path
from textlstm.rundir import check_keras_archive

ENOSPC = os.strerror(errno.ENOSPC)


def test_tensorflow_and_h5py_errors_raised_for_an_errno_are_named_by_it():
    full = tf.errors.ResourceExhaustedError(None, None, f"/x/variables/v.data-00000-of-00001; {ENOSPC}")
    assert describe_machine_error(full, "write") == (
        "cannot write /x/variables/v.data-00000-of-00001: No space left on device (ENOSPC); free some disk space"
    )
    assert describe_machine_error(full, "write the export", "/out").startswith("cannot write the export /out: No space")
    denied = tf.errors.PermissionDeniedError(None, None, "/x/tensorboard/train; Permission denied")
    assert describe_machine_error(denied) == "/x/tensorboard/train: Permission denied (EACCES)"
    read_only = tf.errors.FailedPreconditionError(None, None, "/x/saved_model.pb; Read-only file system")
    assert "Read-only file system (EROFS); choose a writable location" in describe_machine_error(read_only)
    h5py = OSError(
        "Can't synchronously write data (file write failed: time = Mon, filename = '/x/w.h5', "
        "file descriptor = 5, errno = 28, error message = 'No space left on device')"
    )
    assert "No space left on device (ENOSPC)" in describe_machine_error(h5py, "write", "/x/best.keras")
    # running out of memory, and only that, is worded as memory
    oom = tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[64,100] and type float")
    assert describe_machine_error(oom).startswith("out of memory allocating a float tensor")
    assert describe_machine_error(MemoryError()).startswith("out of memory")
    # a bug stays a bug, whatever its text or what it was handling
    assert describe_machine_error(RuntimeError("Permission denied")) is None
    try:
        try:
            raise OSError(errno.ENOSPC, ENOSPC)
        except OSError:
            raise KeyError("x") from None
    except KeyError as error:
        assert describe_machine_error(error) is None


def test_naming_path_names_the_file_an_os_error_did_not():
    with pytest.raises(TextlstmError) as info:
        with naming_path("/runs/a/metrics.csv"):
            raise OSError(errno.ENOSPC, ENOSPC)  # what a write() on a full disk raises: no filename
    assert str(info.value) == "cannot write /runs/a/metrics.csv: No space left on device (ENOSPC); free some disk space"
    with pytest.raises(ValueError):
        with naming_path("/runs/a/metrics.csv"):
            raise ValueError("not the machine")


@pytest.fixture
def refuse_to_open(monkeypatch):
    """`refuse_to_open(name)`: opening any path that ends in `name` fails with EACCES."""
    real = builtins.open

    def refuse(name):
        def guarded(file, *args, **kwargs):
            if isinstance(file, (str, os.PathLike)) and os.fspath(file).endswith(name):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(file))
            return real(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", guarded)

    return refuse


def test_an_unreadable_model_file_is_permission_denied_not_damaged(tmp_path, refuse_to_open):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    path = tmp_path / "last.keras"
    model.save(path)
    refuse_to_open("last.keras")
    with pytest.raises(TextlstmError) as info:
        check_keras_archive(path)
    assert str(info.value) == f"cannot read {path}: Permission denied (EACCES)"


def test_resume_from_an_unreadable_last_keras_says_permission_denied(tmp_path_factory, tmp_path, refuse_to_open):
    run = tmp_path / "run"
    shutil.copytree(tiny_run(tmp_path_factory, "charlm"), run)
    refuse_to_open("last.keras")
    line = assert_one_error_line(
        invoke("train", "charlm", "--run-dir", run, "--resume", "--epochs", "2"),
        str(run / "last.keras"),
        "Permission denied (EACCES)",
    )
    assert "damaged" not in line and "cut short" not in line


def test_disk_full_while_writing_metrics_names_metrics_csv(tmp_path, monkeypatch):
    """Keras's CSVLogger raises the OSError of a full disk with no file name; the line names metrics.csv."""

    def full(self, epoch, logs=None):
        raise OSError(errno.ENOSPC, ENOSPC)

    monkeypatch.setattr(keras.callbacks.CSVLogger, "on_epoch_end", full)
    data = tmp_path / "text.txt"
    data.write_text(prose("the a river stone light garden of and".split(), 1, 2500), encoding="utf-8")
    run = tmp_path / "run"
    result = invoke(
        "train", "charlm", "--data", data, "--set", "data.valid_fraction=0.2", *CHARLM_TINY, "--run-dir", run
    )
    assert_one_error_line(result, f"cannot write {run / 'metrics.csv'}: No space left on device (ENOSPC)")
    assert not (run / "train.lock").exists()
