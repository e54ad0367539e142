"""The one exception type that means "the user gave us something we cannot use", and the
one-line descriptions of the machine's failures (OS errors, out of memory).

`TextlstmError` is the public name (`textlstm.TextlstmError`): the Python API raises it for
a missing, damaged or wrong-kind run directory, a bad argument or unusable input, and the
CLI prints it as a single `Error: ...` line and exits non-zero (`UserError` is the same
class under its older name); so are an OSError (disk full, read-only file system, a path
through a file, permission denied; also TensorFlow's and h5py's errors raised for one) and
running out of memory (`MemoryError`, TensorFlow's `ResourceExhaustedError` when it is not a
full disk). Any other exception is a bug in textlstm and keeps its traceback.

`describe_machine_error` is the one place that words these; `naming_path` turns them into a
`TextlstmError` naming the file being written or read.
"""

import contextlib
import errno
import math
import os
import re


class TextlstmError(Exception):
    """A problem with the user's input, paths, settings or arguments, explained in one line.

    A refusal that names a Python caller's parameters is a `ParameterError`, so that the CLI
    can name its options instead.
    """

    exit_code = 1


UserError = TextlstmError  # the name the library used first; the same class


class Interrupted(UserError):
    """Training stopped by Ctrl-C after saving a checkpoint; the message says how to continue.

    The CLI prints it as it is (it is not an error) and exits with 130, the shell's status
    for a program ended by SIGINT.
    """

    exit_code = 130


class ParameterError(TextlstmError):
    """A refusal that names the parameters of a library call, spelled as its caller gave them:
    the one mechanism by which the Python API and the CLI word the same refusal each in its own
    terms ("n_best (3) cannot exceed beam_size (2)"; "--n-best (3) cannot exceed --beam-size (2)").

    `template` holds a `{field}` for each field given. A field is either a parameter, `(name,
    value)` or `(name, value, key)`: the Python parameter, the value given (None: the name alone)
    and the setting it stands for (`"decode.n_best"`, None: none); or a string, inserted as it is
    (text from the user's input, never read for fields). `str()` spells the parameters in Python
    (`run_dir`, `epochs=1`, `resume=True`, `overrides['data.paths']`); `spelled(spell)` with
    another spelling, `spell(name, value, key) -> str` (the CLI: `textlstm.cli.options.option_spelling`).
    """

    def __init__(self, template: str, **fields):
        self.template = template
        self.parameters = {
            field: tuple(value) + (None,) * (3 - len(value))
            for field, value in fields.items()
            if isinstance(value, tuple)
        }
        self.literals = {field: value for field, value in fields.items() if not isinstance(value, tuple)}
        super().__init__(self.spelled(python_spelling))

    def spelled(self, spell) -> str:
        """The message with each parameter written by `spell(name, value, key)`, in one pass."""

        def field(match):
            name = match.group(1)
            if name in self.parameters:
                return spell(*self.parameters[name])
            return str(self.literals[name]) if name in self.literals else match.group(0)

        return re.sub(r"\{(\w+)\}", field, self.template)


def python_spelling(name: str, value=None, key=None) -> str:
    """How `ParameterError` names a parameter to a Python caller (`key` plays no part)."""
    if value is None:
        return name
    if name == "overrides":  # the override's "section.key=value" string: named by its key
        return f"overrides[{str(value).split('=', 1)[0].strip()!r}]"
    return f"{name}={value!r}"


def no_such_file(path, what: str = "file") -> TextlstmError:
    """The one wording of a missing input path in every command: "no such file: PATH"
    (`what` names the kind of file, e.g. "no such vocabulary file: PATH"). Returns the error to raise."""
    return TextlstmError(f"no such {what}: {path}")


# errnos recognised in the text of an error that carries none: TensorFlow's file errors end in
# "; <strerror>" (and ENOSPC, EDQUOT come as ResourceExhaustedError, the class of running out of
# memory), h5py's say "errno = 28"
_NAMED_ERRNOS = (
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.EIO,
    errno.EFBIG,
    errno.EMFILE,
    errno.ENFILE,
    errno.ENAMETOOLONG,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.ENOENT,
)
_HINTS = {
    errno.ENOSPC: "; free some disk space",
    errno.EDQUOT: "; free some disk space",
    errno.EROFS: "; choose a writable location",
    errno.ENOMEM: "; lower the model or batch size",
}


def _errno_in_text(text: str) -> int | None:
    found = re.search(r"errno = (\d+)", text)
    if found and int(found.group(1)) in errno.errorcode:
        return int(found.group(1))
    return next((code for code in _NAMED_ERRNOS if os.strerror(code) in text), None)


