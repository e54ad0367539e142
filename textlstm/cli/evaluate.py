"""`textlstm evaluate RUN_DIR ...`: held-out metrics for any kind of run directory.

The run's class (`families.model_class`) says which `evaluate` arguments it takes
(`evaluate_inputs`, `evaluate_options`), evaluates and words the report; this command maps
options onto those arguments. An option the run's class does not take is refused, not ignored.
"""

import click

from textlstm import families
from textlstm.cli.options import checked, loading_options

# The option of each `evaluate` argument, for messages.
FLAGS = {
    "path": "--data",
    "source_path": "--src",
    "reference_path": "--ref",
    "beam_size": "--beam-size",
    "length_penalty": "--length-penalty",
    "batch_size": "--batch-size",
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
    callback=checked("decode.beam_size", families.SEQ2SEQ, note="translator runs"),
)
@click.option(
    "--length-penalty",
    type=float,
    callback=checked("decode.length_penalty", families.SEQ2SEQ, note="translator runs"),
)
@click.option(
    "--batch-size",
    type=int,
    callback=checked("decode.batch_size", families.TAGGER, note="tagger runs"),
)
@loading_options
def evaluate_command(run_dir, data_path, source_path, reference_path, beam_size, length_penalty, batch_size, loading):
    """Evaluate the model in RUN_DIR on held-out data."""
    from textlstm.errors import UserError
    from textlstm.rundir import RunDir
    from textlstm.textio import empty_input_note, is_empty_input

    kind = RunDir.read_kind(run_dir)
    if kind not in families.KINDS:
        raise UserError(f"evaluating a {kind!r} run directory is not supported ({', '.join(families.KINDS)} are)")
    model_class, title = families.model_class(kind), families.family(kind).long_title
    given = {
        "path": data_path,
        "source_path": source_path,
        "reference_path": reference_path,
        "beam_size": beam_size,
        "length_penalty": length_penalty,
        "batch_size": batch_size,
    }
    for name, value in given.items():
        if value is not None and name not in model_class.evaluate_inputs + model_class.evaluate_options:
            takers = [
                families.family(other).long_title
                for other, cls in families.model_classes().items()
                if name in cls.evaluate_inputs + cls.evaluate_options
            ]
            raise UserError(f"{FLAGS[name]} is for {' and '.join(takers)} runs; {run_dir} is a {title} run")
    inputs = model_class.evaluate_inputs
    if all(is_empty_input(given[name]) for name in inputs):  # empty output, a note, exit 0
        click.echo(empty_input_note(given[inputs[0]], "evaluate"), err=True)
        return
    if not all(given[name] for name in inputs):
        files = " and ".join(f"{FLAGS[name]} FILE" for name in inputs)
        raise UserError(
            f"{files} {'is' if len(inputs) == 1 else 'are'} required to evaluate a "
            f"{families.family(kind).title}{model_class.evaluate_note}"
        )
    model = model_class(run_dir, **loading)
    arguments = {name: given[name] for name in inputs + model_class.evaluate_options}
    metrics = model.evaluate(**arguments, warn=lambda message: click.echo(message, err=True))
    click.echo(model.evaluation_report(metrics))
