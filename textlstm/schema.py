"""Every recipe key and numeric option, declared once: look-ups and the checks that use them.

The declarations (default, type and range, one line of help) are in `textlstm.settings`; the
one validator is `textlstm.spec.Spec.check`. This module gives them by name, as a family's
recipe defaults (`defaults`, each family's `DEFAULTS`), its help (`help_of`) and a table for a
generated reference (`reference`), and checks with them: a recipe file, a `--set
section.key=value` override, a command-line option (`--max-steps`, `--length-penalty`), the
arguments of the Python functions behind them and a server request's fields. Every refusal is
one line naming the key (a recipe), the option (the CLI) or the parameter (Python), the value
and the allowed range:

    model.dropout must be a finite number >= 0 and < 1, got 1.5

Library errors that name parameters are `ParameterError`s carrying the settings they stand
for; the CLI shows option names instead (`flag_of`: `decode.n_best` is `--n-best`).

Floats must always be finite (NaN and infinity are refused). Sizes have upper bounds that
keep arithmetic in range; whether a model and a batch fit in memory is checked separately
from the real vocabulary sizes (`textlstm.memory`) before anything is built.

The declarations follow pydantic-style field constraints and click's `IntRange`/`FloatRange`,
written out here so that recipes, overrides and options share them.
"""

import copy

from textlstm import settings
from textlstm.errors import ParameterError, UserError
from textlstm.settings import (  # noqa: F401  (importable from here, as before)
    CELLS,
    MAX_INT32,
    PRECISIONS,
    SAMPLERS,
    SEED,
    STATE_ORDERS,
    STRATEGIES,
    TAG_INPUT_FORMATS,
    TAG_OUTPUT_FORMATS,
    TEMPERATURE,
    TOP_K,
    TOP_P,
)
from textlstm.spec import Setting, Spec, fraction, size  # noqa: F401


def _flat(family: dict) -> dict:
    return {f"{section}.{key}": setting for section, table in family.items() for key, setting in table.items()}


DECLARATIONS = {kind: _flat(family) for kind, family in settings.FAMILIES.items()}  # kind -> {"data.seq_len": Setting}
SCHEMAS = {kind: {name: setting.spec for name, setting in table.items()} for kind, table in DECLARATIONS.items()}
CHARLM, TAGGER, SEQ2SEQ = SCHEMAS["charlm"], SCHEMAS["tagger"], SCHEMAS["seq2seq"]
TRAIN = {f"train.{key}": settings.SHARED_TRAIN[key].spec for key in settings.COMMON_TRAIN}  # every family's
SCHEDULE = {f"train.{key}": settings.SHARED_TRAIN[key].spec for key in ("lr_schedule", "min_learning_rate")}
OPTIONS = {name: setting.spec for name, setting in settings.OPTIONS.items()}


def setting_of(kind: str | None, name: str) -> Setting:
    """The declaration of `name` ("model.units") for the family `kind`, of a [train] key every
    family shares ("train.seed", with `kind` None), or of an option that is no recipe key
    ("inspect.top_k"). An undeclared name is a `KeyError` (a bug, not the user's mistake)."""
    if name in settings.OPTIONS:
        return settings.OPTIONS[name]
    if kind is None:
        section, key = name.split(".", 1)
        if section != "train" or key not in settings.SHARED_TRAIN:
            raise KeyError(f"{name} is no option and no [train] key every family shares: give the family")
        return settings.SHARED_TRAIN[key]
    return DECLARATIONS[kind][name]


def spec_of(kind: str | None, name: str) -> Spec:
    """The type and range of `name` (see `setting_of`)."""
    return setting_of(kind, name).spec


def defaults(kind: str) -> dict:
    """The built-in recipe of the family `kind`: `{section: {key: default}}`, in the order
    `recipe_to_toml` writes it (a new copy each call: list defaults are not shared)."""
    return {
        section: {key: copy.deepcopy(setting.default) for key, setting in table.items()}
        for section, table in settings.FAMILIES[kind].items()
    }


def help_of(name: str, kind: str | None = None) -> str:
    """The one line of help of a setting: `help_of("train.epochs")`, `help_of("model.units",
    "tagger")`. Without `kind`, a key that families declare with different meanings is a
    `KeyError` that asks for the family."""
    if kind is not None or name in settings.OPTIONS:
        return setting_of(kind, name).help
    section, key = name.split(".", 1)
    if section == "train" and key in settings.SHARED_TRAIN:
        return settings.SHARED_TRAIN[key].help
    helps = {table[name].help for table in DECLARATIONS.values() if name in table}
    if len(helps) != 1:
        raise KeyError(f"{name} is {'declared differently by several families' if helps else 'not declared'}")
    return helps.pop()


