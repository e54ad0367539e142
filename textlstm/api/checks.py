"""Argument checks of the Python API: a wrong type or value is one `TextlstmError` that names
the argument, what was expected and what was received."""

import numbers
import os

from textlstm.errors import TextlstmError


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
    if not isinstance(value, str):
        raise TextlstmError(f"{name} must be a string, got {type(value).__name__} {value!r}")
    return value


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
    return list(value)
