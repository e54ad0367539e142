"""Which OUT_DIR `textlstm export` may write: never the run it exports, a directory around or
inside it, another run, `/`, home or the current directory; `--overwrite` replaces only a
previous export. Every refusal is one line and leaves every file as it was.

The refusals come before the model is loaded, so most cases use a run directory that holds
only run.json beside some files; the cases that export use the shared tiny char LM.
"""

import errno
import hashlib
import os
import shutil

import pytest
import tensorflow as tf

import textlstm.export
from support.cli import assert_one_error_line, invoke
from support.runs import tiny_run
from textlstm.errors import TextlstmError
from textlstm.export.outdir import MANIFEST, check_out_dir
from textlstm.rundir import _FILE_MODE, DIRECTORY_MODE


def snapshot(directory):
    """{relative path: sha256} of every file below `directory`, and every directory."""
    found = {}
    for root, directories, files in os.walk(directory):
        for name in directories:
            found[os.path.relpath(os.path.join(root, name), directory) + "/"] = "dir"
        for name in files:
            with open(os.path.join(root, name), "rb") as handle:
                found[os.path.relpath(os.path.join(root, name), directory)] = hashlib.sha256(handle.read()).hexdigest()
    return found


@pytest.fixture
def fake_run(tmp_path):
    """`runs/r`: a charlm run directory by its run.json, with files standing for its model and
    data, beside a second run `runs/other`."""
    run = tmp_path / "runs" / "r"
    for path in (run, tmp_path / "runs" / "other"):
        path.mkdir(parents=True)
        (path / "run.json").write_text('{"kind": "charlm"}')
        (path / "best.keras").write_bytes(b"weights")
    (run / "notes").mkdir()
    (run / "notes" / "todo.txt").write_text("mine")
    return run


@pytest.mark.parametrize(
    "where, fragment",
    [
        (lambda run: run, "is the run directory being exported"),
        (lambda run: run.parent, "contains the run directory"),
        (lambda run: run.parent.parent, "contains the run directory"),
        (lambda run: run / "notes", "lies inside the run directory"),
        (lambda run: run / "exported" / "1", "lies inside the run directory"),
    ],
)
def test_export_onto_the_run_around_it_or_inside_it_is_refused(fake_run, where, fragment):
    before = snapshot(fake_run.parent.parent)
    for extra in ([], ["--overwrite"]):
        assert_one_error_line(invoke("export", fake_run, where(fake_run), *extra), fragment)
        assert snapshot(fake_run.parent.parent) == before


def test_paths_are_compared_with_symlinks_resolved(fake_run, tmp_path):
    (tmp_path / "link").symlink_to(fake_run)
    (tmp_path / "up").symlink_to(fake_run.parent)
    before = snapshot(fake_run.parent)
    assert_one_error_line(invoke("export", fake_run, tmp_path / "link", "--overwrite"), "is the run directory")
    assert_one_error_line(invoke("export", tmp_path / "link", fake_run, "--overwrite"), "is the run directory")
    assert_one_error_line(invoke("export", fake_run, tmp_path / "up", "--overwrite"), "contains the run directory")
    assert_one_error_line(invoke("export", fake_run, tmp_path / "up" / "r" / "x", "--overwrite"), "lies inside")
    assert snapshot(fake_run.parent) == before


