"""`textlstm.train(kind, ...)`: every family trained from Python, with the command line's rules.

Tiny models and a few steps: a dict recipe with overrides, a shipped recipe by name, resume
with more epochs, the refusals (an existing run, a recipe change on resume, a locked run)
naming the parameters, and the object returned being what `textlstm.load` gives.
"""

import numpy as np
import pytest

import textlstm
from support.tagger_data import conllu_text
from textlstm.errors import ParameterError, UserError
from textlstm.rundir import claim_for_training

TINY = {"train.steps_per_epoch": 2, "train.epochs": 1, "train.batch_size": 4}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(4)
    words = "north wind sun cloud rain field barn lamp the a of and".split()
    (root / "corpus.txt").write_text("\n".join(" ".join(rng.choice(words, 9)) for _ in range(40)) + "\n")
    (root / "train.conllu").write_text(conllu_text(1, 12), encoding="utf-8")
    (root / "dev.conllu").write_text(conllu_text(2, 4), encoding="utf-8")
    greek = "alpha beta gamma delta eps zeta eta theta".split()
    pairs = [" ".join(rng.choice(greek, rng.integers(1, 5))) for _ in range(60)]
    (root / "train.tsv").write_text("".join(f"{s}\t{s.upper()}\n" for s in pairs))
    (root / "dev.tsv").write_text("".join(f"{s}\t{s.upper()}\n" for s in pairs[:5]))
    return root


def charlm_overrides(root):
    return {**TINY, "data.paths": [str(root / "corpus.txt")], "data.seq_len": 12, "model.units": 8}


def test_each_family_trains_from_python(data, tmp_path):
    recipe = {"model": {"units": 8, "layers": 1, "embedding_dim": 4}}
    lm = textlstm.train("charlm", tmp_path / "lm", recipe=recipe, overrides=charlm_overrides(data), seed=3)
    assert type(lm).__name__ == "CharLM" and type(lm) is type(textlstm.load(tmp_path / "lm"))
    assert lm.generate("a", length=5, seed=1)
    tagger = textlstm.train(
        "tagger",
        tmp_path / "tagger",
        recipe={"model": {"units": 6, "word_dim": 6, "char_dim": 4, "char_units": 4}},
        overrides={**TINY, "data.train": str(data / "train.conllu"), "data.dev": str(data / "dev.conllu")},
    )
    assert type(tagger).__name__ == "Tagger" and len(tagger.tag(["the a of"])[0]) == 3
    translator = textlstm.train(
        "seq2seq",
        tmp_path / "mt",
        overrides={
            **TINY,
            "data.tsv": str(data / "train.tsv"),
            "data.valid_tsv": str(data / "dev.tsv"),
            "data.vocab_size": 30,
            "model.units": 8,
            "model.embedding_dim": 6,
            "decode.max_length": 6,
        },
    )
    assert type(translator).__name__ == "Translator"


def test_a_shipped_recipe_by_name_with_overrides(data, tmp_path):
    overrides = {**charlm_overrides(data), "model.layers": 1, "model.embedding_dim": 4}
    textlstm.train("charlm", tmp_path / "run", recipe="charlm-default", overrides=overrides)
    assert "units = 8" in (tmp_path / "run" / "recipe.toml").read_text()


def test_resume_extends_and_refuses_what_would_change_the_recipe(data, tmp_path, capsys):
    run_dir = tmp_path / "run"
    overrides = {**charlm_overrides(data), "model.layers": 1}
    textlstm.train("charlm", run_dir, overrides=overrides)
    with pytest.raises(ParameterError, match=r"already holds a charlm run; continue it with resume=True, or repl"):
        textlstm.train("charlm", run_dir, overrides=overrides)
    with pytest.raises(ParameterError, match=r"which overrides\['model.units'\] would change"):
        textlstm.train("charlm", run_dir, resume=True, overrides={"model.units": 16})
    with pytest.raises(ParameterError, match=r"which seed would change"):
        textlstm.train("charlm", run_dir, resume=True, seed=4)
    with pytest.raises(ParameterError, match=r"^resume=True needs run_dir"):
        textlstm.train("charlm", resume=True)
    capsys.readouterr()
    lm = textlstm.train("charlm", run_dir, resume=True, epochs=2)
    assert "continuing after epoch 1: training to epoch 2" in capsys.readouterr().out
    assert type(lm).__name__ == "CharLM"
    with pytest.raises(ParameterError, match=r"^epochs=1 is fewer than the 2 epochs"):
        textlstm.train("charlm", run_dir, resume=True, epochs=1)
    textlstm.train("charlm", run_dir, overwrite=True, overrides=overrides)  # replaced: one epoch again
    assert '"epoch": 1' in (run_dir / "state.json").read_text()


