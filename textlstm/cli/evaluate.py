"""`textlstm evaluate RUN_DIR ...`: held-out metrics for any kind of run directory."""

import click


@click.command("evaluate")
@click.argument("run_dir", type=click.Path())
@click.option("--data", "data_path", type=click.Path(), help="Held-out data (char LM: a text file).")
def evaluate_command(run_dir, data_path):
    """Evaluate the model in RUN_DIR on held-out data."""
    from textlstm.errors import UserError
    from textlstm.rundir import RunDir

    kind = RunDir.read_kind(run_dir)
    if kind == "charlm":
        from textlstm.charlm.evaluate import evaluate_charlm

        if not data_path:
            raise UserError("--data FILE is required to evaluate a char LM")
        metrics = evaluate_charlm(run_dir, data_path)
        click.echo(
            f"characters: {metrics['characters']:,}  loss: {metrics['loss']:.4f} nats/char  "
            f"bits/char: {metrics['bits_per_char']:.4f}  perplexity: {metrics['perplexity']:.3f}"
        )
        if metrics["unknown_characters"]:
            click.echo(f"note: {metrics['unknown_characters']} distinct characters were not in the vocabulary")
        return
    raise UserError(f"evaluating a {kind!r} run directory is not supported yet")
