"""The `textlstm` command line: a thin click layer over the library.

Each command parses its options, resolves the recipe and calls one library function.
TensorFlow is imported inside the commands, never here, so `textlstm --help` is instant.
"""

import click

from textlstm import __version__
from textlstm.errors import Interrupted, UserError


class _Group(click.Group):
    """A click group that turns `UserError`, and the failures of the machine rather than of
    textlstm (an OS error such as a full disk, running out of memory), into one readable
    line and exit status 1; any other exception is a bug and keeps its traceback.

    Ctrl-C anywhere in a command (KeyboardInterrupt, which click would print as "Aborted!"
    with exit status 1) and `Interrupted` (the library's Ctrl-C, after a checkpoint) print
    one line as it is and exit with 130, the shell's convention for a program ended by
    SIGINT. The line is the one the command registered with `on_interrupt` (a training: how
    to continue its run, `textlstm.interrupts`), else "interrupted".
    """

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.exceptions.Exit:
            raise
        except Interrupted as interrupted:
            click.echo(str(interrupted), err=True)
            ctx.exit(interrupted.exit_code)
        except KeyboardInterrupt:
            describe = ctx.meta.get(_ON_INTERRUPT)
            interrupted = describe() if describe is not None else Interrupted("interrupted")
            click.echo(str(interrupted), err=True)
            ctx.exit(interrupted.exit_code)
        except BrokenPipeError:  # `textlstm generate ... | head`: the reader left; stop quietly like `cat`
            import os
            import sys

            try:  # so that flushing stdout at exit does not fail a second time
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            except (OSError, ValueError, AttributeError):
                pass
            raise click.exceptions.Exit(141) from None  # 128 + SIGPIPE, the shell's convention
        except Exception as error:
            message = one_line_error(error)
            if message is None:
                raise
            raise click.ClickException(message) from None


_ON_INTERRUPT = "textlstm.on_interrupt"  # in ctx.meta, shared by a command and its groups


def on_interrupt(describe):
    """From now on in the running command, Ctrl-C ends with the line of `describe()` (an
    `Interrupted`, exit status 130); outside a click command this does nothing."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta[_ON_INTERRUPT] = describe


def one_line_error(error: BaseException) -> str | None:
    """The one line the CLI prints for `error`, or None when it is a bug (keep the traceback).
    A library error that names Python parameters (`ParameterError`) is spelled with the options
    that stand for them ("n_best" -> "--n-best": `textlstm.cli.options.option_spelling`)."""
    from textlstm.errors import ParameterError, describe_machine_error

    if isinstance(error, ParameterError):
        from textlstm.cli.options import option_spelling

        return error.spelled(option_spelling)
    if isinstance(error, UserError):
        return str(error)
    if isinstance(error, click.ClickException):
        return None  # click prints its own
    message = describe_machine_error(error)
    if message is None and type(error).__name__ == "PermissionDeniedError":  # tf.errors, no errno text
        return f"permission denied: {(str(error).strip().splitlines() or [''])[-1][:300]}"
    return message


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="textlstm")
@click.pass_context
def main(ctx):
    """Recurrent-network text toolkit: train and use char-level language models,
    sequence taggers and seq2seq translators built on textlstm's own LSTM/GRU layers."""


_WITHOUT_TENSORFLOW = {"recipes", "checkpoints", "data"}  # commands that never import TensorFlow


def _import_tensorflow_quietly(ctx, param, value):
    """TensorFlow's quiet import, as the callback of a hidden option every model command gets
    (`quiet_tensorflow_import`). Click runs the callbacks of the options given on the command
    line first and this one, declared last and never given, after them, and a mistyped option
    stops parsing before any callback: so a typo, a bad value or a missing input path is
    reported at once, and TensorFlow (seconds) is imported only for a command that will run.
    Imported quietly: its native start-up lines would bury the command's output and error line."""
    from textlstm._backend import import_tensorflow_quietly

    try:
        import_tensorflow_quietly()
    except Exception:  # a broken install: the command's own import fails again and says so (doctor)
        pass


def quiet_tensorflow_import(command):
    """Give `command` (a click command; a group: each of its commands) the hidden option whose
    callback imports TensorFlow quietly once the given options are checked."""
    if command.name in _WITHOUT_TENSORFLOW:
        return
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            quiet_tensorflow_import(sub)
    elif not any(p.name == "import_tensorflow_quietly" for p in command.params):
        command.params.append(
            click.Option(
                ["--import-tensorflow-quietly"],
                hidden=True,
                is_flag=True,
                expose_value=False,
                callback=_import_tensorflow_quietly,
            )
        )


@main.group(cls=_Group)
def train():
    """Train a model; each model family is a subcommand."""
    from textlstm.interrupts import BEFORE_START

    on_interrupt(lambda: Interrupted(BEFORE_START))  # until the command knows its run (textlstm.api.training)


def _register_commands():
    from textlstm.cli import commands

    commands.register(main, train)
    quiet_tensorflow_import(main)
    from textlstm.cli.options import declared_help

    declared_help(main)  # each declared option's help and default from textlstm/settings.py


_register_commands()
