"""Every setting is declared once (`textlstm.settings`): the families' DEFAULTS come from the
declarations, every key has help, one validator refuses a value in the same words wherever it
comes from, and a Python caller's errors name parameters (the CLI's name options)."""

import importlib

import pytest

from textlstm import schema, settings
from textlstm.errors import UserError

KINDS = ("charlm", "tagger", "seq2seq")

RECIPE_ORDER = {  # the order recipe_to_toml writes: recipe.toml files of old runs were written in it
    "charlm": {
        "data": "paths valid valid_fraction seq_len eval_window max_valid_chars direction unit vocab_size",
        "model": "cell layers units embedding_dim dropout input_dropout",
        "train": "batch_size epochs steps_per_epoch max_steps learning_rate lr_schedule min_learning_rate "
        "weight_decay clipnorm patience keep_checkpoints seed strategy precision",
        "decode": "length sampler temperature top_k top_p",
    },
    "tagger": {
        "data": "train dev format column token_column tag_column scheme invalid_tags lowercase min_freq max_len "
        "max_word_chars word_vectors max_vectors",
        "model": "word_dim char_features char_dim char_units char_kernel casing cell layers units dropout "
        "word_dropout decoder charlm charlm_trainable",
        "train": "batch_size epochs steps_per_epoch max_steps optimizer momentum learning_rate lr_decay clipnorm "
        "patience keep_checkpoints seed strategy",
        "decode": "batch_size",
    },
    "seq2seq": {
        "data": "src tgt tsv valid_src valid_tgt valid_tsv subword_model joint_vocab vocab_size max_length",
        "model": "cell layers units embedding_dim attention input_feeding dropout tie_embeddings",
        "train": "batch_size epochs steps_per_epoch max_steps learning_rate lr_schedule min_learning_rate "
        "warmup_steps clipnorm label_smoothing patience keep_checkpoints bleu_every bleu_sentences seed strategy",
        "decode": "beam_size length_penalty max_length max_source_length n_best batch_size",
    },
}


@pytest.mark.parametrize("kind", KINDS)
def test_each_familys_defaults_are_its_declarations_in_recipe_order(kind):
    defaults = importlib.import_module(f"textlstm.{kind}.model").DEFAULTS
    declared = settings.FAMILIES[kind]
    assert defaults == {section: {key: s.default for key, s in table.items()} for section, table in declared.items()}
    assert {section: " ".join(table) for section, table in defaults.items()} == RECIPE_ORDER[kind]
    assert schema.defaults(kind) == defaults and schema.defaults(kind) is not schema.defaults(kind)
    for name, setting in schema.DECLARATIONS[kind].items():  # each default passes its own declaration
        if setting.default is not None:
            assert setting.spec.check(name, setting.default) == setting.default
            assert type(setting.spec.check(name, setting.default)) is type(setting.default), name


def test_list_defaults_are_not_shared_between_recipes():
    first = schema.defaults("charlm")
    first["data"]["paths"].append("x.txt")
    assert schema.defaults("charlm")["data"]["paths"] == []


@pytest.mark.parametrize("kind", KINDS)
def test_the_shared_train_keys_are_declared_once(kind):
    train = settings.FAMILIES[kind]["train"]
    for key in settings.COMMON_TRAIN:
        assert train[key].spec is settings.SHARED_TRAIN[key].spec
        assert train[key].help == settings.SHARED_TRAIN[key].help
    for key in set(train) & set(settings.SHARED_TRAIN):
        assert train[key].spec is settings.SHARED_TRAIN[key].spec


def test_every_declared_key_has_one_line_of_help():
    tables = [schema.DECLARATIONS[kind] for kind in KINDS] + [settings.OPTIONS]
    tables.append({f"train.{key}": setting for key, setting in settings.SHARED_TRAIN.items()})
    for table in tables:
        for name, setting in table.items():
            assert setting.help.strip() and "\n" not in setting.help and len(setting.help) < 120, name
    assert schema.help_of("train.epochs") == settings.SHARED_TRAIN["epochs"].help
    assert schema.help_of("model.units", "tagger") == "units per direction"
    assert schema.help_of("decode.n_best") == schema.help_of("decode.n_best", "seq2seq")
    assert schema.help_of("tag.n_best").startswith("tag sequences")
    with pytest.raises(KeyError, match="several families"):
        schema.help_of("model.units")  # each family says what its units are


