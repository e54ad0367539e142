"""CLI commands of the translator: `train seq2seq` and `translate`."""

import click

from textlstm.cli.options import checked, existing, loading_options, recipe_options, train_from_cli


@click.command("seq2seq")
@click.option(
    "--src", type=click.Path(), callback=existing(), help="Training source sentences, one per line (data.src)."
)
@click.option(
    "--tgt",
    type=click.Path(),
    callback=existing(),
    help="Training target sentences, line-aligned with --src (data.tgt).",
)
@click.option(
    "--tsv", type=click.Path(), callback=existing(), help="Or one file of source<TAB>target lines (data.tsv)."
)
@click.option("--valid-src", type=click.Path(), callback=existing(), help="Dev source sentences (data.valid_src).")
@click.option("--valid-tgt", type=click.Path(), callback=existing(), help="Dev target sentences (data.valid_tgt).")
@click.option(
    "--valid-tsv", type=click.Path(), callback=existing(), help="Or dev source<TAB>target lines (data.valid_tsv)."
)
@recipe_options
def train_seq2seq_command(src, tgt, tsv, valid_src, valid_tgt, valid_tsv, **shared):
    """Train an attention encoder-decoder translator (subwords are trained first)."""
    options = {
        "data.src": src,
        "data.tgt": tgt,
        "data.tsv": tsv,
        "data.valid_src": valid_src,
        "data.valid_tgt": valid_tgt,
        "data.valid_tsv": valid_tsv,
    }
    train_from_cli("seq2seq", options, {key: "--" + key[5:].replace("_", "-") for key in options}, **shared)


@click.command("translate")
@click.argument("run_dir", type=click.Path())
@click.argument("input_path", metavar="[INPUT]", default="-", type=click.Path())
@click.option(
    "-b",
    "--beam-size",
    type=int,
    callback=checked("decode.beam_size", "seq2seq"),
)
@click.option(
    "--length-penalty",
    type=float,
    callback=checked("decode.length_penalty", "seq2seq"),
)
@click.option(
    "--max-length",
    type=int,
    callback=checked("decode.max_length", "seq2seq"),
)
@click.option(
    "-n",
    "--n-best",
    type=int,
    callback=checked("decode.n_best", "seq2seq", note="printed as 'LINE ||| TEXT ||| SCORE'"),
)
@click.option(
    "--batch-size",
    type=int,
    callback=checked("decode.batch_size", "seq2seq"),
)
@click.option(
    "--alignments",
    is_flag=True,
    help="Append a tab and the word alignment ('src-tgt' pairs from attention) to each line.",
)
@loading_options
def translate_command(
    run_dir, input_path, beam_size, length_penalty, max_length, n_best, batch_size, alignments, loading
):
    """Translate INPUT (a file, or standard input when absent or '-'), one sentence per line.

    Output lines follow the input order; an empty input line gives an empty output line.
    """
    from textlstm.api import Translator
    from textlstm.rundir import RunDir
    from textlstm.seq2seq.translate import KIND, check_options
    from textlstm.textio import empty_input_note, open_text_stream

    RunDir.open(run_dir, KIND)  # the kind is checked before any input is read
    check_options(beam_size, n_best, max_length, batch_size, length_penalty)  # before any input is read
    text = open_text_stream(input_path, allow_empty=True)
    if not text:  # no line at all: empty output, a note, exit 0 (as `tag` and `evaluate`)
        click.echo(empty_input_note("<stdin>" if input_path == "-" else input_path, "translate"), err=True)
        return
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    translator = Translator(run_dir, **loading)
    results = translator.hypotheses(
        lines,
        beam_size=beam_size,
        length_penalty=length_penalty,
        max_length=max_length,
        n_best=n_best,
        batch_size=batch_size,
        alignments=alignments,
        warn=lambda message: click.echo(message, err=True),
    )
    nbest = (n_best or translator.recipe["decode"]["n_best"]) > 1
    for number, hypotheses in enumerate(results):
        for hypothesis in hypotheses:
            line = f"{number} ||| {hypothesis.text} ||| {hypothesis.score:.4f}" if nbest else hypothesis.text
            if alignments:
                line += f"\t{hypothesis.alignment}"
            click.echo(line)
