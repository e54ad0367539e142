"""The output directory of an export: checked so that an export never costs data, written
beside it under a temporary name and moved into place only when complete.

OUT_DIR may be new, an empty directory, or (with `overwrite`) a previous export, which is
recognised by the manifest `textlstm-export.json` every export writes at its top, listing
the entries it wrote (an export made before the manifest: a SavedModel with textlstm's
`assets/textlstm_export.json`, or the files of an ONNX export, and nothing else). Refused,
always, with one line and nothing touched: OUT_DIR that is, contains or lies inside the run
directory exported (paths compared after resolving symlinks), that contains any run
directory, `/`, the home directory, the current directory unless it is a previous export,
a file, and anything else that exists and is not empty.
"""

import contextlib
import json
import os
import pathlib
import shutil
import tempfile

import textlstm
from textlstm.errors import TextlstmError, describe_os_error, naming_path
from textlstm.rundir import _FILE_MODE, DIRECTORY_MODE, RUN_FILE

MANIFEST = "textlstm-export.json"
# What the exports made before the manifest hold, by the file that marks each.
_OLD_LAYOUTS = {
    "saved_model.pb": {"saved_model.pb", "fingerprint.pb", "variables", "assets", "assets.extra"},
    "charlm_step.onnx": {"charlm_step.onnx", "vocab.json"},
    "tagger.onnx": {"tagger.onnx", "crf.json", "words.json", "chars.json", "tags.json", "tagset.json"},
}
_WALK_LIMIT = 10_000  # directories looked through for a run directory before giving up the search


def _resolved(path) -> pathlib.Path:
    return pathlib.Path(os.path.realpath(os.path.expanduser(os.fspath(path))))


def _inside(path: pathlib.Path, directory: pathlib.Path) -> bool:
    return path == directory or directory in path.parents


def _run_directory_below(directory: pathlib.Path) -> pathlib.Path | None:
    """A directory holding run.json at or below `directory` (symlinks not followed), if any."""
    for count, (root, _, files) in enumerate(os.walk(directory)):
        if RUN_FILE in files:
            return pathlib.Path(root)
        if count >= _WALK_LIMIT:
            return None
    return None


def export_entries(directory) -> list[str] | None:
    """The top-level entries of the previous export in `directory`, or None if it is not one."""
    directory = pathlib.Path(directory)
    entries = {entry.name for entry in directory.iterdir()}
    manifest = directory / MANIFEST
    if manifest.is_file():
        try:
            written = json.loads(manifest.read_text(encoding="utf-8")).get("entries")
        except (OSError, ValueError, AttributeError):
            return None
        if isinstance(written, list) and all(isinstance(name, str) for name in written):
            return sorted(set(written) | {MANIFEST})
        return None
    for marker, layout in _OLD_LAYOUTS.items():
        if (
            marker in entries
            and entries <= layout
            and (marker != "saved_model.pb" or (directory / "assets" / "textlstm_export.json").is_file())
        ):
            return sorted(layout)
    return None


def check_out_dir(out_dir, run_dir=None, overwrite=False) -> pathlib.Path:
    """The resolved `out_dir` after checking that exporting `run_dir` into it loses nothing.

    Raises:
        TextlstmError: `out_dir` is, contains or lies inside `run_dir`; it is `/`, the home
            directory, or contains a run directory; it is a file; it exists, is not empty and
            is not a previous export (with `overwrite`), or is one (without `overwrite`); it
            is the current directory and not a previous export; or it holds entries a previous
            export did not write.
    """
    given, out = out_dir, _resolved(out_dir)
    if out == out.parent:
        raise TextlstmError(f"{given} is the root directory; choose a new directory for the export")
    if out == _resolved("~"):
        raise TextlstmError(f"{given} is the home directory; choose a new directory for the export")
    if run_dir is not None:
        run = _resolved(run_dir)
        if out == run:
            raise TextlstmError(f"{given} is the run directory being exported; choose another output directory")
        if _inside(out, run):
            raise TextlstmError(f"{given} lies inside the run directory {run_dir}; choose a directory outside it")
        if _inside(run, out):
            raise TextlstmError(
                f"{given} contains the run directory {run_dir} being exported; choose a directory that does not hold it"
            )
    if out.exists() and not out.is_dir():
        raise TextlstmError(f"{given} is a file; the export needs a directory")
    if not out.is_dir():
        return out
    try:
        empty = not any(out.iterdir())
    except OSError as error:
        raise TextlstmError(describe_os_error(error, "read", given)) from None
    entries = None if empty else export_entries(out)
    if out == _resolved(os.getcwd()) and entries is None:
        raise TextlstmError(
            f"{given} is the current directory and not a previous export; choose a new directory for the export"
        )
    if empty:
        return out
    if entries is None:
        run = _run_directory_below(out)
        if run is not None:
            raise TextlstmError(f"{given} contains the run directory {run}; choose a new directory for the export")
        raise TextlstmError(
            f"{given} exists and is not a previous export (no {MANIFEST}); choose a new or "
            "empty directory (--overwrite replaces only a previous export)"
        )
    extra = sorted({entry.name for entry in out.iterdir()} - set(entries))
    if extra:
        raise TextlstmError(
            f"{given} holds a previous export and also {', '.join(extra[:5])}, which the export "
            "did not write; move them out or choose another directory"
        )
    run = _run_directory_below(out)
    if run is not None:
        raise TextlstmError(f"{given} contains the run directory {run}; choose a new directory for the export")
    if not overwrite:
        raise TextlstmError(
            f"{given} holds a previous export; pass --overwrite to replace it, or choose another directory"
        )
    return out


def _write_manifest(directory: pathlib.Path, export_format: str):
    entries = sorted(entry.name for entry in directory.iterdir())
    manifest = {"format": export_format, "entries": entries, "textlstm_version": textlstm.__version__}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _readable_modes(directory: pathlib.Path):
    """Directories get mkdir's mode and files open()'s, under the umask (0755 and 0644 under
    022), whatever the writer used: tempfile's 0700, or a copied file's own mode. A server
    reading the export often runs as another user."""
    for root, _directories, files in os.walk(directory):
        os.chmod(root, DIRECTORY_MODE)
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, _FILE_MODE)


def _replace_previous(out: pathlib.Path, temp: pathlib.Path):
    """Move `out` aside, `temp` into its place, then remove the old one; if the second move
    fails, `out` is moved back."""
    old = pathlib.Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
    os.replace(out, old / "previous")
    try:
        os.replace(temp, out)
    except BaseException:
        os.replace(old / "previous", out)
        old.rmdir()
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def fresh_directory(out_dir, run_dir=None, overwrite=False, export_format="saved_model"):
    """Yield an empty temporary directory beside `out_dir` that replaces it on success.

    `out_dir` is checked first (`check_out_dir`); a symlink is followed, so the directory
    it points to is the one replaced. On success the manifest is written, the modes made
    readable (`_readable_modes`) and the directory moved into place in one rename (a previous
    export is moved aside first, then removed). On failure the temporary directory is
    removed and `out_dir` is left as it was; an OS failure (a full disk) becomes one
    `TextlstmError` naming `out_dir`.
    """
    out = check_out_dir(out_dir, run_dir, overwrite)
    with naming_path(out_dir, "write the export"):
        out.parent.mkdir(parents=True, exist_ok=True)
        temp = pathlib.Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.export-"))
    try:
        with naming_path(out_dir, "write the export"):
            yield temp
            _write_manifest(temp, export_format)
            _readable_modes(temp)
            if out.exists():
                _replace_previous(out, temp)
            else:
                os.replace(temp, out)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
