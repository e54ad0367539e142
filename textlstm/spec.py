"""The one validator: a value's declared type and range (`Spec`), and a setting's declaration
(`Setting`: default, spec, one line of help).

`Spec.check(name, value)` returns the value (ints widened to floats for float settings) or
raises one `UserError` line naming `name`, the allowed range and the value:

    model.dropout must be a finite number >= 0 and < 1, got 1.5

Floats must always be finite (NaN and infinity are refused); strings must be valid Unicode
text (`textio.check_text`). The range text comes from `Spec.describe`, so a recipe key, a
command-line option, a Python argument and a server request field with the same declaration
are refused in the same words. A value too long to print (an integer of many digits) is named
by its size. With `key` ("decode.n_best"), `name` is a Python parameter standing for that
setting, and the error is a `ParameterError`, so that the CLI can name the option instead.

The declarations themselves are in `textlstm.settings`; `textlstm.schema` looks them up.
"""

import dataclasses
import math
import numbers
from collections.abc import Callable

from textlstm.errors import ParameterError, UserError
from textlstm.textio import check_text

TYPE_NAMES = {bool: "a boolean (true/false)", int: "an integer", float: "a number", str: "a string", list: "a list"}


@dataclasses.dataclass(frozen=True)
class Spec:
    """One value's declaration: its type, range (bounds included unless `*_open`) or choices."""

    type: type
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # True: `low` itself is not allowed
    high_open: bool = False
    choices: tuple = ()
    rule: Callable | None = None  # an extra test: value -> True if allowed ...
    rule_text: str = ""  # ... and how to say what it allows

    def describe(self) -> str:
        """The allowed values in words: "an integer >= 1 and <= 1000", "one of lstm, gru"."""
        if self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        if self.rule_text:
            return self.rule_text
        noun = {int: "an integer", float: "a finite number"}.get(self.type, TYPE_NAMES.get(self.type, "a value"))
        bounds = []
        if self.low is not None:
            bounds.append(f"{'>' if self.low_open else '>='} {_number(self.low)}")
        if self.high is not None:
            bounds.append(f"{'<' if self.high_open else '<='} {_number(self.high)}")
        return f"{noun} {' and '.join(bounds)}".strip()

    def check(self, name: str, value, source: str = "", key: str | None = None):
        """`value` if allowed (ints widen to floats for float keys), else one `UserError` line
        "[source: ]name must be ..., got ..." (a `ParameterError` for the parameter `name` standing
        for the setting `key`, when it is given)."""
        prefix = f"{source}: " if source else ""
        value = _check_type(name, self.type, value, prefix, key)
        if self.type is str:
            check_text(value, f"{prefix}{name}")
        elif self.type is list:
            for index, item in enumerate(value):
                if isinstance(item, str):
                    check_text(item, f"{prefix}{name}[{index}]")
        if not self.allows(value):
            raise _refusal(prefix, name, key, f" must be {self.describe()}, got {shown(value)}")
        return value

    def allows(self, value) -> bool:
        """True if `value`, already of the declared type, is in range (and finite)."""
        if self.type is float and not math.isfinite(value):
            return False
        ok = not self.choices or value in self.choices
        if self.low is not None:
            ok = ok and (value > self.low if self.low_open else value >= self.low)
        if self.high is not None:
            ok = ok and (value < self.high if self.high_open else value <= self.high)
        if self.rule is not None:
            ok = ok and self.rule(value)
        return ok


@dataclasses.dataclass(frozen=True)
class Setting:
    """One recipe key or option, declared once: its `default` (None: given by the caller), its
    type and range (`spec`), and one line of `help` (the meaning, the unit, what 0 means)."""

    default: object
    spec: Spec
    help: str

    def with_default(self, default) -> "Setting":
        return dataclasses.replace(self, default=default)


def _number(value):
    return (
        f"{value:g}" if isinstance(value, float) else f"{value:,}".replace(",", "_") if value >= 10**5 else str(value)
    )


def shown(value) -> str:
    """`value` for an error line: its repr, or for an integer of many digits its size (its digits
    would fill the line, and past Python's limit could not even be written out)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**18:
        try:
            return f"an integer of {len(str(abs(value)))} digits"
        except ValueError:  # past sys.get_int_max_str_digits()
            return "an integer of too many digits to write out"
    return repr(value)


def _refusal(prefix, name, key, rest):
    """The error "prefix name rest": naming the parameter `name` of the setting `key` if given."""
    if key is None:
        return UserError(f"{prefix}{name}{rest}")
    return ParameterError("{source}{parameter}{rest}", source=prefix, parameter=(name, None, key), rest=rest)


def _check_type(name, expected, value, prefix, key=None):
    if expected is bool:
        ok = isinstance(value, bool)
    elif expected is float:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if ok and isinstance(value, numbers.Integral) and abs(value) >= 10**300:
            raise _refusal(prefix, name, key, f" must be a finite number, got {shown(value)}")
        value = float(value) if ok else value
    elif expected is int:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        value = int(value) if ok else value
    elif expected is list:
        ok = isinstance(value, (list, tuple))
        value = list(value) if ok else value
    else:
        ok = isinstance(value, expected)
    if not ok:
        got = TYPE_NAMES.get(type(value), type(value).__name__)
        raise _refusal(
            prefix, name, key, f" must be {TYPE_NAMES.get(expected, expected.__name__)}, got {shown(value)} ({got})"
        )
    return value


def size(high, low=1):
    """An integer count or width, `low`..`high` (the upper bound keeps arithmetic in range)."""
    return Spec(int, low, high)


def fraction(low_open=False, high=1.0, high_open=True):
    """A share: 0 <= x < 1 unless told otherwise (dropout, label smoothing)."""
    return Spec(float, 0.0, high, low_open=low_open, high_open=high_open)