@pytest.mark.parametrize("kind", KINDS)
def test_the_reference_lists_every_key_with_default_type_range_and_help(kind):
    rows = schema.reference(kind)
    assert [row["key"] for row in rows] == list(schema.DECLARATIONS[kind])
    units = next(row for row in rows if row["key"] == "train.batch_size")
    assert units["type"] == "integer" and units["range"] == "an integer >= 1 and <= 1_000_000"
    assert units["default"] == schema.defaults(kind)["train"]["batch_size"] and units["help"]


TOP_K_RANGE = "must be an integer >= 1 and <= 1_000_000, got 2000000"


def test_one_validator_refuses_a_value_in_the_same_words_everywhere():
    from textlstm.api.checks import check_declared
    from textlstm.recipes import resolve_recipe
    from textlstm.serve.bodies import BadRequest, generate_args
    from textlstm.serve.limits import Limits

    with pytest.raises(UserError) as api:
        check_declared("top_k", 2_000_000, "decode.top_k", "charlm")
    with pytest.raises(BadRequest) as server:
        generate_args({"top_k": 2_000_000}, Limits())
    recipe = resolve_recipe(schema.defaults("charlm"))
    recipe["decode"]["top_k"] = 2_000_000
    with pytest.raises(UserError) as file:
        schema.check_recipe(recipe, "charlm")
    assert str(api.value) == str(server.value) == f"top_k {TOP_K_RANGE}"
    assert str(file.value) == f"decode.top_k {TOP_K_RANGE}"
    assert schema.check_option("--top-k", "charlm", "decode.top_k", 5) == 5


def test_the_samplers_use_the_same_declaration():
    pytest.importorskip("tensorflow")
    from textlstm.decoding.samplers import get_sampler

    with pytest.raises(UserError) as error:
        get_sampler("top_k", k=2_000_000)
    assert str(error.value) == f"sampler option 'k' {TOP_K_RANGE}"
    with pytest.raises(UserError, match="'temperature' must be a finite number >= 0.001 and <= 1000, got 0.0"):
        get_sampler("temperature", temperature=0)


def test_a_python_callers_errors_name_parameters_and_the_cli_names_options():
    pytest.importorskip("tensorflow")
    from textlstm.cli import one_line_error
    from textlstm.seq2seq.translate import check_options

    with pytest.raises(UserError) as error:
        check_options(beam_size=2, n_best=3)
    assert str(error.value) == "n_best (3) cannot exceed beam_size (2)"
    assert one_line_error(error.value) == "--n-best (3) cannot exceed --beam-size (2)"
    with pytest.raises(UserError) as error:
        check_options(max_length=0)
    assert str(error.value) == "max_length must be an integer >= 1 and <= 100_000, got 0"
    assert one_line_error(error.value) == "--max-length must be an integer >= 1 and <= 100_000, got 0"


def test_only_a_refusals_fields_become_options():
    """A ParameterError spells its parameter fields and nothing else: not the same words in its
    text, not a field's name inside text from the user's input."""
    from textlstm.cli.options import option_spelling
    from textlstm.errors import ParameterError

    assert schema.flag_of("decode.n_best") == "--n-best" and schema.flag_of("tag.n_best") == "--n-best"
    error = ParameterError(
        "{length} must be below max_length; {top_k} ({k}) and decode.length and top_k_top_p; got {given}",
        length=("length", None, "decode.length"),
        top_k=("top_k", None, "decode.top_k"),
        k=5,
        given=repr("{length}"),
    )
    assert str(error) == "length must be below max_length; top_k (5) and decode.length and top_k_top_p; got '{length}'"
    assert (
        error.spelled(option_spelling)
        == "--length must be below max_length; --top-k (5) and decode.length and top_k_top_p; got '{length}'"
    )
    assert option_spelling("max_steps", 5) == "--max-steps 5" and option_spelling("resume", True) == "--resume"
    with pytest.raises(KeyError):
        schema.flag_of("decode.nothing")
