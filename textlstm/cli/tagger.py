"""CLI commands of the sequence tagger: `train tagger` and `tag`."""

import click

from textlstm.cli.options import checked, existing, loading_options, recipe_options, train_from_cli
from textlstm.schema import TAG_INPUT_FORMATS, TAG_OUTPUT_FORMATS


@click.command("tagger")
@click.option(
    "--train",
    "train_path",
    type=click.Path(),
    callback=existing(),
    help="Tagged training file, CoNLL-U or CoNLL columns (data.train).",
)
@click.option(
    "--dev",
    "dev_path",
    type=click.Path(),
    callback=existing(),
    help="Tagged development file; its score picks the best model (data.dev).",
)
@click.option(
    "-f",
    "--format",
    "file_format",
    type=click.Choice(["auto", "conllu", "conll"]),
    help="Format of the tagged files (data.format; default: guessed).",
)
@click.option(
    "-c",
    "--column",
    callback=checked("data.column", "tagger"),
)
@click.option(
    "--tag-column",
    type=int,
    callback=checked("data.tag_column", "tagger"),
)
@click.option(
    "--scheme",
    type=click.Choice(["auto", "IOB1", "IOB2", "BIO", "BIOES", "IOBES"], case_sensitive=False),
    help="Entity tags: the scheme the model learns (data.scheme; auto keeps the file's).",
)
@click.option(
    "--invalid-tags",
    type=click.Choice(["error", "repair"]),
    help="An ill-formed entity tag sequence: stop with an error, or repair it (data.invalid_tags).",
)
@click.option(
    "--word-vectors",
    type=click.Path(),
    callback=existing(),
    help="Pretrained word vectors, word2vec/GloVe text (data.word_vectors).",
)
@click.option(
    "--charlm",
    "charlm_runs",
    multiple=True,
    type=click.Path(),
    callback=existing(directory_ok=True),
    help="A char LM run directory whose hidden states become word features; repeatable: a forward "
    "and a backward LM (model.charlm).",
)
@recipe_options
def train_tagger_command(
    train_path, dev_path, file_format, column, tag_column, scheme, invalid_tags, word_vectors, charlm_runs, **shared
):
    """Train a sequence tagger (POS or entities): BiLSTM with char features and a CRF."""
    options = {
        "data.train": train_path,
        "data.dev": dev_path,
        "data.format": file_format,
        "data.column": column,
        "data.tag_column": tag_column,
        "data.scheme": scheme and (scheme.upper() if scheme.lower() != "auto" else "auto"),
        "data.invalid_tags": invalid_tags,
        "data.word_vectors": word_vectors,
        "model.charlm": list(charlm_runs) or None,
    }
    train_from_cli("tagger", options, TAGGER_FLAGS, **shared)


TAGGER_FLAGS = {
    "data.train": "--train",
    "data.dev": "--dev",
    "data.format": "--format",
    "data.column": "--column",
    "data.tag_column": "--tag-column",
    "data.scheme": "--scheme",
    "data.invalid_tags": "--invalid-tags",
    "data.word_vectors": "--word-vectors",
    "model.charlm": "--charlm",
}


@click.command("tag")
@click.argument("run_dir", type=click.Path())
@click.argument("input_path", metavar="[INPUT]", required=False, type=click.Path(allow_dash=True))
@click.option(
    "-i",
    "--input-format",
    type=click.Choice(TAG_INPUT_FORMATS),
    default="auto",
    show_default=True,
    help="Input: CoNLL-U, CoNLL columns, or plain text (one sentence per line).",
)
@click.option(
    "-O",
    "--output-format",
    type=click.Choice(TAG_OUTPUT_FORMATS),
    help="Output format (default: that of the input; CoNLL columns for plain text).",
)
@click.option(
    "-b",
    "--batch-size",
    type=int,
    callback=checked("decode.batch_size", "tagger"),
)
@click.option(
    "--n-best",
    type=int,
    callback=checked("tag.n_best", note='K > 1: with their probabilities, as jsonl "n_best" or K tag columns in CoNLL'),
)
@loading_options
def tag_command(run_dir, input_path, input_format, output_format, batch_size, n_best, loading):
    """Tag INPUT (a file, or stdin when absent or -) with the tagger in RUN_DIR; writes to stdout."""
    import sys

    from textlstm.api import Tagger
    from textlstm.rundir import RunDir

    RunDir.open(run_dir, Tagger.kind)  # the kind is checked before any input is read
    sys.stdout.write(Tagger(run_dir, **loading).tag_file(input_path, input_format, output_format, batch_size, n_best))
