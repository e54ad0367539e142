"""`textlstm doctor [RUN_DIR]`: versions, devices, XLA, and each recurrent layer's kernel."""

import click


@click.command("doctor")
@click.argument("run_dir", type=click.Path(), required=False)
def doctor_command(run_dir):
    """Say what this machine offers and which kernel each recurrent layer of RUN_DIR (or of a
    default char LM) will run with here, and why it is not cuDNN."""
    from textlstm.doctor import doctor_lines

    for line in doctor_lines(run_dir):
        click.echo(line)
