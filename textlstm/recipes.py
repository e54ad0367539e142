"""TOML recipes: one file with `[data]`, `[model]`, `[train]` and `[decode]` sections.

A recipe is resolved in three layers, each overriding the one before it:

    defaults given by the caller  <  recipe file  <  command-line overrides (`train.epochs=3`)

Every key must already exist in the defaults, so a typo is an error that names the key and
suggests the closest known one instead of being silently ignored. Values are checked against
the type of their default, so `epochs = "ten"` fails at start-up, not an hour into training,
and, given the model family, against the range declared in `textlstm.schema`
(`model.dropout = 1.5` is refused with the allowed range).

The shipped recipes are the repository's top-level `recipes/FAMILY-NAME.toml`, installed as
package data (`textlstm/recipe_files/`), so `-r NAME` finds them from any directory; the first
comment line of each is its one-line description.
"""

import copy
import difflib
import json
import pathlib
from collections.abc import Sequence

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import tomli_w

from textlstm import schema
from textlstm.errors import UserError, describe_os_error

_PACKAGE = pathlib.Path(__file__).resolve().parent
# An installed wheel holds them as textlstm/recipe_files/; a source checkout (an editable install) in recipes/.
SHIPPED_DIR = _PACKAGE / "recipe_files" if (_PACKAGE / "recipe_files").is_dir() else _PACKAGE.parent / "recipes"

_TYPE_NAMES = {
    bool: "a boolean (true/false)",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "a table",
}


def load_recipe_file(path) -> dict:
    """Read a TOML file into a dict, turning every way it can fail into one `UserError` line."""
    path = pathlib.Path(path)
    if not path.exists():
        raise UserError(f"no recipe file at {path}")
    if path.is_dir():
        raise UserError(f"recipe {path} is a directory, expected a .toml file")
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"recipe {path} is not valid TOML: {error}") from None
    except UnicodeDecodeError as error:
        raise UserError(f"recipe {path} is not valid UTF-8 (byte offset {error.start})") from None
    except OSError as error:
        raise UserError(describe_os_error(error, "read recipe", path)) from None


def recipe_to_toml(recipe: dict) -> str:
    """Render a resolved recipe as TOML text.

    TOML has no null, so keys whose value is None are left out; resolving the file again
    against the same defaults gives them back.
    """
    return tomli_w.dumps(_drop_none(recipe))


def _drop_none(table: dict) -> dict:
    return {
        key: _drop_none(value) if isinstance(value, dict) else value
        for key, value in table.items()
        if value is not None
    }


def shipped_recipes() -> dict[str, pathlib.Path]:
    """The recipes installed with textlstm, by name ("charlm-shakespeare"), sorted."""
    return {path.stem: path for path in sorted(SHIPPED_DIR.glob("*.toml"))}


def recipe_family(name: str) -> str:
    """The model family a shipped recipe is for: its name's first part ("tagger-ner" -> "tagger")."""
    return name.split("-", 1)[0]


def recipe_description(path) -> str:
    """The first comment line of a recipe file, without the "#"."""
    for line in pathlib.Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return ""


def find_recipe(name_or_path: str, kind: str | None = None) -> pathlib.Path:
    """Turn a recipe argument into a file: an existing path, else the name of a shipped recipe.

    With `kind`, a shipped recipe of another family is refused with the command it belongs to.
    """
    given = pathlib.Path(name_or_path)
    if given.is_file():
        return given
    return shipped_recipe(name_or_path, kind, "not a file, and ")


def shipped_recipe(name: str, kind: str | None = None, why: str = "") -> pathlib.Path:
    """The file of the shipped recipe `name`; one `UserError` line listing the names if there is none."""
    shipped = shipped_recipes()
    if name in shipped:
        family = recipe_family(name)
        if kind is not None and family != kind:
            raise UserError(
                f"recipe {name!r} is a {family} recipe; use it with 'textlstm train {family}', not 'train {kind}'"
            )
        return shipped[name]
    names = [known for known in shipped if kind is None or recipe_family(known) == kind] or list(shipped)
    raise UserError(
        f"no recipe {name!r}: {why}not a shipped recipe (shipped{' ' + kind if kind else ''} "
        f"recipes: {', '.join(names)}; 'textlstm recipes' lists them){_suggest(name, list(shipped))}"
    )


