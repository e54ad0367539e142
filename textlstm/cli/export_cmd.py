"""`textlstm export RUN_DIR OUT_DIR`: a SavedModel (or ONNX) of a trained model, for serving."""

import click


@click.command("export")
@click.argument("run_dir", type=click.Path())
@click.argument("out_dir", type=click.Path())
@click.option("-f", "--format", "export_format", type=click.Choice(["saved_model", "onnx"]), default="saved_model",
              show_default=True, help="A TensorFlow SavedModel, or ONNX (needs the [onnx] extra).")
@click.option("--overwrite", is_flag=True, help="Replace OUT_DIR when it exists and is not empty.")
@click.option("-b", "--beam-size", type=int, help="Translator: beam size of the exported search (default: the recipe's).")
def export_command(run_dir, out_dir, export_format, overwrite, beam_size):
    """Export the model in RUN_DIR to OUT_DIR, to run with TensorFlow (or onnxruntime) alone."""
    from textlstm.errors import UserError
    from textlstm.export.outdir import check_out_dir
    from textlstm.rundir import RunDir

    RunDir.read_kind(run_dir)
    check_out_dir(out_dir, overwrite)  # before the model is loaded
    if beam_size is not None and beam_size < 1:
        raise UserError(f"--beam-size must be at least 1, got {beam_size}")
    from textlstm.export import export

    written = export(run_dir, out_dir, export_format, overwrite=overwrite, beam_size=beam_size)
    click.echo(f"wrote {export_format} to {out_dir}: {written}")
