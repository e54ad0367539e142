import importlib

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import pathlib

import pytest

from textlstm.errors import UserError
from textlstm.recipes import (
    SHIPPED_DIR,
    find_recipe,
    load_recipe_file,
    parse_override,
    recipe_description,
    recipe_family,
    recipe_to_toml,
    resolve_recipe,
    shipped_recipes,
)
from textlstm.schema import check_recipe

DEFAULTS = {
    "data": {"path": "corpus.txt", "seq_len": 64, "extra": None},
    "model": {"cell": "lstm", "units": [32, 32], "dropout": 0.1},
    "train": {"learning_rate": 0.002, "epochs": 10, "shuffle": True},
}


def write(tmp_path, text, name="r.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_only_is_a_deep_copy():
    recipe = resolve_recipe(DEFAULTS)
    assert recipe == DEFAULTS
    recipe["model"]["units"].append(1)
    assert DEFAULTS["model"]["units"] == [32, 32]


def test_resolution_order_defaults_file_overrides(tmp_path):
    path = write(tmp_path, "[train]\nepochs = 5\nlearning_rate = 0.01\n[model]\ncell = 'gru'\n")
    recipe = resolve_recipe(DEFAULTS, path, ["train.epochs=7", "data.seq_len=16"])
    assert recipe["train"] == {"learning_rate": 0.01, "epochs": 7, "shuffle": True}
    assert recipe["model"]["cell"] == "gru"
    assert recipe["data"]["seq_len"] == 16
    assert recipe["data"]["path"] == "corpus.txt"


def test_later_override_wins():
    recipe = resolve_recipe(DEFAULTS, None, ["train.epochs=2", "train.epochs=3"])
    assert recipe["train"]["epochs"] == 3


@pytest.mark.parametrize(
    "override, expected",
    [
        ("train.epochs=3", ("train", "epochs", 3)),
        ("train.learning_rate=0.5", ("train", "learning_rate", 0.5)),
        ("train.shuffle=false", ("train", "shuffle", False)),
        ('model.cell="gru"', ("model", "cell", "gru")),
        ("model.cell=gru", ("model", "cell", "gru")),
        ("model.units=[1, 2]", ("model", "units", [1, 2])),
        (" model.cell = gru ", ("model", "cell", "gru")),
        ("data.path=a=b.txt", ("data", "path", "a=b.txt")),
        ("data.path=1\ny = 2", ("data", "path", "1\ny = 2")),
    ],
)
def test_parse_override(override, expected):
    assert parse_override(override) == expected


@pytest.mark.parametrize("override", ["train.epochs", "epochs=3", ".epochs=3", "train.=3"])
def test_malformed_override(override):
    with pytest.raises(UserError, match="malformed.*section.key=value"):
        resolve_recipe(DEFAULTS, None, [override])


def test_int_widens_to_float():
    recipe = resolve_recipe(DEFAULTS, None, ["train.learning_rate=1"])
    assert recipe["train"]["learning_rate"] == 1.0
    assert isinstance(recipe["train"]["learning_rate"], float)


def test_string_default_keeps_override_text():
    recipe = resolve_recipe(DEFAULTS, None, ["data.path=2024", "model.cell=true"])
    assert recipe["data"]["path"] == "2024"
    assert recipe["model"]["cell"] == "true"


def test_none_default_accepts_anything(tmp_path):
    path = write(tmp_path, "[data]\nextra = [1, 'a']\n")
    assert resolve_recipe(DEFAULTS, path)["data"]["extra"] == [1, "a"]
    assert resolve_recipe(DEFAULTS, None, ["data.extra=3"])["data"]["extra"] == 3


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.epochs=true", r"train\.epochs must be an integer, got True"),
        ("train.epochs=2.5", r"train\.epochs must be an integer, got 2\.5"),
        ("train.shuffle=1", r"train\.shuffle must be a boolean.*got 1"),
        ("train.learning_rate=fast", r"train\.learning_rate must be a number, got 'fast'"),
        ("train.learning_rate=true", r"must be a number, got True"),
        ("model.units=32", r"model\.units must be a list, got 32"),
    ],
)
def test_wrong_type_in_override(override, message):
    with pytest.raises(UserError, match=message):
        resolve_recipe(DEFAULTS, None, [override])


def test_wrong_type_in_file_names_file(tmp_path):
    path = write(tmp_path, "[train]\nepochs = 'ten'\n")
    with pytest.raises(UserError, match=r"r\.toml.*train\.epochs must be an integer, got 'ten'"):
        resolve_recipe(DEFAULTS, path)


def test_unknown_key_in_file_suggests_closest(tmp_path):
    path = write(tmp_path, "[train]\nlearnin_rate = 0.1\n")
    with pytest.raises(UserError) as info:
        resolve_recipe(DEFAULTS, path)
    message = str(info.value)
    assert "r.toml" in message
    assert "'train.learnin_rate'" in message
    assert "did you mean 'train.learning_rate'?" in message


def test_unknown_key_in_override_suggests_across_sections():
    with pytest.raises(UserError, match=r"unknown key 'train\.seq_len'.*'data\.seq_len'"):
        resolve_recipe(DEFAULTS, None, ["train.seq_len=3"])


