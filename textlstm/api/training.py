"""`textlstm.train(kind, ...)`: train a model from Python, under the rules the command line follows.

The rules of a training live here, once, for every caller: the default run directory
(runs/KIND-DATE-TIME), the lock on the run directory (`rundir.claim_for_training`), a run
already there (refused unless `overwrite`), `resume` (the run's own recipe; only `epochs`,
`max_steps` and `strategy` may change), the recipe's resolution (built-in defaults < recipe
< overrides < `epochs`/`max_steps`/`seed`) and Ctrl-C at any moment (`textlstm.interrupts`).
Refusals name the parameters (`textlstm.errors.ParameterError`); `textlstm train KIND` shows
them as its flags. Light at import: TensorFlow loads when a training starts.
"""

import collections
import time

from textlstm.errors import Interrupted, ParameterError, UserError
from textlstm.families import family
from textlstm.recipes import override_text
from textlstm.schema import defaults as schema_defaults

Trained = collections.namedtuple("Trained", "run_dir recipe metrics")  # metrics None: a worker, not the chief


def train(
    kind,
    run_dir=None,
    *,
    recipe=None,
    overrides=None,
    resume=False,
    overwrite=False,
    strategy=None,
    epochs=None,
    max_steps=None,
    seed=None,
):
    """Train (or resume) a model of one family and return it loaded, ready to use.

    Args:
        kind: the model family: "charlm", "tagger" or "seq2seq".
        run_dir: the run directory to write (str or os.PathLike); default None: a new
            `runs/KIND-DATE-TIME` under the current directory. Required with `resume`.
        recipe: a shipped recipe's name ("charlm-shakespeare"), a TOML file's path, or a dict
            `{"data": {...}, "model": {...}, "train": {...}}`; default None: the built-in defaults.
        overrides: recipe values, as `--set` takes them: a dict of dotted keys
            (`{"data.paths": ["a.txt"], "model.units": 64}`) or a list of "section.key=value" strings.
        resume: continue the run in `run_dir` from its last checkpoint, with its own recipe
            (default False). Only `epochs`, `max_steps` and `strategy` may be given with it.
        overwrite: replace the run already in `run_dir` (default False: training into an
            existing run is refused).
        strategy: devices and hosts to train on (`train.strategy`: "auto", "one-device",
            "mirrored", "multi-worker"); default None: the recipe's.
        epochs: `train.epochs`; with `resume`, train the run longer.
        max_steps: `train.max_steps`, a cap on optimizer steps in all; with `resume`, longer.
        seed: `train.seed`.

    Returns:
        The trained model as `textlstm.load(run_dir)` returns it (`CharLM`, `Tagger` or
        `Translator`, from the best checkpoint); None on a worker other than the chief of a
        distributed run.

    Raises:
        TextlstmError: an unknown kind, a bad recipe, override or value (naming it), unusable
            data, a run directory already holding a run (without `overwrite` or `resume`), locked
            by another training, or of another kind, or a recipe change on `resume`.
        textlstm.errors.Interrupted: Ctrl-C; the message says how to continue the run.

    Example:
        >>> lm = textlstm.train("charlm", "runs/tiny", overrides={"data.paths": ["a.txt"], "train.epochs": 1})
        >>> type(lm).__name__
        'CharLM'
        >>> lm = textlstm.train("charlm", "runs/tiny", resume=True, epochs=2)  # one epoch more
    """
    trained = run_training(
        kind,
        run_dir,
        recipe=recipe,
        overrides=overrides,
        resume=resume,
        overwrite=overwrite,
        strategy=strategy,
        epochs=epochs,
        max_steps=max_steps,
        seed=seed,
    )
    if trained.metrics is None:
        return None
    from textlstm.api.loading import load

    return load(trained.run_dir)


def run_training(kind, run_dir=None, **arguments):
    """`train` without loading the model: returns `Trained(run_dir, recipe, metrics)` (the command
    line's entry; `metrics` None on a worker other than the chief). Arguments as `train`'s."""
    from textlstm.ctrl_c import ctrl_c_kept, raise_if_interrupted
    from textlstm.interrupts import BEFORE_START, interrupted

    family(kind)  # an unknown kind: one line naming the known ones
    try:
        recipe, run_dir, claim = prepare_training(kind, run_dir, **arguments)
    except KeyboardInterrupt:
        raise Interrupted(BEFORE_START) from None
    resume = arguments.get("resume", False)
    try:
        from textlstm.driver import train_family

        with ctrl_c_kept():  # a Ctrl-C lost on its way (in C++ callbacks, finalizers) still stops the training
            _, metrics = train_family(kind, recipe, run_dir, resume=resume)
            raise_if_interrupted()
        return Trained(run_dir, recipe, metrics)
    except KeyboardInterrupt:
        raise interrupted(run_dir, kind, recipe, resume) from None
    finally:
        if claim is not None:
            claim.release()