def resolve_recipe(
    defaults: dict, recipe_path: str | None = None, overrides: Sequence[str] = (), kind: str | None = None
) -> dict:
    """Merge defaults, an optional recipe file and `section.key=value` overrides.

    Returns a new nested dict holding every section and key of `defaults`; `defaults`
    itself is not changed. Ints given for float defaults become floats. With `kind`
    ("charlm", "tagger", "seq2seq"), every value given is also checked against the range
    that `textlstm.schema` declares for it, and the error names where it came from.
    """
    recipe = copy.deepcopy(defaults)
    if recipe_path is not None:
        source = f"recipe {recipe_path}"
        for section, table in load_recipe_file(recipe_path).items():
            _check_section(defaults, section, source)
            if not isinstance(table, dict):
                raise UserError(f"{source}: {section!r} must be a [{section}] table, got {table!r}")
            for key, value in table.items():
                _set_value(recipe, defaults, section, key, value, source, kind)
    for override in overrides:
        section, key, value = parse_override(override)
        source = f"override {override!r}"
        _check_section(defaults, section, source)
        if isinstance(defaults[section].get(key), str) and not isinstance(value, str):
            value = override.split("=", 1)[1].strip()  # `data.name=2024` stays a string
        _set_value(recipe, defaults, section, key, value, source, kind)
    if kind is not None:
        schema.check_joint_rules(recipe, kind)
    return recipe


def override_text(key: str, value) -> str:
    """The `--set` string for `key` = `value` ("model.units=64"): the value as JSON, which is valid
    TOML for the scalars and lists of strings recipes hold. Any other value is one `UserError`
    naming the key."""
    try:
        return f"{key}={json.dumps(value)}"
    except (TypeError, ValueError):
        raise UserError(
            f"{key}: {type(value).__name__} {value!r} is not a recipe value (a number, a string, true/false "
            "or a list of strings)"
        ) from None


def parse_override(override: str) -> tuple[str, str, object]:
    """Split `section.key=value` and read the value as TOML, else as a plain string."""
    name, sep, text = override.partition("=")
    section, dot, key = name.strip().partition(".")
    if not sep or not dot or not section or not key:
        raise UserError(f"override {override!r} is malformed; expected section.key=value, e.g. train.epochs=3")
    text = text.strip()
    try:
        parsed = tomllib.loads(f"value = {text}")
    except tomllib.TOMLDecodeError:
        return section, key, text
    if list(parsed) != ["value"]:  # the text smuggled in more TOML than one value
        return section, key, text
    return section, key, parsed["value"]


def _known_keys(defaults: dict) -> list[str]:
    return [f"{section}.{key}" for section, table in defaults.items() for key in table]


def _suggest(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _check_section(defaults: dict, section: str, source: str):
    if section not in defaults:
        known = ", ".join(f"[{name}]" for name in defaults)
        raise UserError(
            f"{source}: unknown section [{section}] (known sections: {known}){_suggest(section, list(defaults))}"
        )


def _set_value(recipe: dict, defaults: dict, section: str, key: str, value, source: str, kind=None):
    name = f"{section}.{key}"
    if key not in defaults[section]:
        raise UserError(f"{source}: unknown key {name!r}{_suggest(name, _known_keys(defaults))}")
    value = _check_type(name, defaults[section][key], value, source)
    if kind is not None and name in schema.SCHEMAS[kind]:
        value = schema.check_value(kind, name, value, source)
    recipe[section][key] = value


def _check_type(name: str, default, value, source: str):
    """Return `value` if it suits the type of `default` (ints widen to floats), else fail."""
    if default is None:
        return value
    expected = type(default)
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, (list, tuple)):
        expected, ok = list, isinstance(value, list)
    else:
        ok = isinstance(value, expected)
    if not ok:
        wanted = _TYPE_NAMES.get(expected, expected.__name__)
        raise UserError(
            f"{source}: {name} must be {wanted}, got {value!r} ({_TYPE_NAMES.get(type(value), type(value).__name__)})"
        )
    return value
