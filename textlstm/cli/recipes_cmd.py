"""`textlstm recipes [show NAME]`: the recipes shipped with textlstm."""

import click

from textlstm.cli import _Group  # the one-line error boundary every group uses


@click.group("recipes", cls=_Group, invoke_without_command=True)
@click.pass_context
def recipes_command(ctx):
    """List the shipped recipes: name, model family, description. Use one with
    `textlstm train FAMILY -r NAME` from any directory."""
    if ctx.invoked_subcommand is not None:
        return
    from textlstm.recipes import recipe_description, recipe_family, shipped_recipes

    recipes = shipped_recipes()
    width = max(map(len, recipes), default=0)
    for name, path in recipes.items():
        click.echo(f"{name:<{width}}  {recipe_family(name):<7}  {recipe_description(path)}")


@recipes_command.command("show")
@click.argument("name")
def show_command(name):
    """Print the shipped recipe NAME (a TOML file: copy it, edit it, pass it to -r)."""
    from textlstm.recipes import shipped_recipe

    click.echo(shipped_recipe(name).read_text(encoding="utf-8"), nl=False)
