"""Argument checks of the Python API: a wrong type or value is one `TextlstmError` that names
the argument, what was expected and what was received.

Types, caps and choices are not written here: `check_declared` checks an argument with the one
validator (`textlstm.spec`) against the declaration that the CLI option and the recipe key use, and every string
is checked to be valid Unicode text (`textio.check_text`) before it reaches SentencePiece or
TensorFlow.
"""

import numbers
import os

from textlstm.errors import TextlstmError
from textlstm.schema import check_argument
from textlstm.textio import check_text


def check_int(name, value):
    """`value` if it is an integer (not a bool); a range is for `check_declared`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TextlstmError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    return int(value)


def check_str(name, value):
    """`value` if it is a string of valid Unicode text (no lone surrogate)."""
    if not isinstance(value, str):
        raise TextlstmError(f"{name} must be a string, got {type(value).__name__} {value!r}")
    return check_text(value, name)


def check_declared(name, value, key, kind=None, allow_none=True):
    """`value` checked against the declaration of `key` ("decode.batch_size", "tag.n_best") in
    `textlstm.schema`, for the family `kind` (None: an option every family shares); the error
    names the argument, as "batch_size must be an integer >= 1 and <= 1_000_000, got 1000000000", and
    is a `ParameterError` carrying `key`, so the CLI names its option instead."""
    if value is None and allow_none:
        return None
    return check_argument(name, value, key, kind)


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
