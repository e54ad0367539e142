"""Battery: values nobody checked, recipes from any directory, the recipe's [decode], samplers.

Every bad value of every family's recipe keys (through `--set` and recipe files) and of the
numeric options of every command is refused with exit status 1, exactly one `Error:` line that
names the key or option, the value and the allowed range, no traceback, and no change to the
files of an existing valid run directory. One tiny char LM is trained once for the module, from
a directory that is not the repository, with a shipped recipe (`-r charlm-default`); each test
works on its own copy.
"""

import hashlib
import math
import os
import re
import shutil

import pytest

from support.cli import assert_one_error_line, invoke, prose
from textlstm.errors import UserError

WORDS = "the a river stone light quiet garden of and in under runs finds green old small bright door road".split()
TINY = [
    "--set",
    "model.units=16",
    "--set",
    "model.layers=1",
    "--set",
    "model.embedding_dim=8",
    "--set",
    "data.seq_len=16",
    "--set",
    "train.batch_size=4",
    "--set",
    "train.steps_per_epoch=3",
    "--epochs",
    "1",
]
UNKNOWN_CHAR = "\ufffd"


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """`(run_dir, train_file, output)`: a tiny run trained from outside the repository with `-r charlm-default`."""
    root = tmp_path_factory.mktemp("battery")
    train_file, valid_file = root / "train.txt", root / "valid.txt"
    train_file.write_text(prose(WORDS, 1, 2000), encoding="utf-8")
    valid_file.write_text(prose(WORDS, 2, 500), encoding="utf-8")
    run_dir = root / "run"
    cwd = os.getcwd()
    os.chdir(root)  # no ./recipes here: the shipped recipe must come with the package
    try:
        result = invoke(
            "train",
            "charlm",
            "-r",
            "charlm-default",
            "--data",
            train_file,
            "--valid",
            valid_file,
            "--run-dir",
            run_dir,
            *TINY,
        )
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    return run_dir, train_file, result.output


@pytest.fixture
def run(made, tmp_path):
    """A private copy of the valid run directory."""
    copy = tmp_path / "valid-run"
    shutil.copytree(made[0], copy)
    return copy


def snapshot(directory):
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def refused(run_dir, args, *fragments, input=None):
    """Run `textlstm ARGS` ({run} stands for the valid run's copy): one error line, the run unchanged."""
    before = snapshot(run_dir)
    result = invoke(*[str(run_dir) if arg == "{run}" else arg for arg in args], input=input)
    line = assert_one_error_line(result, *fragments)
    assert snapshot(run_dir) == before
    return line


# --- every family's keys through --set --------------------------------------------------------