def test_overwrite_of_a_directory_that_is_not_an_export_is_refused(fake_run, tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    line = assert_one_error_line(
        invoke("export", fake_run, target, "--overwrite"), str(target), "is not a previous export"
    )
    assert "--overwrite replaces only a previous export" in line
    assert_one_error_line(invoke("export", fake_run, target), "is not a previous export")
    assert (target / "keep.txt").read_text() == "mine" and len(list(target.iterdir())) == 1
    # a directory holding another run (not the one exported), however deep
    (target / "deep" / "er").mkdir(parents=True)
    shutil.copytree(tmp_path / "runs" / "other", target / "deep" / "er" / "run")
    before = snapshot(target)
    assert_one_error_line(
        invoke("export", fake_run, target, "--overwrite"),
        "contains the run directory",
        str(target / "deep" / "er" / "run"),
    )
    assert snapshot(target) == before


def test_root_home_and_current_directory_are_refused(fake_run, tmp_path, monkeypatch):
    with pytest.raises(TextlstmError, match="is the root directory"):
        check_out_dir("/", fake_run, overwrite=True)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    with pytest.raises(TextlstmError, match="is the home directory"):
        check_out_dir("~", fake_run, overwrite=True)
    with pytest.raises(TextlstmError, match="is the home directory"):
        check_out_dir(home, fake_run, overwrite=True)
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    with pytest.raises(TextlstmError, match="is the current directory and not a previous export"):
        check_out_dir(".", fake_run, overwrite=True)
    assert check_out_dir(here / "new", fake_run) == here / "new"  # a new directory anywhere else is fine


def test_the_api_goes_through_the_same_check(fake_run):
    before = snapshot(fake_run.parent)
    for out in (fake_run, fake_run.parent, fake_run / "x"):
        with pytest.raises(TextlstmError, match="run directory"):
            textlstm.export.export(fake_run, out, overwrite=True)
    assert snapshot(fake_run.parent) == before


# --- exports that are written ---------------------------------------------------------------


def test_overwrite_replaces_only_a_previous_export(tmp_path_factory, tmp_path):
    run = tiny_run(tmp_path_factory, "charlm")
    out = tmp_path / "exported" / "1"
    result = invoke("export", run, out)
    assert result.exit_code == 0, result.output
    assert (out / "saved_model.pb").is_file() and (out / MANIFEST).is_file()
    assert_one_error_line(invoke("export", run, out), "holds a previous export", "--overwrite")
    first = (out / "saved_model.pb").stat().st_mtime_ns
    result = invoke("export", run, out, "--overwrite")
    assert result.exit_code == 0, result.output
    assert (out / "saved_model.pb").stat().st_mtime_ns != first
    assert [p.name for p in out.parent.iterdir()] == ["1"]  # no temporary left behind
    # a file the export did not write makes it someone's directory again
    (out / "notes.txt").write_text("mine")
    assert_one_error_line(invoke("export", run, out, "--overwrite"), "notes.txt", "did not write")
    assert (out / "notes.txt").read_text() == "mine"
    (out / "notes.txt").unlink()
    # an export made before the manifest: saved_model.pb with textlstm's assets file, nothing else
    (out / MANIFEST).unlink()
    result = invoke("export", run, out, "--overwrite")
    assert result.exit_code == 0, result.output
    assert (out / MANIFEST).is_file()


def test_exported_files_are_readable_by_other_users(tmp_path_factory, tmp_path):
    """A server often runs as another user: every directory of the export gets mkdir's mode
    and every file open()'s under the umask (0755 and 0644 under 022), not tempfile's 0700/0600."""
    run = tiny_run(tmp_path_factory, "charlm")
    out = tmp_path / "out"
    old = os.umask(0o022)
    try:
        textlstm.export.export(run, out)
    finally:
        os.umask(old)
    assert DIRECTORY_MODE == 0o755 and _FILE_MODE == 0o644  # the umask the tests run under
    modes = {}
    for root, _directories, files in os.walk(out):
        modes[root] = os.stat(root).st_mode & 0o777
        modes.update({os.path.join(root, f): os.stat(os.path.join(root, f)).st_mode & 0o777 for f in files})
    assert len(modes) > 4
    assert {mode for path, mode in modes.items() if os.path.isdir(path)} == {0o755}, modes
    assert {mode for path, mode in modes.items() if os.path.isfile(path)} == {0o644}, modes


def test_export_onto_a_full_disk_names_the_directory_not_memory(tmp_path_factory, tmp_path, monkeypatch):
    """TensorFlow reports ENOSPC as ResourceExhaustedError, the class of running out of memory:
    the line says the disk is full and names OUT_DIR; nothing is left behind."""
    run = tiny_run(tmp_path_factory, "charlm")
    out = tmp_path / "out"

    def full(module, path, **kwargs):
        raise tf.errors.ResourceExhaustedError(
            None,
            None,
            f"{path}/variables/variables_temp/part-00000-of-00001.data-00000-of-00001.tempstate1; "
            f"{os.strerror(errno.ENOSPC)}",
        )

    monkeypatch.setattr(tf.saved_model, "save", full)
    line = assert_one_error_line(
        invoke("export", run, out),
        f"cannot write the export {out}",
        "No space left on device (ENOSPC)",
        "free some disk space",
    )
    assert "memory" not in line
    assert list(tmp_path.iterdir()) == []
