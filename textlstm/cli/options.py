"""Options every `train` command shares, and how they fold into the recipe."""

import functools

import click

from textlstm.distribute import STRATEGIES  # light: TensorFlow is imported only when a strategy is made

STRATEGY_KEY = "textlstm.strategy"  # where --strategy waits in the click context for resolve_cli_recipe
OVERWRITE_KEY = "textlstm.overwrite"  # and --overwrite


def _stash_strategy(ctx, param, value):
    if value is not None:
        ctx.meta[STRATEGY_KEY] = value


def _stash_overwrite(ctx, param, value):
    ctx.meta[OVERWRITE_KEY] = bool(value)


def checked(name, kind=None):
    """A click callback that checks an option standing for `name` ("train.max_steps") against its
    declaration in `textlstm.schema`; the error names the option, the key, the value and the range.
    `kind` is the model family (None for the keys every family shares)."""

    def callback(ctx, param, value):
        from textlstm.schema import check_option

        if value is None:
            return None
        return check_option(max(param.opts, key=len), kind, name, value)

    return callback


def valid_text(ctx, param, value):
    """A click callback for a text option (`--prompt`): text with a byte that is not UTF-8 (Python
    keeps it as a lone surrogate) is one error naming the option, the byte and its position
    (`textio.check_text`), before it reaches the model."""
    from textlstm.textio import check_text

    if value is None:
        return None
    return check_text(value, max(param.opts, key=len), from_os=True)


def existing(directory_ok=False):
    """A click callback for an input path option (one path or several): each must exist, and be a
    file unless `directory_ok`, and be valid Unicode text (the recipe records it in UTF-8); else one
    error line ("no such file: PATH"). It runs while the
    options are parsed, so a wrong path stops the command before the recipe is printed or
    TensorFlow is imported. With --resume (an eager option, so known here) any data option is
    refused by `resolve_cli_recipe` instead, with the reason."""

    def callback(ctx, param, value):
        from textlstm.textio import check_input_path

        if ctx.params.get("resume"):
            return value
        from textlstm.textio import check_text

        for path in value if isinstance(value, tuple) else (value,):
            if path is not None:
                check_text(path, max(param.opts, key=len), from_os=True)  # the recipe records it as UTF-8
                check_input_path(path, directory_ok=directory_ok)
        return value

    return callback


def checkpoint_option(command):
    """--checkpoint: which of the run's checkpoints a command loads (`textlstm.checkpoints`); passed
    through as the `checkpoint` argument of `textlstm.load`."""
    return click.option(
        "--checkpoint",
        metavar="best|last|N|PATH",
        help="The checkpoint to load: best (default: best.keras, else last.keras), last, the kept "
        "checkpoint of epoch N ('textlstm checkpoints RUN_DIR' lists them) or a .keras file.",
    )(command)


def _import_tensorflow_quietly(ctx, param, value):
    """TensorFlow's quiet import for `train` (`textlstm.cli.main` leaves it to this group): click
    processes the options not given on the command line, this one among them, after those given,
    so a bad option or a missing input path is reported before the import (seconds)."""
    from textlstm._backend import import_tensorflow_quietly

    try:
        import_tensorflow_quietly()
    except Exception:  # a broken install: the command's own import fails again and says so
        pass


def recipe_options(command):
    """--recipe, --set, --run-dir, --seed, --resume, --overwrite, --strategy.

    --overwrite and --strategy reach the command through `resolve_cli_recipe` (as `train.strategy`), not as
    a parameter, so commands keep their signatures.
    """
    decorators = [
        click.option(
            "-r",
            "--recipe",
            help="A recipe: a TOML file, or the name of a shipped one "
            "(e.g. charlm-shakespeare; 'textlstm recipes' lists them).",
        ),
        click.option(
            "--set",
            "overrides",
            multiple=True,
            metavar="SECTION.KEY=VALUE",
            help="Override one recipe value (repeatable), e.g. --set model.units=512.",
        ),
        click.option(
            "-o",
            "--run-dir",
            default=None,
            type=click.Path(),
            help="Run directory for the model, vocabulary, recipe, logs and checkpoints "
            "(default: runs/KIND-DATE-TIME).",
        ),
        click.option("--seed", type=int, callback=checked("train.seed"), help="Random seed (train.seed)."),
        click.option(
            "--resume", is_flag=True, is_eager=True, help="Continue the run in --run-dir from its last checkpoint."
        ),
        click.option(
            "--overwrite",
            is_flag=True,
            expose_value=False,
            callback=_stash_overwrite,
            help="Replace the run already in --run-dir (without it, training into an existing run is refused).",
        ),
        click.option(
            "--strategy",
            type=click.Choice(STRATEGIES),
            expose_value=False,
            callback=_stash_strategy,
            help="Devices and hosts to train on (train.strategy; default auto: all local GPUs, or the "
            "TF_CONFIG cluster). Allowed with --resume.",
        ),
        click.option(
            "--import-tensorflow-quietly",
            hidden=True,
            is_flag=True,
            expose_value=False,
            callback=_import_tensorflow_quietly,
        ),
    ]
    return functools.reduce(lambda f, decorate: decorate(f), reversed(decorators), command)


