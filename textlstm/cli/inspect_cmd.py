"""`textlstm inspect RUN_DIR`: what the gates of a trained char LM do on a text."""

import click

from textlstm.cli.options import checked, loading_options, valid_text


def _format_of(out, fmt):
    if fmt:
        return fmt
    suffix = out.rsplit(".", 1)[-1].lower() if out and "." in out else ""
    return suffix if suffix in ("html", "json", "npz") else "html"


@click.command("inspect")
@click.argument("run_dir", type=click.Path())
@click.option("--text", "text_path", type=click.Path(), help="UTF-8 text file to run through the model.")
@click.option("-p", "--prompt", callback=valid_text, help="Text to run through the model, given on the command line.")
@click.option("-o", "--out", help="Where to write the report (default: report.html, .json or .npz).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "json", "npz"]),
    help="Report format (default: from --out's extension, else html).",
)
@click.option(
    "--max-chars",
    type=int,
    callback=checked("inspect.max_chars"),
)
@click.option(
    "--analysis-chars",
    type=int,
    callback=checked("inspect.analysis_chars"),
)
@click.option(
    "--top-k",
    type=int,
    callback=checked("inspect.top_k"),
)
@click.option(
    "--span-distance",
    type=int,
    callback=checked("inspect.span_distance"),
)
@click.option(
    "--span-windows",
    type=int,
    callback=checked("inspect.span_windows"),
)
@loading_options
def inspect_command(
    run_dir, text_path, prompt, out, fmt, max_chars, analysis_chars, top_k, span_distance, span_windows, loading
):
    """Record the gates of the char LM in RUN_DIR on a text; write an HTML report (or raw JSON/NPZ)."""
    from textlstm.errors import UserError
    from textlstm.textio import read_text_file

    if (text_path is None) == (prompt is None):
        raise UserError("give exactly one of --text FILE or --prompt TEXT")
    if prompt is not None and not prompt:
        raise UserError("--prompt is empty; give some text to inspect")
    text = read_text_file(text_path) if text_path is not None else prompt
    fmt = _format_of(out, fmt)
    out = out or f"report.{fmt}"

    from textlstm.inspection.analysis import FEATURE_DESCRIPTIONS
    from textlstm.inspection.report import inspect_run, write_report
    from textlstm.rundir import refuse_inside_a_run

    refuse_inside_a_run(out, "the report")  # before the inspection's minutes, as write_report would

    inspection = inspect_run(
        run_dir,
        text,
        max_chars=max_chars,
        analysis_chars=analysis_chars,
        top_k=top_k,
        span_distance=span_distance,
        span_windows=span_windows,
        loading=loading,
        progress=_progress_on_a_terminal(),  # each stage takes seconds on a large model
    )
    if inspection.unknown_chars:
        click.echo(
            f"note: characters not in the vocabulary, read as unknown: {''.join(inspection.unknown_chars)!r}", err=True
        )
    write_report(inspection, out, fmt)
    rec = inspection.recording
    click.echo(f"{rec.cell_type.upper()}, {_count(len(rec.layers), 'layer')}, {len(rec.text):,} characters recorded")
    if inspection.span is not None:
        click.echo(inspection.span.describe())
    for row in inspection.interpretable[:5]:
        click.echo(
            f"layer {row['layer']} unit {row['unit']}: r = {row['correlation']:+.3f} with "
            f"{row['feature']} ({FEATURE_DESCRIPTIONS[row['feature']]})"
        )
    click.echo(f"wrote {out}")


def _count(number, noun):
    """ "1 layer", "2 layers"."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _progress_on_a_terminal():
    """Stage lines on stderr where a person watches it (a terminal); none where a script reads it,
    so a refusal stays the one line it is."""
    import sys

    if hasattr(sys.stderr, "isatty") and sys.stderr.isatty():
        return lambda message: click.echo(message, err=True)
    return None
