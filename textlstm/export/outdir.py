"""The output directory of an export: refused when it holds anything (unless overwriting),
written beside it under a temporary name and moved into place only when complete."""

import contextlib
import os
import pathlib
import shutil
import tempfile

from textlstm.errors import TextlstmError
from textlstm.rundir import DIRECTORY_MODE


def check_out_dir(out_dir, overwrite=False):
    """Refuse a file, or a non-empty directory unless `overwrite`."""
    out_dir = pathlib.Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise TextlstmError(f"{out_dir} is a file; the export needs a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise TextlstmError(f"{out_dir} exists and is not empty; choose another directory or pass --overwrite")
    return out_dir


@contextlib.contextmanager
def fresh_directory(out_dir, overwrite=False):
    """Yield a temporary directory beside `out_dir` that replaces it on success.

    On failure the temporary directory is removed and `out_dir` is left as it was.
    """
    out_dir = check_out_dir(out_dir, overwrite).absolute()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    temp = pathlib.Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.export-"))
    temp.chmod(DIRECTORY_MODE)  # the export is read by servers, often as another user: mkdir's mode, not 0700
    try:
        yield temp
        if out_dir.exists():
            old = pathlib.Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.old-"))
            os.replace(out_dir, old / "previous")
            os.replace(temp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(temp, out_dir)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