def prepare_training(
    kind,
    run_dir=None,
    *,
    recipe=None,
    overrides=None,
    resume=False,
    overwrite=False,
    strategy=None,
    epochs=None,
    max_steps=None,
    seed=None,
):
    """`(recipe, run_dir, claim)`: the resolved recipe, the run directory and its lock
    (`claim.release()` when training ends; None on a distributed worker other than the chief).

    Every refusal comes before the run directory is touched, except those that need its lock.
    """
    from textlstm.api.checks import check_path
    from textlstm.rundir import RECIPE_FILE, RunDir, claim_for_training
    from textlstm.schema import check_argument, check_recipe

    if run_dir is not None:
        check_path("run_dir", run_dir)
    for name, value in (("epochs", epochs), ("max_steps", max_steps), ("seed", seed)):
        if value is not None:  # named as given, not as the override it becomes
            check_argument(name, value, _OPTIONS[name], kind)
    items = _override_items(overrides)
    if resume:
        if run_dir is None:
            raise ParameterError(
                "{resume} needs {run_dir}: the run directory to continue", resume=("resume", True), run_dir=_RUN_DIR
            )
        changed = None
        if recipe is not None:
            changed = ("recipe", None)
        elif items:
            changed = ("overrides", items[0])  # the string: the command line knows which flag gave it
        elif seed is not None:
            changed = ("seed", None)
        if changed is not None:
            raise ParameterError(
                "{resume} continues the run with its own recipe, which {changed} would change; drop {changed}, "
                "or start a new run in another {run_dir} ({epochs} and {max_steps} extend a resumed run)",
                resume=("resume", True),
                changed=changed,
                run_dir=_RUN_DIR,
                epochs=("epochs", None),
                max_steps=("max_steps", None),
            )
        if overwrite:
            raise ParameterError(
                "{resume} continues the run and {overwrite} replaces it; give one of them",
                resume=("resume", True),
                overwrite=("overwrite", True),
            )
    if run_dir is None:
        run_dir = f"runs/{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = str(run_dir)
    if not resume and not overwrite:
        _refuse_an_existing_run(run_dir, kind)
    claim = claim_for_training(run_dir, kind, resume, overwrite)
    try:
        defaults = schema_defaults(kind)  # light: the declarations, no model module
        if resume:
            run = RunDir.open(run_dir, kind)
            if not run.file(RECIPE_FILE).is_file():  # stopped before it was written: nothing was trained there
                raise ParameterError(
                    "cannot resume: {path} holds no {file} (it stopped before training started); "
                    "start it again without {resume}",
                    path=run_dir,
                    file=RECIPE_FILE,
                    resume=("resume", True),
                )
            resolved = run.read_recipe(defaults)
            from textlstm.training import extend_recipe

            extend_recipe(resolved, run_dir, epochs=epochs, max_steps=max_steps)
        else:
            resolved = _resolve(kind, defaults, recipe, items, {"epochs": epochs, "max_steps": max_steps, "seed": seed})
        if strategy is not None:
            _set_strategy(resolved, kind, strategy)
        check_recipe(resolved, kind)  # also a resumed run's own recipe (the driver prints it once the data are read)
    except BaseException:
        if claim is not None:
            claim.release()
        raise
    return resolved, run_dir, claim


_RUN_DIR = ("run_dir", None)
_OPTIONS = {"epochs": "train.epochs", "max_steps": "train.max_steps", "seed": "train.seed"}


def _override_items(overrides):
    """The overrides as "section.key=value" strings (a dict's values written as TOML)."""
    if overrides is None:
        return []
    if isinstance(overrides, dict):
        return [override_text(key, value) for key, value in overrides.items()]
    if isinstance(overrides, str) or not all(isinstance(item, str) for item in overrides):
        raise ParameterError(
            "{overrides} must be a dict of dotted keys ({'model.units': 64}) or a list of 'section.key=value' "
            "strings, got {given}",
            overrides=("overrides", None),
            given=repr(overrides),
        )
    return list(overrides)


def _resolve(kind, defaults, recipe, items, options):
    """defaults < recipe (shipped name, file or dict) < overrides < epochs/max_steps/seed."""
    from textlstm.recipes import find_recipe, resolve_recipe

    path = None
    if isinstance(recipe, dict):
        items = _recipe_items(recipe) + items
    elif recipe is not None:
        path = find_recipe(str(recipe), kind)
    explicit = [override_text(_OPTIONS[name], value) for name, value in options.items() if value is not None]
    return resolve_recipe(defaults, path, items + explicit, kind=kind)


def _recipe_items(recipe):
    items = []
    for section, table in recipe.items():
        if not isinstance(table, dict):
            raise ParameterError(
                "{recipe} must map each section to a table ({'model': {'units': 64}}), got {given}",
                recipe=("recipe", None),
                given=f"{section!r}: {table!r}",
            )
        items += [override_text(f"{section}.{key}", value) for key, value in table.items()]
    return items


def _set_strategy(recipe, kind, strategy):
    from textlstm.distribute import STRATEGIES

    if "strategy" not in recipe.get("train", {}):
        raise ParameterError(
            "{strategy} is not supported by 'train {kind}' (its recipe has no train.strategy)",
            strategy=("strategy", None),
            kind=kind,
        )
    if strategy not in STRATEGIES:
        raise ParameterError(
            "{strategy} must be one of {allowed}, got {given}",
            strategy=("strategy", None),
            allowed=", ".join(STRATEGIES),
            given=repr(strategy),
        )
    recipe["train"]["strategy"] = strategy


def _refuse_an_existing_run(run_dir, kind):
    """A run that has trained in `run_dir`: refused, naming `resume` and `overwrite`."""
    import pathlib

    from textlstm.rundir import RUN_FILE, TRAINED_FILES, RunDir

    path = pathlib.Path(run_dir)
    if not (path / RUN_FILE).is_file():
        return
    try:
        existing = RunDir.read_kind(path)
    except UserError:
        return  # claim_for_training says what is wrong with it
    if existing == kind and any((path / name).exists() for name in TRAINED_FILES):
        raise ParameterError(
            "{path} already holds a {kind} run; continue it with {resume}, or replace it with {overwrite}",
            path=str(path),
            kind=kind,
            resume=("resume", True),
            overwrite=("overwrite", True),
        )
