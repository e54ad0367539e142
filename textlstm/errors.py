"""The one exception type that means "the user gave us something we cannot use", and the
one-line descriptions of the machine's failures (OS errors, out of memory).

`TextlstmError` is the public name (`textlstm.TextlstmError`): the Python API raises it for
a missing, damaged or wrong-kind run directory, a bad argument or unusable input, and the
CLI prints it as a single `Error: ...` line and exits non-zero (`UserError` is the same
class under its older name); so are an OSError (disk full, read-only file system, a path
through a file, permission denied) and running out of memory (`MemoryError`, TensorFlow's
`ResourceExhaustedError`). Any other exception is a bug in textlstm and keeps its traceback.
"""

import errno
import math
import re


class TextlstmError(Exception):
    """A problem with the user's input, paths, settings or arguments, explained in one line."""

    exit_code = 1


UserError = TextlstmError  # the name the library used first; the same class


class Interrupted(UserError):
    """Training stopped by Ctrl-C after saving a checkpoint; the message says how to continue.

    The CLI prints it as it is (it is not an error) and exits with 130, the shell's status
    for a program ended by SIGINT.
    """

    exit_code = 130


def no_such_file(path, what: str = "file") -> TextlstmError:
    """The one wording of a missing input path in every command: "no such file: PATH"
    (`what` names the kind of file, e.g. "no such vocabulary file: PATH"). Returns the error to raise."""
    return TextlstmError(f"no such {what}: {path}")


def describe_os_error(error: OSError, action: str | None = None) -> str:
    """One line for an OSError: what failed on which path, the reason and the errno name.

    `action` ("write", "read", ...) is said when known: "cannot write runs/a/best.keras:
    No space left on device (ENOSPC); free some disk space".
    """
    name = errno.errorcode.get(error.errno or 0, "")
    reason = error.strerror or str(error) or type(error).__name__
    path = error.filename
    if path is not None and error.filename2 is not None:
        path = f"{path} -> {error.filename2}"
    if path is None:
        head = f"cannot {action}" if action else "operating-system error"
    else:
        head = f"cannot {action} {path}" if action else str(path)
    hint = {errno.ENOSPC: "; free some disk space", errno.EDQUOT: "; free some disk space",
            errno.EROFS: "; choose a writable location", errno.ENOMEM: "; lower the model or batch size"}
    return f"{head}: {reason}" + (f" ({name})" if name else "") + hint.get(error.errno, "")


_DTYPE_BYTES = {"float": 4, "float32": 4, "half": 2, "float16": 2, "bfloat16": 2, "double": 8, "float64": 8,
                "int32": 4, "int64": 8, "int8": 1, "uint8": 1, "bool": 1}


def describe_memory_error(error: BaseException) -> str:
    """One line for running out of memory, with the size that could not be allocated when the
    error says it (TensorFlow: "OOM when allocating tensor with shape[...] and type float")."""
    text = str(error)
    hint = "; lower model.units, model.layers, train.batch_size or data.seq_len/max_len"
    found = re.search(r"OOM when allocating tensor with shape\[([0-9, ]*)\] and type (\w+)", text)
    if found:
        dims = [int(d) for d in found.group(1).replace(" ", "").split(",") if d]
        size = math.prod(dims) * _DTYPE_BYTES.get(found.group(2), 4)
        return (f"out of memory allocating a {found.group(2)} tensor of shape [{', '.join(map(str, dims))}] "
                f"({format_bytes(size)})" + hint)
    numpy_size = re.search(r"Unable to allocate ([0-9.]+ \w+)", text)
    if numpy_size:
        return f"out of memory allocating {numpy_size.group(1)}" + hint
    first = (text.strip().splitlines() or [""])[0][:200]
    return f"out of memory ({type(error).__name__}{': ' + first if first else ''})" + hint


def format_bytes(size: float) -> str:
    """1536 -> "1.5 KiB"."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size} bytes"
