"""`textlstm evaluate RUN_DIR ...`: held-out metrics for any kind of run directory."""

import click

from textlstm.cli.options import checked, checkpoint_option

KIND_NAMES = {"charlm": "char LM", "tagger": "tagger", "seq2seq": "translator (seq2seq)"}
# Which kinds of run each option is for: given for another kind, it is refused, not ignored.
OPTION_KINDS = {
    "--data": ("charlm", "tagger"),
    "--src": ("seq2seq",),
    "--ref": ("seq2seq",),
    "--beam-size": ("seq2seq",),
    "--length-penalty": ("seq2seq",),
    "--batch-size": ("tagger",),
}


@click.command("evaluate")
@click.argument("run_dir", type=click.Path())
@click.option(
    "--data",
    "data_path",
    type=click.Path(),
    help="Held-out data (char LM: a text file; tagger: a tagged file like the training data).",
)
@click.option("--src", "source_path", type=click.Path(), help="Seq2seq: source sentences to translate.")
@click.option("--ref", "reference_path", type=click.Path(), help="Seq2seq: reference translations, line-aligned.")
@click.option(
    "-b",
    "--beam-size",
    type=int,
    callback=checked("decode.beam_size", "seq2seq"),
    help="Seq2seq: beam size (default: the recipe's).",
)
@click.option(
    "--length-penalty",
    type=float,
    callback=checked("decode.length_penalty", "seq2seq"),
    help="Seq2seq: GNMT length penalty alpha (default: the recipe's).",
)
@click.option(
    "--batch-size",
    type=int,
    callback=checked("decode.batch_size", "tagger"),
    help="Tagger: sentences tagged together (decode.batch_size).",
)
@checkpoint_option
def evaluate_command(
    run_dir, data_path, source_path, reference_path, beam_size, length_penalty, batch_size, checkpoint
):
    """Evaluate the model in RUN_DIR on held-out data."""
    from textlstm.errors import UserError
    from textlstm.rundir import RunDir
    from textlstm.textio import empty_input_note, is_empty_input

    kind = RunDir.read_kind(run_dir)
    given = {
        "--data": data_path,
        "--src": source_path,
        "--ref": reference_path,
        "--beam-size": beam_size,
        "--length-penalty": length_penalty,
        "--batch-size": batch_size,
    }
    for option, value in given.items():
        if value is not None and kind in KIND_NAMES and kind not in OPTION_KINDS[option]:
            raise UserError(
                f"{option} is for {' and '.join(KIND_NAMES[k] for k in OPTION_KINDS[option])} runs; "
                f"{run_dir} is a {KIND_NAMES[kind]} run"
            )
    empty = [path for path in (data_path, source_path) if is_empty_input(path)]
    if empty and (kind != "seq2seq" or is_empty_input(reference_path)):  # empty output, a note, exit 0
        click.echo(empty_input_note(empty[0], "evaluate"), err=True)
        return
    if kind == "charlm":
        _evaluate_charlm(run_dir, data_path, checkpoint)
    elif kind == "tagger":
        _evaluate_tagger(run_dir, data_path, batch_size, checkpoint)
    elif kind == "seq2seq":
        _evaluate_seq2seq(run_dir, source_path, reference_path, beam_size, length_penalty, checkpoint)
    else:
        raise UserError(f"evaluating a {kind!r} run directory is not supported (charlm, tagger, seq2seq are)")


def _evaluate_charlm(run_dir, data_path, checkpoint=None):
    from textlstm.api import CharLM
    from textlstm.charlm.corpus import unknown_characters_note
    from textlstm.errors import UserError

    if not data_path:
        raise UserError("--data FILE is required to evaluate a char LM")
    metrics = CharLM(run_dir, checkpoint=checkpoint).evaluate(data_path)
    click.echo(
        f"characters: {metrics['characters']:,}  loss: {metrics['loss']:.4f} nats/char  "
        f"bits/char: {metrics['bits_per_char']:.4f}  perplexity: {metrics['perplexity']:.3f}"
    )
    if "tokens" in metrics:  # a subword LM: the same per piece
        click.echo(
            f"pieces: {metrics['tokens']:,}  loss: {metrics['loss_per_token']:.4f} nats/piece  "
            f"perplexity: {metrics['token_perplexity']:.3f} per piece"
        )
    if metrics["unknown_characters"]:
        click.echo(unknown_characters_note(metrics["unknown_chars"]), err=True)


def _evaluate_tagger(run_dir, data_path, batch_size, checkpoint=None):
    from textlstm.api import Tagger
    from textlstm.errors import UserError

    if not data_path:
        raise UserError("--data FILE is required to evaluate a tagger (a tagged file like the training data)")
    metrics = Tagger(run_dir, checkpoint=checkpoint).evaluate(data_path, batch_size)
    click.echo(metrics["per_tag"])
    if "report" in metrics:
        click.echo("\nentities (exact span match, conlleval semantics):")
        click.echo(metrics["report"])
    click.echo(
        f"\nsentences: {metrics['sentences']:,}  tokens: {metrics['tokens']:,}  "
        f"token accuracy: {metrics['accuracy']:.4f}"
        + (f"  span F1: {metrics['spans']['micro']['f1']:.4f}" if "spans" in metrics else "")
    )


def _evaluate_seq2seq(run_dir, source_path, reference_path, beam_size, length_penalty, checkpoint=None):
    from textlstm.api import Translator
    from textlstm.errors import UserError

    if not source_path or not reference_path:
        raise UserError("--src FILE and --ref FILE are required to evaluate a translator")
    metrics = Translator(run_dir, checkpoint=checkpoint).evaluate(
        source_path,
        reference_path,
        beam_size=beam_size,
        length_penalty=length_penalty,
        warn=lambda message: click.echo(message, err=True),
    )
    click.echo(
        f"sentences: {metrics['sentences']:,}  BLEU: {metrics['bleu']:.2f}  chrF: {metrics['chrf']:.2f}  "
        f"lowercased BLEU: {metrics['bleu_lc']:.2f}"
    )
    click.echo(f"cased: {metrics['bleu_detail']}\nlowercased: {metrics['bleu_lc_detail']}")
    click.echo(
        f"BLEU signature: {metrics['bleu_signature']}\nlowercased BLEU signature: "
        f"{metrics['bleu_lc_signature']}\nchrF signature: {metrics['chrf_signature']}"
    )