SET_CASES = [  # (family, key=value, fragments of the error line: key, value, range)
    ("charlm", "model.dropout=1.5", ["model.dropout", ">= 0 and < 1", "got 1.5"]),
    ("charlm", "model.dropout=-0.1", ["model.dropout", "got -0.1"]),
    ("charlm", "train.learning_rate=nan", ["train.learning_rate", "finite number > 0", "got nan"]),
    ("charlm", "train.learning_rate=-1", ["train.learning_rate", "> 0", "got -1"]),
    ("charlm", "train.learning_rate=inf", ["train.learning_rate", "got inf"]),
    ("charlm", "train.batch_size=1000000000000", ["train.batch_size", "<= 1_000_000", "got 1000000000000"]),
    ("charlm", "model.embedding_dim=-4", ["model.embedding_dim", ">= 1", "got -4"]),
    ("charlm", "model.units=1000000", ["model.units", "<= 65536", "got 1000000"]),
    ("charlm", "model.layers=0", ["model.layers", ">= 1", "got 0"]),
    ("charlm", "train.patience=-1", ["train.patience", ">= 0", "got -1"]),
    ("charlm", "train.clipnorm=-1", ["train.clipnorm", "> 0", "got -1"]),
    ("charlm", "train.clipnorm=0", ["train.clipnorm", "> 0", "got 0"]),
    ("charlm", "train.max_steps=-5", ["train.max_steps", ">= 0", "got -5"]),
    ("charlm", "train.epochs=0", ["train.epochs", ">= 1", "got 0"]),
    ("charlm", "data.seq_len=0", ["data.seq_len", ">= 1", "got 0"]),
    ("charlm", "data.valid_fraction=1.0", ["data.valid_fraction", "< 1", "got 1.0"]),
    ("charlm", "model.cell=rnn", ["model.cell", "one of lstm, gru", "got 'rnn'"]),
    ("charlm", "train.seed=-1", ["train.seed", ">= 0", "got -1"]),
    ("charlm", "train.strategy=everywhere", ["train.strategy", "one of auto", "'everywhere'"]),
    ("charlm", "decode.temperature=0", ["decode.temperature", "got 0"]),
    ("charlm", "decode.top_p=1.5", ["decode.top_p", "<= 1", "got 1.5"]),
    ("charlm", "decode.sampler=beam", ["decode.sampler", "one of greedy", "'beam'"]),
    ("tagger", "model.word_dropout=1.0", ["model.word_dropout", "< 1", "got 1.0"]),
    ("tagger", "train.lr_decay=0", ["train.lr_decay", "> 0", "got 0"]),
    ("tagger", "data.max_word_chars=0", ["data.max_word_chars", ">= 1", "got 0"]),
    ("tagger", "model.char_kernel=0", ["model.char_kernel", ">= 1", "got 0"]),
    ("tagger", "data.column=feats:", ["data.column", "upos, xpos or feats:KEY", "'feats:'"]),
    ("tagger", "decode.batch_size=0", ["decode.batch_size", ">= 1", "got 0"]),
    ("seq2seq", "model.units=7", ["model.units", "even integer", "got 7"]),
    ("seq2seq", "train.label_smoothing=1.0", ["train.label_smoothing", "< 1", "got 1.0"]),
    ("seq2seq", "decode.length_penalty=nan", ["decode.length_penalty", "finite", "got nan"]),
    ("seq2seq", "decode.n_best=9", ["decode.n_best (9) cannot exceed decode.beam_size (5)"]),
    ("seq2seq", "data.vocab_size=2", ["data.vocab_size", ">= 8", "got 2"]),
    ("seq2seq", "train.bleu_every=0", ["train.bleu_every", ">= 1", "got 0"]),
    ("seq2seq", "model.attention=cosine", ["model.attention", "one of dot, general, bahdanau"]),
]


@pytest.mark.parametrize("family, setting, fragments", SET_CASES, ids=[case[1] for case in SET_CASES])
def test_bad_value_through_set(run, tmp_path, family, setting, fragments):
    target = tmp_path / "new-run"
    source = [] if "cannot exceed" in fragments[0] else [f"override '{setting}'"]  # a rule joining two keys
    refused(run, ["train", family, "--set", setting, "--run-dir", target], *source, *fragments)
    assert not target.exists()


# --- numeric options of every command ---------------------------------------------------------

