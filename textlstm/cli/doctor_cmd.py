"""`textlstm doctor [RUN_DIR]`: install checks, versions, devices, XLA, and each recurrent layer's kernel."""

import click


@click.command("doctor")
@click.argument("run_dir", type=click.Path(), required=False)
def doctor_command(run_dir):
    """Check the TensorFlow install (two builds at once, a GPU TensorFlow cannot use), say what
    this machine offers and which kernel each recurrent layer of RUN_DIR (or of a default char
    LM) will run with here, and why it is not cuDNN. Exits 1 when the install has a problem."""
    from textlstm.install_checks import check_install

    findings = check_install()
    if any(finding.fatal for finding in findings):
        for finding in findings:  # nothing else can be reported without TensorFlow
            click.echo(finding.line())
        raise SystemExit(1)
    from textlstm.doctor import doctor_lines

    for line in doctor_lines(run_dir, findings):
        click.echo(line)
    if any(finding.problem for finding in findings):
        raise SystemExit(1)