def resolve_cli_recipe(defaults, recipe_name, overrides, cli_values, run_dir, resume, kind):
    """`(recipe, run_dir)`: defaults < recipe file < --set < explicit options; on --resume,
    the run's own recipe (--strategy may still change: it changes no result). Without
    --run-dir a new `runs/KIND-DATE-TIME` is used.

    Prints the resolved recipe, which training then saves in the run directory. The run
    directory is locked for this command (`rundir.claim_for_training`); a run already there
    is refused unless --resume or --overwrite. From then on Ctrl-C ends with the line that
    says how to continue the run (`textlstm.interrupts.interrupted`), the sample or final
    evaluation after training included. On --resume, a directory whose recipe was never saved
    is refused with one line: there is nothing to continue, run the command without --resume.
    """
    import time

    from textlstm.cli import on_interrupt
    from textlstm.errors import UserError
    from textlstm.interrupts import interrupted
    from textlstm.recipes import find_recipe, recipe_to_toml, resolve_recipe
    from textlstm.rundir import RECIPE_FILE, RunDir, claim_for_training
    from textlstm.schema import check_recipe

    if run_dir is None:
        if resume:
            raise UserError("--resume needs --run-dir: the run directory to continue")
        run_dir = f"runs/{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
    if resume:
        _refuse_recipe_changes_on_resume()  # before the run directory is touched
    context = click.get_current_context(silent=True)
    claim = claim_for_training(run_dir, kind, resume, bool(context and context.meta.get(OVERWRITE_KEY)))
    if claim is not None and context is not None:
        context.call_on_close(claim.release)
    if resume:
        run = RunDir.open(run_dir, kind)
        if not run.file(RECIPE_FILE).is_file():  # stopped before it was written: nothing was trained there
            raise UserError(
                f"cannot resume: {run_dir} holds no {RECIPE_FILE} (it stopped before training started); "
                f"start it again without --resume"
            )
        recipe = run.read_recipe(defaults)
        from textlstm.training import extend_recipe

        extend_recipe(
            recipe, run_dir, epochs=cli_values.get("train.epochs"), max_steps=cli_values.get("train.max_steps")
        )
    else:
        path = find_recipe(recipe_name, kind) if recipe_name else None
        options = [f"{key}={_toml_value(value)}" for key, value in cli_values.items() if value is not None]
        recipe = resolve_recipe(defaults, path, list(overrides) + options, kind=kind)
    strategy = context.meta.get(STRATEGY_KEY) if context else None
    if strategy is not None:
        if "strategy" not in recipe.get("train", {}):
            raise UserError(f"--strategy is not supported by 'train {kind}' (its recipe has no train.strategy)")
        recipe["train"]["strategy"] = strategy
    check_recipe(recipe, kind)  # also a resumed run's own recipe
    on_interrupt(lambda: interrupted(run_dir, kind, recipe, resume))
    click.echo(f"run directory: {run_dir}\nrecipe:\n" + recipe_to_toml(recipe))
    return recipe, run_dir


RESUME_OPTIONS = {"run_dir", "resume", "epochs", "max_steps", "strategy", "overwrite"}  # --resume may take these


def _refuse_recipe_changes_on_resume():
    """One line naming the first option that would change a resumed run's recipe (data, --set, -r, ...).

    --epochs and --max-steps extend the run, and --strategy changes no result; anything else
    would train on other data or with other settings than the checkpoint was made with.
    """
    from click.core import ParameterSource

    from textlstm.errors import UserError

    context = click.get_current_context(silent=True)
    if context is None:
        return
    for param in context.command.params:
        if param.name in RESUME_OPTIONS or context.get_parameter_source(param.name) != ParameterSource.COMMANDLINE:
            continue
        flag = max(param.opts, key=len)
        raise UserError(
            f"--resume continues the run with its own recipe, which {flag} would change; drop {flag}, "
            f"or start a new run in another --run-dir (--epochs and --max-steps extend a resumed run)"
        )


def _toml_value(value):
    import json

    return json.dumps(value)  # JSON scalars and lists of strings are valid TOML values