OPTION_CASES = [  # (arguments, fragments)
    (["train", "charlm", "--max-steps", "-5"], ["--max-steps (train.max_steps)", ">= 0", "got -5"]),
    (["train", "charlm", "--epochs", "0"], ["--epochs (train.epochs)", ">= 1", "got 0"]),
    (["train", "tagger", "--seed", "-3"], ["--seed (train.seed)", ">= 0", "got -3"]),
    (["train", "tagger", "--tag-column", "5000"], ["--tag-column (data.tag_column)", "<= 1000", "got 5000"]),
    (["train", "tagger", "--column", "feats:"], ["--column (data.column)", "feats:KEY", "'feats:'"]),
    (["train", "seq2seq", "--max-steps", "-1"], ["--max-steps (train.max_steps)", "got -1"]),
    (["generate", "{run}", "--temperature", "nan"], ["--temperature (decode.temperature)", "finite", "got nan"]),
    (["generate", "{run}", "--temperature", "0"], ["--temperature (decode.temperature)", ">= 0.001", "got 0.0"]),
    (["generate", "{run}", "--top-k", "0"], ["--top-k (decode.top_k)", ">= 1", "got 0"]),
    (["generate", "{run}", "--top-p", "0"], ["--top-p (decode.top_p)", "> 0 and <= 1", "got 0.0"]),
    (["generate", "{run}", "--length", "0"], ["--length (decode.length)", ">= 1", "got 0"]),
    (["generate", "{run}", "--num-samples", "0"], ["--num-samples", ">= 1", "got 0"]),
    (["generate", "{run}", "--seed", "-1"], ["--seed", ">= 0", "got -1"]),
    (["translate", "{run}", "--length-penalty", "nan"], ["--length-penalty (decode.length_penalty)", "got nan"]),
    (["translate", "{run}", "--length-penalty", "-1"], ["--length-penalty (decode.length_penalty)", ">= 0"]),
    (["translate", "{run}", "--beam-size", "0"], ["--beam-size (decode.beam_size)", ">= 1", "got 0"]),
    (["tag", "{run}", "--batch-size", "0"], ["--batch-size (decode.batch_size)", ">= 1", "got 0"]),
    (["evaluate", "{run}", "--beam-size", "-1"], ["--beam-size (decode.beam_size)", "got -1"]),
    (["inspect", "{run}", "--prompt", "the", "--top-k", "0"], ["--top-k", ">= 1", "got 0"]),
    (["inspect", "{run}", "--prompt", "the", "--span-windows", "-2"], ["--span-windows", "got -2"]),
]


@pytest.mark.parametrize(
    "args, fragments", OPTION_CASES, ids=[" ".join(case[0][:1] + case[0][-2:]) for case in OPTION_CASES]
)
def test_bad_option_value(run, tmp_path, args, fragments):
    if args[0] == "train":
        args = args + ["--run-dir", str(tmp_path / "new-run")]
    refused(run, args, *fragments, input="alpha\n")
    assert not (tmp_path / "new-run").exists()


# --- sampler options that contradict each other -----------------------------------------------

CONFLICTS = [
    (["--greedy", "--temperature", "3"], ["greedy sampler uses no --temperature:"]),
    (["--greedy", "--top-k", "5"], ["greedy sampler uses no --top-k:"]),
    (["--greedy", "--top-p", "0.5", "--top-k", "3"], ["greedy sampler uses no --top-k and --top-p:"]),
    (["--sampler", "top_k", "--top-p", "0.5"], ["top_k sampler uses no --top-p:"]),
    (["--sampler", "temperature", "--top-k", "2"], ["temperature sampler uses no --top-k:"]),
    (["--greedy", "--sampler", "top_p"], ["--greedy and --sampler top_p contradict each other"]),
]


@pytest.mark.parametrize("args, fragments", CONFLICTS, ids=[" ".join(case[0]) for case in CONFLICTS])
def test_conflicting_sampler_options_are_refused(run, args, fragments):
    result_line = refused(run, ["generate", "{run}", "--length", "5", "--seed", "1", *args], *fragments)
    assert "give one" in result_line


# --- recipes: files, names, families ----------------------------------------------------------


def test_bad_value_in_a_recipe_file_names_the_file(run, tmp_path):
    recipe = tmp_path / "mine.toml"
    recipe.write_text("[model]\ndropout = 1.5\n", encoding="utf-8")
    refused(
        run,
        ["train", "charlm", "-r", recipe, "--run-dir", tmp_path / "new"],
        "mine.toml",
        "model.dropout must be a finite number >= 0 and < 1, got 1.5",
    )


