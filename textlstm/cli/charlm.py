"""CLI commands of the char LM: `train charlm` and `generate`."""

import click

from textlstm.cli.options import recipe_options, resolve_cli_recipe


@click.command("charlm")
@click.option("--data", "data_paths", multiple=True, type=click.Path(),
              help="Training text: a UTF-8 file or a directory of them (repeatable). Default: built-in corpus.")
@click.option("--valid", type=click.Path(), help="Validation text file (default: hold out data.valid_fraction).")
@recipe_options
@click.option("--epochs", type=int, help="Number of epochs (train.epochs).")
@click.option("--max-steps", type=int, help="Cap on optimizer steps in all (train.max_steps).")
def train_charlm_command(data_paths, valid, recipe, overrides, run_dir, seed, resume, epochs, max_steps):
    """Train a character-level language model, then print a short sample."""
    from textlstm.charlm.generate import generate
    from textlstm.charlm.model import DEFAULTS
    from textlstm.charlm.train import train_charlm

    cli_values = {"data.paths": list(data_paths) or None, "data.valid": valid, "train.epochs": epochs,
                  "train.max_steps": max_steps, "train.seed": seed}
    resolved, run_dir = resolve_cli_recipe(DEFAULTS, recipe, overrides, cli_values, run_dir, resume, "charlm")
    run, metrics = train_charlm(resolved, run_dir, resume=resume)
    if metrics is None:  # a worker of a distributed run: the chief reports
        return
    click.echo("sample:")
    text = generate(run.path, prompt="\n", length=200, sampler="temperature", temperature=0.8, seed=0)[0]
    click.echo(text)


@click.command("generate")
@click.argument("run_dir", type=click.Path())
@click.option("-p", "--prompt", default="\n", show_default=False, help="Text that primes the model (default: a newline).")
@click.option("-n", "--length", type=int, default=500, show_default=True, help="Characters to generate.")
@click.option("-t", "--temperature", type=float, default=0.8, show_default=True, help="Softmax temperature (> 0).")
@click.option("-k", "--top-k", type=int, default=None, help="Sample among the k most likely characters.")
@click.option("--top-p", type=float, default=None, help="Nucleus sampling: the smallest set with probability ≥ p.")
@click.option("--greedy", is_flag=True, help="Always take the most likely character.")
@click.option("-s", "--seed", type=int, default=0, show_default=True, help="Same seed, same text.")
@click.option("--num-samples", type=int, default=1, show_default=True, help="Samples generated together as one batch.")
def generate_command(run_dir, prompt, length, temperature, top_k, top_p, greedy, seed, num_samples):
    """Generate text from a trained char LM in RUN_DIR."""
    import sys

    from textlstm.api import CharLM
    from textlstm.errors import UserError

    if length <= 0:
        raise UserError(f"--length must be a positive number of characters, got {length}")
    if num_samples <= 0:
        raise UserError(f"--num-samples must be positive, got {num_samples}")
    if temperature <= 0:
        raise UserError(f"--temperature must be > 0, got {temperature}")
    if top_p is not None and not 0 < top_p <= 1:
        raise UserError(f"--top-p must be in (0, 1], got {top_p}")
    if top_k is not None and top_k < 1:
        raise UserError(f"--top-k must be at least 1, got {top_k}")
    sampler = "greedy" if greedy else "top_p" if top_p is not None else "top_k" if top_k is not None else "temperature"
    lm = CharLM(run_dir)
    unknown = lm.unknown_chars(prompt)
    if unknown:
        click.echo(f"warning: prompt characters not in the vocabulary, read as unknown: {''.join(unknown)!r}", err=True)
    options = dict(sampler=sampler, temperature=temperature, top_k=top_k or 40, top_p=top_p or 0.95, seed=seed)
    if num_samples == 1:
        sys.stdout.write(prompt or "\n")
        for piece in lm.stream(prompt, length, **options):
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
        return
    for i, text in enumerate(lm.generate(prompt, length, num_samples=num_samples, **options)):
        click.echo(f"--- sample {i + 1} ---\n{prompt}{text}")
