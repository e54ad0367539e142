"""The `textlstm` command line: a thin click layer over the library.

Each command parses its options, resolves the recipe and calls one library function.
TensorFlow is imported inside the commands, never here, so `textlstm --help` is instant.
"""

import click

from textlstm import __version__
from textlstm.errors import Interrupted, UserError


class _Group(click.Group):
    """A click group that turns `UserError` into one readable line and exit status 1.

    `Interrupted` (Ctrl-C in training, after a checkpoint) prints its line as it is, with
    exit status 130, the shell's convention for a program ended by SIGINT.
    """

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except Interrupted as interrupted:
            click.echo(str(interrupted), err=True)
            ctx.exit(interrupted.exit_code)
        except UserError as error:
            raise click.ClickException(str(error)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="textlstm")
def main():
    """Recurrent-network text toolkit: train and use char-level language models,
    sequence taggers and seq2seq translators built on textlstm's own LSTM/GRU layers."""


@main.group(cls=_Group)
def train():
    """Train a model; each model family is a subcommand."""


def _register_commands():
    from textlstm.cli import commands

    commands.register(main, train)


_register_commands()
