"""Every recipe shipped with textlstm resolves against its family's defaults and builds a
working model, at its own depth, cell, attention and decoder but with tiny widths.

Recipes are listed by `textlstm.recipes.shipped_recipes` and found the way `-r NAME` finds
them (`find_recipe`), from a directory that holds no recipes; a recipe is of the family its
name starts with (`charlm-`, `tagger-`, `seq2seq-`).
"""

import numpy as np
import pytest

from textlstm.recipes import find_recipe, load_recipe_file, recipe_family, resolve_recipe, shipped_recipes

SHIPPED = sorted(shipped_recipes())

# Widths only: the recipe keeps its depth, cell and the rest; a forward pass stays milliseconds.
TINY = {
    "charlm": {"model.units": 8, "model.embedding_dim": 4},
    "tagger": {"model.word_dim": 4, "model.char_dim": 4, "model.char_units": 4, "model.units": 4},
    "seq2seq": {"model.units": 8, "model.embedding_dim": 4},
}


def _defaults(family):
    if family == "charlm":
        from textlstm.charlm.model import DEFAULTS
    elif family == "tagger":
        from textlstm.tagger.model import DEFAULTS
    else:
        from textlstm.seq2seq.model import DEFAULTS
    return DEFAULTS


def _build_and_run(family, recipe):
    """Build the family's model from the recipe and run a batch of 2 through it; returns the
    model and its output."""
    ids = np.array([[3, 4, 5, 6, 0], [7, 8, 0, 0, 0]], "int32")
    if family == "charlm":
        from textlstm.charlm.model import build_model

        model = build_model(12, recipe["model"], seed=recipe["train"]["seed"])
        return model, model(ids)
    if family == "tagger":
        from textlstm.tagger.model import build_and_compile

        classes = [0, 0, 1, 2, 3, 1, 2, 3, 0, 1]  # 10 characters' classes, for the recipes with model.casing
        model = build_and_compile(12, 10, 5, recipe, char_classes=classes)
        chars = np.where(ids[..., None] > 0, np.array([1, 2, 3], "int32"), 0)
        return model, model((ids, chars))
    from textlstm.seq2seq.model import build_and_compile

    model = build_and_compile(recipe, 12, 14)
    return model, model({"source": ids, "target_in": ids[:, :4]})


def test_every_family_ships_recipes():
    assert {recipe_family(name) for name in SHIPPED} == set(TINY), SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_recipe_resolves_and_builds_a_model(name, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # found from anywhere, as `-r NAME` finds it
    family = recipe_family(name)
    assert family in TINY, f"recipe {name!r} is of no known family"
    path = find_recipe(name, family)
    overrides = [f"{key}={value}" for key, value in TINY[family].items()]
    recipe = resolve_recipe(_defaults(family), path, overrides)
    for section, table in load_recipe_file(path).items():  # the file's values are what resolved
        for key, value in table.items():
            if f"{section}.{key}" not in TINY[family]:
                assert recipe[section][key] == value, (section, key)
    model, output = _build_and_run(family, recipe)
    output = np.asarray(output)
    assert output.shape[0] == 2 and np.all(np.isfinite(output))
    cells = {type(layer).__name__.lower() for layer in _recurrent_layers(model)}
    assert cells == {recipe["model"]["cell"]}, cells


def _recurrent_layers(model):
    import textlstm.layers as tl

    return [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, (tl.LSTM, tl.GRU))
    ]
