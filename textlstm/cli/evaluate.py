"""`textlstm evaluate RUN_DIR ...`: held-out metrics for any kind of run directory."""

import click


@click.command("evaluate")
@click.argument("run_dir", type=click.Path())
@click.option("--data", "data_path", type=click.Path(), help="Held-out data (char LM: a text file; tagger: a tagged file).")
@click.option("--batch-size", type=int, help="Tagger: sentences tagged together (decode.batch_size).")
def evaluate_command(run_dir, data_path, batch_size):
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
    if kind == "tagger":
        from textlstm.tagger.evaluate import evaluate_tagger

        if not data_path:
            raise UserError("--data FILE is required to evaluate a tagger (a tagged file like the training data)")
        metrics = evaluate_tagger(run_dir, data_path, batch_size)
        click.echo(metrics["per_tag"])
        if "report" in metrics:
            click.echo("\nentities (exact span match, conlleval semantics):")
            click.echo(metrics["report"])
        click.echo(f"\nsentences: {metrics['sentences']:,}  tokens: {metrics['tokens']:,}  "
                   f"accuracy: {metrics['accuracy']:.4f}"
                   + (f"  span F1: {metrics['spans']['micro']['f1']:.4f}" if "spans" in metrics else ""))
        return
    raise UserError(f"evaluating a {kind!r} run directory is not supported yet")