def test_recipe_of_another_family(run, tmp_path):
    refused(
        run,
        ["train", "charlm", "-r", "tagger-ner", "--run-dir", tmp_path / "new"],
        "'tagger-ner' is a tagger recipe",
        "textlstm train tagger",
    )


def test_unknown_recipe_name_lists_the_shipped_ones(run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refused(
        run,
        ["train", "seq2seq", "-r", "seq2seq-multi31k", "--run-dir", tmp_path / "new"],
        "no recipe 'seq2seq-multi31k'",
        "seq2seq-multi30k",
    )


def test_recipes_show_unknown(run):
    refused(run, ["recipes", "show", "tagger-nre"], "no recipe 'tagger-nre'", "did you mean 'tagger-ner'?")


def test_a_damaged_recipe_in_the_run_is_refused_by_generate(run):
    recipe = run / "recipe.toml"
    text = recipe.read_text(encoding="utf-8")
    assert "temperature = 0.8" in text  # the resolved [decode] was saved with the run
    recipe.write_text(text.replace("temperature = 0.8", "temperature = nan"), encoding="utf-8")
    refused(run, ["generate", "{run}", "--length", "5", "--seed", "1"], "temperature", "got nan")


def test_memory_estimate_refuses_a_model_no_machine_holds(made, run, tmp_path):
    target = tmp_path / "new-run"
    line = refused(
        run,
        [
            "train",
            "charlm",
            "--data",
            made[1],
            "--run-dir",
            target,
            *TINY,
            "--set",
            "model.units=60000",
            "--set",
            "model.layers=4",
        ],
        "GiB of memory",
        "model.units=60000",
        "this machine has",
    )
    needed = float(re.search(r"needs about ([0-9,.]+) GiB", line).group(1).replace(",", ""))
    assert needed > 1000
    assert not target.exists()


# --- the Python functions behind the commands check the same declarations ---------------------


def test_python_api_checks_the_schema(made, run):
    from textlstm.charlm.generate import generate
    from textlstm.charlm.model import DEFAULTS
    from textlstm.charlm.train import train_charlm
    from textlstm.recipes import resolve_recipe
    from textlstm.seq2seq.translate import check_options

    recipe = resolve_recipe(DEFAULTS)
    recipe["train"]["learning_rate"] = math.nan
    with pytest.raises(UserError, match=r"train\.learning_rate must be a finite number > 0.*got nan"):
        train_charlm(recipe, run.parent / "api-run")
    assert not (run.parent / "api-run").exists()
    with pytest.raises(UserError, match="temperature.*got inf"):
        generate(run, length=3, temperature=math.inf, seed=1)
    with pytest.raises(UserError, match="greedy sampler uses no temperature"):
        generate(run, length=3, sampler="greedy", temperature=2.0, seed=1)
    with pytest.raises(UserError, match=r"^length_penalty must be a finite number.*got nan"):
        check_options(length_penalty=math.nan)


# --- shipped recipes from any directory ---------------------------------------------------------


def test_training_from_another_directory_used_the_shipped_recipe(made):
    output = made[2]
    assert 'cell = "lstm"' in output and "clipnorm = 5.0" in output  # charlm-default, resolved
    assert "sample:" in output


def test_recipes_lists_and_shows_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    listing = invoke("recipes")
    assert listing.exit_code == 0, listing.output
    rows = [line.split() for line in listing.stdout.splitlines()]
    assert [row[:2] for row in rows] == [
        ["charlm-default", "charlm"],
        ["charlm-features", "charlm"],
        ["charlm-shakespeare", "charlm"],
        ["charlm-subword", "charlm"],
        ["seq2seq-multi30k", "seq2seq"],
        ["tagger-ner-charlm", "tagger"],
        ["tagger-ner-vectors", "tagger"],
        ["tagger-ner", "tagger"],
        ["tagger-upos-charlm", "tagger"],
        ["tagger-upos-vectors", "tagger"],
        ["tagger-upos", "tagger"],
    ]
    assert all(len(row) > 4 for row in rows)  # a description on each line
    shown = invoke("recipes", "show", "charlm-shakespeare")
    assert shown.exit_code == 0 and "units = 512" in shown.stdout and "[decode]" in shown.stdout


# --- the recipe's [decode] is what generate runs ------------------------------------------------


def _generate(run_dir, *args):
    result = invoke("generate", run_dir, *args)
    assert result.exit_code == 0, result.output
    return result


def _set_decode(run_dir, **values):
    import tomli_w

    try:
        import tomllib
    except ModuleNotFoundError:
        import tomli as tomllib
    recipe = tomllib.loads((run_dir / "recipe.toml").read_text(encoding="utf-8"))
    recipe.setdefault("decode", {}).update(values)
    (run_dir / "recipe.toml").write_text(tomli_w.dumps(recipe), encoding="utf-8")


def test_generate_takes_its_defaults_from_the_recipe(run):
    greedy = _generate(run, "--greedy", "--length", "30", "--seed", "1").stdout
    _set_decode(run, sampler="greedy", length=30)
    assert _generate(run, "--seed", "7").stdout == greedy  # the recipe's sampler and length
    assert len(greedy) == 1 + 30 + 1
    longer = _generate(run, "--seed", "7", "--length", "12").stdout  # the command line overrides
    assert longer == greedy[: 1 + 12] + "\n"


def test_temperature_given_to_a_greedy_recipe_samples(run):
    _set_decode(run, sampler="greedy", length=40)
    greedy = _generate(run, "--greedy", "--seed", "1").stdout
    assert _generate(run, "--seed", "1", "--temperature", "5").stdout != greedy


def test_generate_without_seed_prints_a_fresh_one_that_reproduces_the_text(run):
    first, second = (_generate(run, "--length", "40") for _ in range(2))
    seeds = [re.fullmatch(r"seed: (\d+)", r.stderr.strip()) for r in (first, second)]
    assert all(seeds), (first.stderr, second.stderr)
    assert seeds[0].group(1) != seeds[1].group(1)
    again = _generate(run, "--length", "40", "--seed", seeds[0].group(1))
    assert again.stdout == first.stdout and again.stderr == ""


def test_top_k_then_top_p_is_one_documented_sampler(run):
    combined = _generate(run, "--length", "20", "--seed", "3", "--top-k", "3", "--top-p", "0.9")
    explicit = _generate(
        run, "--length", "20", "--seed", "3", "--sampler", "top_k_top_p", "--top-k", "3", "--top-p", "0.9"
    )
    assert combined.stdout == explicit.stdout and combined.stderr == ""


# --- the unknown entry is never sampled ---------------------------------------------------------


def test_unknown_character_is_never_generated_even_when_the_model_prefers_it(run):
    import keras
    import numpy as np

    from textlstm.charlm.corpus import CharVocabulary

    vocab = CharVocabulary.load(run / "vocab.json")
    for name in ("best.keras", "last.keras"):
        if not (run / name).exists():
            continue
        model = keras.saving.load_model(run / name, compile=False)
        kernel, bias = model.get_layer("logits").get_weights()
        bias = np.asarray(bias).copy()
        bias[vocab.unknown_id] = 30.0  # far above every other character
        model.get_layer("logits").set_weights([kernel, bias])
        logits = np.asarray(model(np.array([[1, 2, 3]], dtype=np.int32)))
        assert (logits.argmax(-1) == vocab.unknown_id).all()  # without the ban every sampler would pick it
        model.save(run / name)
    for args in (["--greedy"], ["--temperature", "2"], ["--top-k", "5", "--top-p", "0.99"]):
        text = _generate(run, "--length", "60", "--seed", "4", *args).stdout
        assert UNKNOWN_CHAR not in text, args
        assert len(text) == 1 + 60 + 1