def test_a_locked_run_is_refused(data, tmp_path):
    run_dir = tmp_path / "run"
    claim = claim_for_training(run_dir, "charlm")
    try:
        with pytest.raises(UserError, match="is in use: process"):
            textlstm.train("charlm", run_dir, overrides=charlm_overrides(data))
    finally:
        claim.release()


def test_the_command_line_shows_parameters_as_flags(data, tmp_path):
    from support.cli import assert_one_error_line, invoke

    line = assert_one_error_line(invoke("train", "charlm", "--resume"))
    assert line == "Error: --resume needs --run-dir: the run directory to continue"
    with pytest.raises(UserError, match="unknown model family 'lstm'"):
        textlstm.train("lstm")


@pytest.mark.parametrize(
    "overrides, recipe",
    [({"model.units": {1, 2}}, None), (None, {"model": {"units": object()}}), ({"train.epochs": 2**80 * 1j}, None)],
    ids=["set", "object-in-recipe", "complex"],
)
def test_a_value_no_recipe_can_hold_is_one_error_naming_its_key(tmp_path, overrides, recipe):
    with pytest.raises(UserError, match=r"^(model\.units|train\.epochs): .* is not a recipe value") as caught:
        textlstm.train("charlm", tmp_path / "run", overrides=overrides, recipe=recipe)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "run").exists()  # refused before the run directory was touched


@pytest.mark.parametrize(
    "kind, overrides, python_words, cli_args, cli_words",
    [
        ("tagger", {}, "a training file and a dev file: data.train and data.dev", [], "--train and --dev"),
        (
            "seq2seq",
            {"data.src": "x.en"},
            "a source file (data.src) and a target file (data.tgt), or a tab-separated file (data.tsv)",
            ["--src", "SRC"],
            "a source file (--src) and a target file (--tgt), or a tab-separated file (--tsv)",
        ),
    ],
)
def test_missing_data_is_named_as_each_caller_names_it(
    data, tmp_path, kind, overrides, python_words, cli_args, cli_words
):
    """From Python the refusal names the recipe keys, on the command line the options (and the
    recipe is not printed before it)."""
    from support.cli import invoke

    with pytest.raises(ParameterError) as error:
        textlstm.train(kind, tmp_path / "py", overrides=overrides)
    assert python_words in str(error.value) and "--" not in str(error.value)
    args = [str(data / "train.tsv") if arg == "SRC" else arg for arg in cli_args]
    result = invoke("train", kind, "--run-dir", tmp_path / "cli", *args)
    assert result.exit_code == 1 and cli_words in result.output, result.output
    assert "recipe:" not in result.output  # refused before the recipe is printed: the one line alone


def test_keyword_arguments_are_checked_under_their_own_names(tmp_path):
    """`epochs`, `max_steps`, `seed` and `run_dir` are refused as the parameters they are, not as
    the recipe overrides they become; nothing is written."""
    for arguments, words in (
        ({"max_steps": -1}, "max_steps must be an integer >= 0"),
        ({"epochs": "2"}, "epochs must be an integer, got '2'"),
        ({"epochs": True}, "epochs must be an integer, got True"),
        ({"seed": 1.5}, "seed must be an integer"),
    ):
        with pytest.raises(ParameterError, match="^" + words):
            textlstm.train("charlm", tmp_path / "run", **arguments)
    with pytest.raises(UserError, match="^run_dir must be a path"):
        textlstm.train("charlm", 42)
    assert not (tmp_path / "run").exists()
