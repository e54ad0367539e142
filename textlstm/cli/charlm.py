"""CLI commands of the char LM: `train charlm` and `generate`."""

import click

from textlstm.cli.options import checked, existing, loading_options, recipe_options, train_from_cli, valid_text
from textlstm.schema import SAMPLERS as SAMPLER_NAMES


@click.command("charlm")
@click.option(
    "--data",
    "data_paths",
    multiple=True,
    type=click.Path(),
    callback=existing(directory_ok=True),
    help="Training text: a UTF-8 file or a directory of them (repeatable). Default: built-in corpus.",
)
@click.option(
    "--valid",
    type=click.Path(),
    callback=existing(),
    help="Validation text file (default: hold out data.valid_fraction).",
)
@recipe_options
def train_charlm_command(data_paths, valid, **shared):
    """Train a character-level language model, then print a short sample."""
    from textlstm.charlm.generate import generate

    options = {"data.paths": list(data_paths) or None, "data.valid": valid}
    trained = train_from_cli("charlm", options, {"data.paths": "--data", "data.valid": "--valid"}, **shared)
    if trained.metrics is None:  # a worker of a distributed run: the chief reports
        return
    click.echo("sample:")  # with the recipe's [decode] sampler and the training seed
    text = generate(trained.run_dir, prompt="\n", length=200, seed=trained.recipe["train"]["seed"])[0]
    click.echo(text)


@click.command("generate")
@click.argument("run_dir", type=click.Path())
@click.option(
    "-p",
    "--prompt",
    default="\n",
    show_default=False,
    callback=valid_text,
    help="Text that primes the model (default: a newline).",
)
@click.option(
    "-n",
    "--length",
    type=int,
    callback=checked("decode.length", "charlm"),
)
@click.option(
    "--sampler",
    type=click.Choice(SAMPLER_NAMES),
    help="How the next character is chosen (default: the recipe's decode.sampler, or the one the options below imply).",
)
@click.option(
    "-t",
    "--temperature",
    type=float,
    callback=checked("decode.temperature", "charlm"),
)
@click.option(
    "-k",
    "--top-k",
    type=int,
    callback=checked("decode.top_k", "charlm"),
)
@click.option(
    "--top-p",
    type=float,
    callback=checked("decode.top_p", "charlm", note="with --top-k: top-k first, then top-p among those"),
)
@click.option("--greedy", is_flag=True, help="Always take the most likely character (same as --sampler greedy).")
@click.option(
    "-s",
    "--seed",
    type=int,
    callback=checked("generate.seed", note="the same seed gives the same text"),
)
@click.option(
    "--num-samples",
    type=int,
    callback=checked("generate.num_samples"),
)
@loading_options
def generate_command(run_dir, prompt, length, sampler, temperature, top_k, top_p, greedy, seed, num_samples, loading):
    """Generate text from a trained char LM in RUN_DIR.

    A backward LM (data.direction = "backward") takes the prompt as the end of the text and
    writes what comes before it, printed the right way round once it is all sampled.

    Options not given come from the run's recipe ([decode]). A sampler option the chosen
    sampler does not use (--greedy --temperature 3) is refused.
    """
    import sys

    from textlstm.api import CharLM
    from textlstm.errors import UserError

    if greedy:
        if sampler not in (None, "greedy"):
            raise UserError(f"--greedy and --sampler {sampler} contradict each other: give one of them")
        sampler = "greedy"
    options = dict(sampler=sampler, temperature=temperature, top_k=top_k, top_p=top_p)
    _, _, _, seed, drawn = CharLM.check_options(
        run_dir, length=length, seed=seed, num_samples=num_samples, **options
    )  # before the model is loaded
    lm = CharLM(run_dir, **loading)
    if drawn:
        click.echo(f"seed: {seed}", err=True)
    unknown = lm.unknown_chars(prompt)
    if unknown:
        click.echo(f"warning: prompt characters not in the vocabulary, read as unknown: {''.join(unknown)!r}", err=True)
    if num_samples == 1:
        if not lm.backward:  # a backward LM's prompt is the end of its text
            sys.stdout.write(prompt or "\n")
        for piece in lm.stream(prompt, length, seed=seed, **options):
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write((prompt or "\n" if lm.backward else "") + "\n")
        return
    for i, text in enumerate(lm.generate(prompt, length, seed=seed, num_samples=num_samples, **options)):
        click.echo(f"--- sample {i + 1} ---\n{lm.with_prompt(prompt, text)}")
