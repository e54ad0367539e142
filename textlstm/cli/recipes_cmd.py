"""`textlstm recipes [show NAME]`: the recipes shipped with textlstm."""

import click


class _RecipesGroup(click.Group):
    """Turns `UserError` from `show` into one line, as the top-level group does."""

    def invoke(self, ctx):
        from textlstm.errors import UserError

        try:
            return super().invoke(ctx)
        except UserError as error:
            raise click.ClickException(str(error)) from None


@click.group("recipes", cls=_RecipesGroup, invoke_without_command=True)
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
