"""`textlstm export RUN_DIR OUT_DIR`: a SavedModel (or ONNX) of a trained model, for serving."""

import click

from textlstm import families
from textlstm.cli.options import checked, loading_options


@click.command("export")
@click.argument("run_dir", type=click.Path())
@click.argument("out_dir", type=click.Path())
@click.option(
    "-f",
    "--format",
    "export_format",
    type=click.Choice(["saved_model", "onnx"]),
    default="saved_model",
    show_default=True,
    help="A TensorFlow SavedModel, or ONNX (needs the [onnx] extra).",
)
@click.option(
    "--overwrite", is_flag=True, help="Replace OUT_DIR when it holds a previous export (nothing else is ever replaced)."
)
@click.option(
    "-b",
    "--beam-size",
    type=int,
    callback=checked("decode.beam_size", families.SEQ2SEQ, note="translator runs: fixed in the exported search"),
)
@loading_options
def export_command(run_dir, out_dir, export_format, overwrite, beam_size, loading):
    """Export the model in RUN_DIR to OUT_DIR, to run with TensorFlow (or onnxruntime) alone."""
    from textlstm.export import export
    from textlstm.rundir import RunDir

    RunDir.read_kind(run_dir)  # the run directory is named first; export() checks OUT_DIR before loading
    written = export(run_dir, out_dir, export_format, overwrite=overwrite, beam_size=beam_size, loading=loading)
    click.echo(f"wrote {export_format} to {out_dir}: {written}")
