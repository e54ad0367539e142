"""Options every `train` command shares, and how they fold into the recipe."""

import functools

import click

from textlstm.distribute import STRATEGIES  # light: TensorFlow is imported only when a strategy is made


def checked(name, kind=None, note=""):
    """A click callback that checks an option standing for `name` ("train.max_steps") against its
    declaration in `textlstm.settings`; the error names the option, the key, the value and the range.
    `kind` is the model family (None for the keys every family shares and the options that are no
    recipe key). The option's help text and default come from the same declaration
    (`declared_help`, applied to every command once they are registered); `note` adds what only
    this command needs to say."""

    def callback(ctx, param, value):
        from textlstm.schema import check_option

        if value is None:
            return None
        return check_option(max(param.opts, key=len), kind, name, value)

    callback.declaration = (name, kind, note)
    return callback


_UNSET = getattr(click.core, "UNSET", None)  # click >= 8.3 marks "no default" with a sentinel, not None


def declared_help(command):
    """Give every option of `command` (a group: of each of its commands) checked by `checked` the
    help of its declaration: the setting's one line, the command's note, and for a recipe key its
    name (its default is the recipe's); an option that is no recipe key gets its declared default."""
    from textlstm import schema, settings

    if isinstance(command, click.Group):
        for sub in command.commands.values():
            declared_help(sub)
        return
    for param in command.params:
        name, kind, note = getattr(param.callback, "declaration", (None, None, ""))
        if name is None:
            continue
        line = schema.help_of(name, kind)
        text = line[:1].upper() + line[1:] + (f"; {note}" if note else "")
        if name in settings.OPTIONS:
            default = schema.setting_of(None, name).default
            if default is not None and param.default in (None, _UNSET):
                param.default, param.show_default = default, True
            param.help = text + "."
        else:
            param.help = f"{text} ({name}; default: the recipe's)."


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
    refused by `textlstm.train` instead, with the reason."""

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


def loading_options(command):
    """--checkpoint and --quantize: which of the run's checkpoints a command loads
    (`textlstm.checkpoints`) and whether its weights are quantized (`load.quantize`). The command
    receives them as one argument, `loading`: the keyword arguments of `textlstm.load`."""

    @functools.wraps(command)
    def with_loading(*args, checkpoint=None, quantize=None, **kwargs):
        return command(*args, loading={"checkpoint": checkpoint, "quantize": quantize}, **kwargs)

    with_loading = click.option(
        "--checkpoint",
        metavar="best|last|N|PATH",
        help="The checkpoint to load: best (default: best.keras, else last.keras), last, the kept "
        "checkpoint of epoch N ('textlstm checkpoints RUN_DIR' lists them) or a .keras file.",
    )(with_loading)
    return click.option("--quantize", metavar="int8", callback=checked("load.quantize"))(with_loading)


def recipe_options(command):
    """--recipe, --set, --run-dir, --seed, --resume, --overwrite, --strategy: every `train` command's
    options that `train_from_cli` maps onto `textlstm.train`'s arguments."""
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
        click.option("--seed", type=int, callback=checked("train.seed")),
        click.option(
            "--resume", is_flag=True, is_eager=True, help="Continue the run in --run-dir from its last checkpoint."
        ),
        click.option(
            "--overwrite",
            is_flag=True,
            help="Replace the run already in --run-dir (without it, training into an existing run is refused).",
        ),
        click.option(
            "--strategy",
            type=click.Choice(STRATEGIES),
            help="Devices and hosts to train on (train.strategy; default auto: all local GPUs, or the "
            "TF_CONFIG cluster). Allowed with --resume.",
        ),
        click.option("--epochs", type=int, callback=checked("train.epochs", note="with --resume: train longer")),
        click.option("--max-steps", type=int, callback=checked("train.max_steps", note="with --resume: train longer")),
    ]
    return functools.reduce(lambda f, decorate: decorate(f), reversed(decorators), command)


FLAGS = {"run_dir": "--run-dir", "max_steps": "--max-steps"}  # textlstm.train's parameters: else --NAME


def train_from_cli(kind, data_options, flags, *, overrides=(), **arguments):
    """Run `textlstm.train`'s training from a `train KIND` command: `Trained(run_dir, recipe, metrics)`.

    `data_options` maps recipe keys to the values of the command's own options (None: not given),
    `flags` those keys to the options' flags ("data.paths": "--data"); they join the --set
    overrides after them. `arguments` are the shared options (`recipe_options`), named as
    `textlstm.train`'s parameters. A refusal that names parameters (`ParameterError`) is shown
    with the flags that gave them; from the end of training on, Ctrl-C says the run is trained.
    """
    from textlstm.api.training import run_training
    from textlstm.cli import on_interrupt
    from textlstm.errors import ParameterError, UserError
    from textlstm.interrupts import interrupted
    from textlstm.recipes import override_text

    given = {override_text(key, value): flags[key] for key, value in data_options.items() if value is not None}
    items = list(overrides) + list(given)
    try:
        trained = run_training(kind, overrides=items or None, **arguments)
    except ParameterError as error:
        raise UserError(error.spelled(_flag_spelling(given))) from None
    on_interrupt(lambda: interrupted(trained.run_dir, kind, trained.recipe, arguments.get("resume", False)))
    return trained


def option_spelling(name, value=None, key=None):
    """`spell(name, value, key)` for `ParameterError.spelled`: the option that stands for a
    parameter, with its value: the setting's option (`key` "decode.n_best": "--n-best"), else
    `textlstm.train`'s flag for it ("max_steps": "--max-steps")."""
    from textlstm.schema import flag_of

    flag = flag_of(key) if key else FLAGS.get(name, f"--{name.replace('_', '-')}")
    return flag if value is None or isinstance(value, bool) else f"{flag} {value}"


def _flag_spelling(given):
    """`option_spelling`, where an override is named by the option that gave it (`given`: the
    override's text -> the flag; "--set" for the rest)."""

    def spell(name, value, key=None):
        if name == "overrides":
            return given.get(value, "--set")
        return option_spelling(name, value, key)

    return spell
