"""`textlstm checkpoints RUN_DIR`: the checkpoints a run holds, one row each (no TensorFlow needed)."""

import click

HEADERS = ("name", "epoch", "step", "dev metric", "size")


@click.command("checkpoints")
@click.argument("run_dir", type=click.Path())
def checkpoints_command(run_dir):
    """List the checkpoints of the run in RUN_DIR: best, last and each kept epoch
    (train.keep_checkpoints), with its epoch, step, dev metric and size.

    Any of them can be given to generate, tag, translate, evaluate, export, serve and inspect
    as --checkpoint best|last|N (N: the epoch), or its file as --checkpoint PATH.
    """
    from textlstm.checkpoints import list_checkpoints
    from textlstm.rundir import RunDir

    RunDir.read_kind(run_dir)  # a missing or foreign directory is one line
    rows = list_checkpoints(run_dir)
    if not rows:
        click.echo(f"{run_dir} holds no checkpoint yet")
        return
    table = [HEADERS] + [
        (row["name"], _shown(row["epoch"]), _shown(row["step"]), _metric(row), _size(row["bytes"])) for row in rows
    ]
    widths = [max(len(line[column]) for line in table) for column in range(len(HEADERS))]
    for line in table:
        cells = [line[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(line[1:], widths[1:])]
        click.echo("  ".join(cells).rstrip())


def _shown(value):
    return "-" if value is None else str(value)


def _metric(row):
    """ "val_loss 2.3141"; the value alone where the metric's name was not recorded (older runs)."""
    if row["value"] is None:
        return "-"
    value = f"{row['value']:.4f}"
    return f"{row['monitor']} {value}" if row["monitor"] else value


def _size(size):
    """Bytes in KB or MB (decimal, as `ls -h --si`), "-" when unknown."""
    if size is None:
        return "-"
    if size < 1000:
        return f"{size} B"
    return f"{size / 1000:.1f} KB" if size < 1_000_000 else f"{size / 1_000_000:.1f} MB"