def test_unknown_key_without_close_match_has_no_suggestion():
    with pytest.raises(UserError) as info:
        resolve_recipe(DEFAULTS, None, ["train.zzzzzz=3"])
    assert "did you mean" not in str(info.value)


def test_unknown_section(tmp_path):
    path = write(tmp_path, "[trian]\nepochs = 3\n")
    with pytest.raises(UserError, match=r"r\.toml.*unknown section \[trian\].*'train'"):
        resolve_recipe(DEFAULTS, path)
    with pytest.raises(UserError, match=r"unknown section \[decode\]"):
        resolve_recipe(DEFAULTS, None, ["decode.beam=3"])


def test_top_level_value_is_not_a_section(tmp_path):
    path = write(tmp_path, "train = 3\n")
    with pytest.raises(UserError, match=r"must be a \[train\] table"):
        resolve_recipe(DEFAULTS, path)


def test_invalid_toml_names_file_and_parser_message(tmp_path):
    path = write(tmp_path, "[train]\nepochs = = 3\n")
    with pytest.raises(UserError, match=r"r\.toml is not valid TOML: .*line 2"):
        resolve_recipe(DEFAULTS, path)


def test_missing_recipe_file(tmp_path):
    with pytest.raises(UserError, match="no recipe file at .*nope.toml"):
        resolve_recipe(DEFAULTS, tmp_path / "nope.toml")
    with pytest.raises(UserError, match="is a directory"):
        load_recipe_file(tmp_path)


def test_non_utf8_recipe(tmp_path):
    path = tmp_path / "r.toml"
    path.write_bytes(b"[train]\nname = '\xff'\n")
    with pytest.raises(UserError, match="not valid UTF-8"):
        load_recipe_file(path)


def test_toml_round_trip_drops_none(tmp_path):
    recipe = resolve_recipe(DEFAULTS, None, ["model.cell=gru"])
    text = recipe_to_toml(recipe)
    assert "extra" not in text
    path = write(tmp_path, text)
    assert load_recipe_file(path)["model"] == recipe["model"]
    assert resolve_recipe(DEFAULTS, path) == recipe


def test_find_recipe_by_path_and_shipped_name_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./recipes here: shipped recipes are package data
    own = write(tmp_path, "[train]\n", name="mine.toml")
    assert find_recipe(str(own)) == own
    found = find_recipe("charlm-shakespeare")
    assert found.parent == SHIPPED_DIR and found.name == "charlm-shakespeare.toml"
    assert find_recipe("tagger-ner", kind="tagger").name == "tagger-ner.toml"
    with pytest.raises(
        UserError,
        match="shipped charlm recipes: charlm-default, .*charlm-shakespeare.*did you mean 'charlm-shakespeare'",
    ):
        find_recipe("charlm-shakespear", kind="charlm")


def test_shipped_recipe_of_another_family_names_its_command():
    with pytest.raises(UserError, match="'tagger-ner' is a tagger recipe; use it with 'textlstm train tagger'"):
        find_recipe("tagger-ner", kind="charlm")


@pytest.mark.parametrize("name", sorted(shipped_recipes()))
def test_every_shipped_recipe_resolves_and_passes_its_family_schema(name):
    family = recipe_family(name)
    defaults = {
        "charlm": "textlstm.charlm.model",
        "tagger": "textlstm.tagger.model",
        "seq2seq": "textlstm.seq2seq.model",
    }[family]
    recipe = resolve_recipe(importlib.import_module(defaults).DEFAULTS, find_recipe(name, family), kind=family)
    assert check_recipe(recipe, family) is recipe
    description = recipe_description(shipped_recipes()[name])
    assert 20 < len(description) <= 120 and description.endswith("."), description  # `recipes` shows one sentence


def test_range_is_checked_with_the_family_and_names_the_source(tmp_path):
    from textlstm.charlm.model import DEFAULTS as CHARLM

    path = write(tmp_path, "[model]\ndropout = 1.0\n")
    with pytest.raises(
        UserError,
        match=r"recipe .*r\.toml: model\.dropout must be a finite number >= 0 and < 1, "
        r"got 1\.0",
    ):
        resolve_recipe(CHARLM, path, kind="charlm")
    with pytest.raises(UserError, match=r"override 'train.clipnorm=-1': train.clipnorm must be .*> 0.*got -1"):
        resolve_recipe(CHARLM, None, ["train.clipnorm=-1"], kind="charlm")
    assert resolve_recipe(CHARLM, path)["model"]["dropout"] == 1.0  # without a family: types only


def test_shipped_recipes_are_package_data():
    """The shipped recipes are the top-level recipes/ folder, which pyproject installs as the package
    textlstm.recipe_files with every TOML file in it, and pyproject lists every package there is."""
    root = pathlib.Path(__file__).resolve().parents[2]
    assert SHIPPED_DIR == root / "recipes"
    with open(root / "pyproject.toml", "rb") as handle:
        setuptools = tomllib.load(handle)["tool"]["setuptools"]
    assert setuptools["package-dir"]["textlstm.recipe_files"] == "recipes"
    assert setuptools["package-data"]["textlstm.recipe_files"] == ["*.toml"]
    folders = {".".join(path.parent.relative_to(root).parts) for path in (root / "textlstm").rglob("__init__.py")}
    assert set(setuptools["packages"]) == folders | {"textlstm.recipe_files"}
    assert len(shipped_recipes()) >= 5