def reference(kind: str) -> list[dict]:
    """Every key of the family `kind`, in recipe order, as rows for a generated reference:
    `{"key", "default", "type", "range", "help"}` (type: "integer", "number", ...; range: the
    allowed values in the words of the error messages)."""
    return [
        {
            "key": name,
            "default": setting.default,
            "type": {int: "integer", float: "number", str: "string", bool: "boolean", list: "list"}[setting.spec.type],
            "range": setting.spec.describe(),
            "help": setting.help,
        }
        for name, setting in DECLARATIONS[kind].items()
    ]


def flag_of(key: str) -> str:
    """The command-line option that stands for the setting `key`: "decode.n_best" -> "--n-best".
    A key no family nor `OPTIONS` declares is a `KeyError`."""
    if key not in settings.OPTIONS and not any(key in table for table in DECLARATIONS.values()):
        raise KeyError(f"{key} is not declared")
    return "--" + key.rsplit(".", 1)[-1].replace("_", "-")


def check_value(kind: str | None, name: str, value, source: str = ""):
    """Check one recipe value or option; returns it (ints widened for float keys)."""
    return spec_of(kind, name).check(name, value, source)


def check_argument(parameter: str, value, key: str, kind: str | None = None):
    """Check a Python argument `parameter` that stands for the setting `key` ("decode.n_best"):
    the error names the parameter ("n_best must be ..."), a `ParameterError` the CLI spells with
    the option."""
    return spec_of(kind, key).check(parameter, value, key=key)


def check_option(option: str, kind: str | None, name: str, value):
    """Check a command-line option that stands for `name`: "--max-steps (train.max_steps) must be ..."."""
    shown = option if name in OPTIONS else f"{option} ({name})"
    return spec_of(kind, name).check(shown, value)


def check_recipe(recipe: dict, kind: str) -> dict:
    """Check every declared key of a resolved recipe, then the rules that join two keys.

    Used by each family's `train_*` (so the Python API and `--resume` are checked too) and
    by `resolve_recipe`. Returns the recipe, with ints widened to floats where declared.
    """
    for name, spec in SCHEMAS[kind].items():
        section, key = name.split(".", 1)
        table = recipe.get(section)
        if not isinstance(table, dict) or key not in table:
            raise UserError(f"the recipe has no {name} (every {kind} recipe needs it)")
        if table[key] is not None:
            table[key] = spec.check(name, table[key])
    check_joint_rules(recipe, kind)
    return recipe


def check_joint_rules(recipe: dict, kind: str):
    """Rules about two keys together."""
    decode = recipe.get("decode", {})
    if kind == "seq2seq":
        check_n_best(decode.get("n_best", 1), decode.get("beam_size", 1), recipe=True)
    check_learning_rate_floor(recipe.get("train", {}))


def check_n_best(n_best: int, beam_size: int, recipe: bool = False, beam_size_given: bool = True):
    """A translator returns at most `beam_size` hypotheses: one `UserError` if `n_best` asks for
    more, naming the recipe keys (`recipe`) or the parameters (a `ParameterError`; without
    `beam_size_given`, `beam_size` is the run's own and the message says so)."""
    if n_best > beam_size:
        if recipe:
            raise UserError(f"decode.n_best ({n_best}) cannot exceed decode.beam_size ({beam_size})")
        template = "{n_best} ({n}) cannot exceed {beam_size} ({beam})"
        if not beam_size_given:  # the run's own: say so, or the caller looks for a beam size they never gave
            template = "{n_best} ({n}) cannot exceed the run's beam size ({beam}); give a larger {beam_size} too"
        raise ParameterError(
            template,
            n_best=("n_best", None, "decode.n_best"),
            beam_size=("beam_size", None, "decode.beam_size"),
            n=n_best,
            beam=beam_size,
        )


def check_learning_rate_floor(train: dict):
    """One `UserError` line if `train.min_learning_rate` is above `train.learning_rate` (whatever
    the schedule: a floor above the rate is a mistake even where the constant rate ignores it).
    Recipes without a floor pass."""
    rate, floor = train.get("learning_rate"), train.get("min_learning_rate")
    if rate is not None and floor is not None and floor > rate:
        raise UserError(f"train.min_learning_rate={floor} is above train.learning_rate={rate}")
