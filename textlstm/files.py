"""Writes that never leave a half-written file behind, and checked reads of one file.

Every file of a run directory (`textlstm.rundir`) is written here: to a temp file in the same
directory, fsync, then `os.replace`, so an interrupted write leaves the previous version intact;
an operating-system error while writing (disk full, read-only file system, a path through a
file) becomes one `UserError` naming the path, and the temp file is removed. Reads of a JSON
file or a `.keras` archive turn a missing or damaged file into one `UserError`.

This module sits below everything that writes run files (the run directory, the run check and
every family's vocabulary), and imports nothing of textlstm but its errors.
"""

import contextlib
import json
import os
import pathlib
import tempfile
import zipfile

from textlstm.errors import UserError, describe_os_error, naming_path, os_error_of

TEMP_MARK = ".partial"  # temp files are ".NAME.<random>.partial[.keras]" beside NAME


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_current_umask()  # what a plain open() would give; mkstemp gives 0o600
DIRECTORY_MODE = 0o777 & ~_current_umask()  # what a plain mkdir would give; mkdtemp gives 0o700


def make_directory(path) -> pathlib.Path:
    """`mkdir -p path`, with one `UserError` naming the path when it cannot be made."""
    path = pathlib.Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # `path` or one of its parents is a file
        blocker = next((p for p in [path, *path.parents] if p.exists() and not p.is_dir()), path)
        raise UserError(f"cannot create directory {path}: {blocker} is a file, not a directory") from None
    except NotADirectoryError:
        blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), path.parent)
        raise UserError(f"cannot create directory {path}: {blocker} is a file, not a directory") from None
    except OSError as error:
        error.filename = error.filename or str(path)
        raise UserError(describe_os_error(error, "create directory")) from None
    return path


@contextlib.contextmanager
def _temp_beside(path: pathlib.Path, suffix: str):
    """Yield a temp path next to `path`, moved onto `path` on success and removed on failure.

    An OSError anywhere in the write (ENOSPC, EROFS, EACCES, ...) becomes one `UserError`
    naming `path`; `path` itself keeps its previous content.
    """
    if path.is_dir():
        raise UserError(f"cannot write {path}: it is a directory")
    make_directory(path.parent)
    try:
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_MARK + suffix)
    except OSError as error:
        error.filename = str(path)
        raise UserError(describe_os_error(error, "write")) from None
    os.close(handle)
    try:
        with naming_path(path, "write"):
            yield temp
            os.chmod(temp, _FILE_MODE)
            os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: pathlib.Path):
    """Make the rename itself durable; not every platform can open a directory, so best effort."""
    with contextlib.suppress(OSError):
        handle = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def atomic_write_bytes(path, data: bytes):
    """Replace `path` with `data` in one step: readers see the old file or the new one."""
    with _temp_beside(pathlib.Path(path), "") as temp:
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())


def atomic_write_text(path, text: str):
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj):
    """Write `obj` as JSON (indent 2, sorted keys, UTF-8 kept readable) atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def atomic_save_model(model, path):
    """Save a Keras model to `path` (which must end in `.keras`) atomically."""
    path = pathlib.Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"model path must end in '.keras', got {str(path)!r}")
    with _temp_beside(path, ".keras") as temp:
        model.save(temp)


def load_keras_model(path, custom_objects=None, compile=False):
    """Load a `.keras` model; any failure becomes one readable `UserError`.

    `safe_mode=True` refuses to deserialize arbitrary lambdas from a file we did not write.
    With `compile=True` the optimizer and its state come back too (resuming training).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise UserError(f"no model file at {path}")
    check_keras_archive(path)
    import keras

    try:
        return keras.saving.load_model(path, safe_mode=True, compile=compile, custom_objects=custom_objects)
    except Exception as error:  # zipfile, h5py, JSON and Keras errors all mean the same here
        cause = os_error_of(error)
        if cause is not None and cause.errno is not None:  # the machine, not the file: say what it is
            raise UserError(describe_os_error(cause, "load", path)) from None
        reason = (str(error).strip().splitlines() or [""])[0][:200]
        reason = f"{type(error).__name__}: {reason}" if reason else type(error).__name__
        raise UserError(f"model file {path} is damaged or unreadable ({reason})") from None


def check_keras_archive(path):
    """Refuse a `.keras` file that is not a whole zip archive (cut short, overwritten, empty).

    Keras itself would report such a file as "not found", which misleads; the CRC of every
    member is checked too, so a flipped byte is caught here and not deep inside h5py.
    """
    path = pathlib.Path(path)
    try:
        with open(path, "rb") as handle:  # is_zipfile would call an unreadable file "not a zip" (EACCES, EIO)
            if not zipfile.is_zipfile(handle):
                raise UserError(
                    f"model file {path} is damaged: not a complete .keras (zip) archive "
                    f"({path.stat().st_size:,} bytes; was it cut short?)"
                )
            with zipfile.ZipFile(handle) as archive:
                bad = archive.testzip()
                names = set(archive.namelist())
    except (zipfile.BadZipFile, EOFError) as error:
        raise UserError(f"model file {path} is damaged ({error})") from None
    except OSError as error:
        raise UserError(describe_os_error(error, "read", path)) from None
    if bad is not None:
        raise UserError(f"model file {path} is damaged: member {bad!r} fails its checksum")
    if "config.json" not in names:
        raise UserError(f"model file {path} is damaged: the archive holds no config.json")


def read_json_file(path, what: str):
    """The JSON value of a run file; missing, unreadable or invalid JSON is one `UserError`."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise UserError(f"{what} {path} is missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"{what} {path} is damaged (not valid JSON: {error})") from None
    except OSError as error:
        raise UserError(describe_os_error(error, "read", path)) from None