def _carries_os_text(error: BaseException) -> bool:
    """An OSError without errno (h5py) or a TensorFlow error (whose file errors carry an errno's text)."""
    return isinstance(error, OSError) or type(error).__module__.startswith("tensorflow")


def os_error_of(error: BaseException, chain: bool = True) -> OSError | None:
    """The operating-system failure behind `error`, or None when it is not one.

    Looks at `error` and (with `chain`) along its cause/context chain: an OSError with an errno is returned as
    it is; an OSError without one (h5py) or a TensorFlow error whose text names an errno's
    reason ("...; No space left on device", "errno = 28") becomes an OSError with that errno
    (and the last absolute path in the text as its filename). A bare OSError whose reason is
    not recognised is returned as it is.
    """
    seen, bare = 0, None
    while error is not None and seen < (10 if chain else 1):
        if isinstance(error, OSError) and error.errno is not None:
            return error
        if _carries_os_text(error):
            text = str(error)
            code = _errno_in_text(text)
            if code is not None:
                before = text.split(os.strerror(code))[0]
                paths = re.findall(r"(/[^\s;'\",]+)", before)
                filename = getattr(error, "filename", None) or (paths[-1].rstrip(":.") if paths else None)
                return OSError(code, os.strerror(code), filename)
            if isinstance(error, OSError) and bare is None:
                bare = error
        error, seen = error.__cause__ or error.__context__, seen + 1
    return bare


def describe_os_error(error: OSError, action: str | None = None, path=None) -> str:
    """One line for an OSError: what failed on which path, the reason and the errno name.

    `action` ("write", "read", ...) is said when known, and `path` (when given) is named
    instead of the error's own filename: "cannot write runs/a/best.keras: No space left on
    device (ENOSPC); free some disk space", "cannot read runs/a/last.keras: Permission denied
    (EACCES)".
    """
    name = errno.errorcode.get(error.errno or 0, "")
    reason = error.strerror or str(error) or type(error).__name__
    if path is None:
        path = error.filename
        if path is not None and error.filename2 is not None:
            path = f"{path} -> {error.filename2}"
    if path is None:
        head = f"cannot {action}" if action else "operating-system error"
    else:
        head = f"cannot {action} {path}" if action else str(path)
    return f"{head}: {reason}" + (f" ({name})" if name else "") + _HINTS.get(error.errno, "")


def describe_machine_error(error: BaseException, action: str | None = None, path=None) -> str | None:
    """The one line for a failure of the machine rather than of textlstm, or None for anything else.

    An OS error (`os_error_of`: disk full, permission denied, read-only file system, ...,
    whether Python, h5py or TensorFlow raised it) is named by its reason and path
    (`describe_os_error`); running out of memory (`MemoryError`, or TensorFlow's
    `ResourceExhaustedError` that is not a disk's ENOSPC/EDQUOT) by `describe_memory_error`.
    """
    cause = os_error_of(error, chain=False)  # a bug's traceback stays, whatever it was handling
    if cause is not None and (cause.errno is not None or isinstance(error, OSError)):
        return describe_os_error(cause, action, path)
    if isinstance(error, MemoryError) or type(error).__name__ == "ResourceExhaustedError":
        return describe_memory_error(error)
    return None


@contextlib.contextmanager
def naming_path(path, action: str = "write"):
    """Turn an OS failure inside the block into one `TextlstmError` naming `path` and the reason
    (`describe_os_error`), e.g. a full disk while Keras's CSVLogger appends to metrics.csv, whose
    own OSError names no file. Other errors pass through unchanged."""
    try:
        yield
    except TextlstmError:
        raise
    except Exception as error:
        cause = os_error_of(error)
        if cause is None:
            raise
        raise TextlstmError(describe_os_error(cause, action, path)) from None


_DTYPE_BYTES = {
    "float": 4,
    "float32": 4,
    "half": 2,
    "float16": 2,
    "bfloat16": 2,
    "double": 8,
    "float64": 8,
    "int32": 4,
    "int64": 8,
    "int8": 1,
    "uint8": 1,
    "bool": 1,
}


def describe_memory_error(error: BaseException) -> str:
    """One line for running out of memory, with the size that could not be allocated when the
    error says it (TensorFlow: "OOM when allocating tensor with shape[...] and type float")."""
    text = str(error)
    hint = "; lower model.units, model.layers, train.batch_size or data.seq_len/max_len"
    found = re.search(r"OOM when allocating tensor with shape\[([0-9, ]*)\] and type (\w+)", text)
    if found:
        dims = [int(d) for d in found.group(1).replace(" ", "").split(",") if d]
        size = math.prod(dims) * _DTYPE_BYTES.get(found.group(2), 4)
        return (
            f"out of memory allocating a {found.group(2)} tensor of shape [{', '.join(map(str, dims))}] "
            f"({format_bytes(size)})" + hint
        )
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
