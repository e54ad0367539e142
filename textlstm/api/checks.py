"""Argument checks of the Python API: a wrong type or value is one `TextlstmError` that names
the argument, what was expected and what was received.

Caps and choices are not written here: `check_declared` checks an argument against the
declaration in `textlstm.schema` that the CLI option and the recipe key use, and every string
is checked to be valid Unicode text (`textio.check_text`) before it reaches SentencePiece or
TensorFlow.
"""

import numbers
import os

from textlstm.errors import TextlstmError
from textlstm.textio import check_text


def check_int(name, value, minimum=None, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TextlstmError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        raise TextlstmError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def check_float(name, value, allow_none=True):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TextlstmError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    return float(value)


def check_str(name, value):
    """`value` if it is a string of valid Unicode text (no lone surrogate)."""
    if not isinstance(value, str):
        raise TextlstmError(f"{name} must be a string, got {type(value).__name__} {value!r}")
    return check_text(value, name)


def check_declared(name, value, key, kind=None, allow_none=True):
    """`value` checked against the declaration of `key` ("decode.batch_size", "tag.n_best") in
    `textlstm.schema`, for the family `kind` (None: an option every family shares); the error
    names the argument, as "batch_size must be an integer >= 1 and <= 1_000_000, got 1000000000"."""
    from textlstm.schema import spec_of

    if value is None and allow_none:
        return None
    return spec_of(kind, key).check(name, value)


def check_path(name, value):
    if not isinstance(value, (str, os.PathLike)):
        raise TextlstmError(f"{name} must be a path (str or os.PathLike), got {type(value).__name__} {value!r}")
    return value


def check_string_list(name, value):
    """A list (or tuple) of strings; a lone string is refused (it would be read as characters)."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise TextlstmError(f"{name} must be a list of strings, got {type(value).__name__}")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise TextlstmError(f"{name}[{index}] must be a string, got {type(item).__name__} {item!r}")
        check_text(item, f"{name}[{index}]")
    return list(value)
