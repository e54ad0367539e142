"""The char LM end to end through the CLI: train, generate, evaluate, and every bad input.

One tiny model is trained once for the whole module (two epochs of 25 steps on ~3 KB of
text written here, long enough to learn it) and reused by the generate, evaluate and error
tests; a test that changes a run works on a copy.
"""

import csv
import hashlib
import json
import math
import os
import re
import shutil
import zipfile

import pytest

from support.cli import assert_one_error_line as _assert_one_error_line
from support.cli import invoke as _invoke
from support.cli import prose, size_keys
from textlstm.charlm.corpus import UNKNOWN, CharVocabulary, default_corpus, unigram_entropy_bits
from textlstm.errors import UserError
from textlstm.schema import spec_of

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
    "train.steps_per_epoch=5",
    "--epochs",
    "2",
]
WORDS = (
    "the a river stone light morning quiet garden of and in under over runs sleeps "
    "finds green old small bright, slowly. again; window door road hill"
).split()
# The module's run: a learning rate high enough to learn the text in 50 steps of 8 x 16 characters.
LEARNING = [
    "--set",
    "train.learning_rate=0.03",
    "--set",
    "train.steps_per_epoch=25",
    "--set",
    "train.batch_size=8",
    "--set",
    "model.dropout=0.0",
]
NOT_IN_VOCAB = "\u2603"  # a snowman: the generated text is plain ASCII


def _snapshot(directory):
    return {
        path: hashlib.sha256((directory / path).read_bytes()).hexdigest()
        for path in sorted(os.listdir(directory))
        if (directory / path).is_file()
    }


def _assert_nothing_half_written(run_dir):
    """A failed start leaves no temp files, models, vocabulary, recipe or state behind."""
    if run_dir.exists():
        left = sorted(os.listdir(run_dir))
        assert set(left) <= {"run.json"}, left
        if left:
            assert json.loads((run_dir / "run.json").read_text())["kind"] == "charlm"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """`(run_dir, train_file, valid_file, result)` of one tiny training run through the CLI."""
    root = tmp_path_factory.mktemp("charlm")
    train_file, valid_file = root / "train.txt", root / "valid.txt"
    train_file.write_text(prose(WORDS, 1, 3000), encoding="utf-8")
    valid_file.write_text(prose(WORDS, 2, 700), encoding="utf-8")
    run_dir = root / "run"
    result = _invoke(
        "train",
        "charlm",
        "--data",
        train_file,
        "--set",
        f"data.valid={valid_file}",
        "--run-dir",
        run_dir,
        *TINY,
        *LEARNING,
    )
    assert result.exit_code == 0, result.output
    return run_dir, train_file, valid_file, result


def _generate(run_dir, *args):
    result = _invoke("generate", run_dir, "--length", 40, *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def _evaluate_numbers(run_dir, data):
    result = _invoke("evaluate", run_dir, "--data", data)
    assert result.exit_code == 0, result.output
    numbers = {}
    for name in ("loss", "bits/char", "perplexity"):
        match = re.search(rf"{re.escape(name)}: ([0-9.]+)", result.stdout)
        assert match, result.stdout
        numbers[name] = float(match.group(1))
    return numbers


# --- train ---------------------------------------------------------------------------------


def test_train_writes_a_complete_run_directory(trained):
    run_dir, _, _, result = trained
    for name in ("run.json", "recipe.toml", "vocab.json", "best.keras", "last.keras", "state.json", "metrics.csv"):
        assert (run_dir / name).is_file(), name
    assert json.loads((run_dir / "run.json").read_text())["kind"] == "charlm"
    with open(run_dir / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2
    assert "val_bpc" in rows[0]
    state = json.loads((run_dir / "state.json").read_text())
    assert state["epoch"] == 2 and state["step"] == 50 and state["finished"]
    assert not [name for name in os.listdir(run_dir) if name.startswith(".")]  # no temp files left
    assert "bits/char" in result.output
    assert "sample:" in result.output


def test_the_char_lm_learns(trained):
    """The training loss falls, and on its own training text the model beats the best
    model that ignores context (the unigram distribution) by a clear margin."""
    run_dir, train_file, _, _ = trained
    with open(run_dir / "metrics.csv", newline="") as handle:
        losses = [float(row["loss"]) for row in csv.DictReader(handle)]
    assert losses[-1] < 0.85 * losses[0], losses
    text = train_file.read_text(encoding="utf-8")
    vocab = CharVocabulary.from_text(text)
    unigram = unigram_entropy_bits(vocab.encode(text), len(vocab))
    assert _evaluate_numbers(run_dir, train_file)["bits/char"] < unigram - 0.5, unigram


def test_help_pages():
    for args in (["train", "charlm", "--help"], ["generate", "--help"]):
        result = _invoke(*args)
        assert result.exit_code == 0, result.output
        assert "Usage:" in result.output
    assert "--resume" in _invoke("train", "charlm", "--help").output
    assert "--top-p" in _invoke("generate", "--help").output


# --- generate ------------------------------------------------------------------------------


def test_generate_is_reproducible_by_seed(trained):
    run_dir = trained[0]
    first = _generate(run_dir, "--seed", 3)
    assert first == _generate(run_dir, "--seed", 3)
    assert first != _generate(run_dir, "--seed", 4)
    assert len(first) == 1 + 40 + 1  # the prompt (a newline), the text, a final newline


def test_generate_several_samples(trained):
    output = _generate(trained[0], "--num-samples", 3, "--prompt", "The ")
    assert output.count("--- sample ") == 3
    assert "--- sample 3 ---\nThe " in output


def test_greedy_is_deterministic_and_equals_top_k_1(trained):
    run_dir = trained[0]
    greedy = _generate(run_dir, "--greedy", "--seed", 1)
    assert greedy == _generate(run_dir, "--greedy", "--seed", 2)
    assert greedy == _generate(run_dir, "--top-k", 1, "--seed", 5)
    unseeded = _invoke("generate", run_dir, "--length", 40, "--greedy")  # greedy ignores the seed: none printed
    assert unseeded.exit_code == 0 and unseeded.stdout == greedy and unseeded.stderr == "", unseeded.output


def test_a_fresh_seed_is_reported_only_when_the_sampler_draws():
    from textlstm.charlm.generate import decoding_options
    from textlstm.charlm.model import DEFAULTS

    decode = {**DEFAULTS["decode"], "sampler": "temperature"}
    assert decoding_options(decode, sampler="greedy")[4] is False
    assert decoding_options(decode)[4] is True
    assert decoding_options(decode, seed=3)[4] is False


def test_prompt_with_unknown_character_warns_once(trained):
    result = _invoke("generate", trained[0], "--length", 20, "--seed", 1, "--prompt", f"The {NOT_IN_VOCAB} ")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1, result.stderr
    assert warnings[0].startswith("warning:") and NOT_IN_VOCAB in warnings[0]
    assert result.stdout.startswith(f"The {NOT_IN_VOCAB} ")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--length", "0"], "--length"),
        (["--length", "-3"], "--length"),
        (["--temperature", "0"], "--temperature"),
        (["--top-p", "0"], "--top-p"),
        (["--top-p", "1.5"], "--top-p"),
    ],
)
def test_generate_rejects_bad_options(trained, args, fragment):
    _assert_one_error_line(_invoke("generate", trained[0], *args), fragment)


def test_generate_on_missing_directory(tmp_path):
    _assert_one_error_line(_invoke("generate", tmp_path / "nowhere"), "does not exist")


def test_failed_generate_prints_nothing_on_stdout(tmp_path):
    result = _invoke("generate", tmp_path / "nowhere", "--prompt", "Hello")
    _assert_one_error_line(result, "does not exist")
    assert result.stdout == ""


def test_generate_on_a_run_of_another_kind(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"kind": "tagger", "textlstm_version": "0.1.0"}))
    _assert_one_error_line(_invoke("generate", tmp_path), "'tagger'", "charlm")


def test_corrupt_model_files_are_reported(trained, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(trained[0], broken)
    for name in ("best.keras", "last.keras"):
        (broken / name).write_bytes((broken / name).read_bytes()[:200])
    line = _assert_one_error_line(_invoke("generate", broken))
    assert "is damaged" in line and "best.keras" in line and "not found" not in line
    _assert_one_error_line(_invoke("evaluate", broken, "--data", trained[2]), "best.keras is damaged")


# --- a copied run directory ------------------------------------------------------------------


def test_copied_run_directory_is_self_contained(trained, tmp_path):
    _, _, valid_file, _ = trained
    run_dir = tmp_path / "original" / "run"  # renamed below: a copy of the module's run
    shutil.copytree(trained[0], run_dir)
    copy = tmp_path / "elsewhere" / "run-copy"
    shutil.copytree(run_dir, copy)
    expected_text = _generate(run_dir, "--seed", 11)
    expected_numbers = _evaluate_numbers(run_dir, valid_file)
    aside = run_dir.with_name("run-aside")
    os.rename(run_dir, aside)  # nothing may reach back into the original
    try:
        assert _generate(copy, "--seed", 11) == expected_text
        assert _evaluate_numbers(copy, valid_file) == expected_numbers
    finally:
        os.rename(aside, run_dir)
    for name in os.listdir(copy):  # nor into the module's run, which the first copy came from
        path = copy / name
        if path.is_file():
            contents = [path.read_bytes()]
            if zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as archive:
                    contents += [archive.read(member) for member in archive.namelist()]
            assert not any(str(trained[0]).encode() in content for content in contents), name


# --- evaluate ------------------------------------------------------------------------------


def test_evaluate_reports_consistent_numbers(trained):
    run_dir, train_file, _, _ = trained
    numbers = _evaluate_numbers(run_dir, train_file)
    assert numbers["bits/char"] == pytest.approx(numbers["loss"] / math.log(2), abs=2e-4)
    assert numbers["perplexity"] == pytest.approx(math.exp(numbers["loss"]), rel=1e-3)


def test_evaluate_on_validation_text_reproduces_best_val_loss(trained, tmp_path):
    """Training's validation scores whole windows of 16; on the validation text cut to
    1 + a multiple of 16 characters (no shorter last window) evaluate gives the same loss."""
    run_dir, _, valid_file, _ = trained
    with open(run_dir / "metrics.csv", newline="") as handle:
        best = min(float(row["val_loss"]) for row in csv.DictReader(handle))
    text = valid_file.read_text(encoding="utf-8")
    whole = tmp_path / "whole-windows.txt"
    whole.write_text(text[: (len(text) - 1) // 16 * 16 + 1], encoding="utf-8")
    assert _evaluate_numbers(run_dir, whole)["loss"] == pytest.approx(best, abs=1e-3)


def _reference_bits_per_char(model, vocab, text, seq_len):
    """Window by window: windows of `seq_len` inputs from a zero state, the last one shorter;
    the first character is context only. Summed nats over len(text) - 1 characters, in bits."""
    import numpy as np
    import tensorflow as tf

    ids = np.asarray(vocab.encode(text), dtype=np.int32)
    total = 0.0
    for start in range(0, len(ids) - 1, seq_len):
        window = ids[start : start + seq_len + 1][None, :]
        logits = tf.cast(model(window[:, :-1], training=False), tf.float64)
        total += float(tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(window[:, 1:], logits)))
    return total / (len(ids) - 1) / math.log(2)


def test_evaluate_and_score_count_the_last_partial_window(trained, tmp_path):
    """A text of 16 * 5 + 12 characters: all 91 after the first are scored, in evaluate (a file)
    and in `CharLM.score`, and the bits/char is the window-by-window reference's."""
    import textlstm

    run_dir = trained[0]
    text = prose(WORDS, 5, 200)[: 16 * 5 + 12]
    data = tmp_path / "tail.txt"
    data.write_text(text, encoding="utf-8")
    result = _invoke("evaluate", run_dir, "--data", data)
    assert result.exit_code == 0, result.output
    assert "characters: 91 " in result.stdout, result.stdout
    lm = textlstm.load(run_dir)
    reference = _reference_bits_per_char(lm.model, lm.vocab, text, 16)
    assert _evaluate_numbers(run_dir, data)["bits/char"] == pytest.approx(reference, abs=2e-4)
    for scores in (lm.score(text), lm.evaluate(data)):
        assert scores["characters"] == len(text) - 1
        assert scores["bits_per_char"] == pytest.approx(reference, rel=1e-4)
    # the tail changes the number: scoring whole windows only would differ from it
    assert _reference_bits_per_char(lm.model, lm.vocab, text[: 16 * 5 + 1], 16) != pytest.approx(reference, rel=1e-4)


def test_evaluate_without_data_is_an_error(trained):
    _assert_one_error_line(_invoke("evaluate", trained[0]), "--data")


# --- bad input -----------------------------------------------------------------------------


def _bad_input(tmp_path, case):
    """A path that cannot be used as text, and a fragment its error message must contain."""
    if case == "missing":
        return tmp_path / "no-such.txt", ["no such file", "no-such.txt"]
    if case == "empty":
        path = tmp_path / "empty.txt"
        path.write_text("")
        return path, ["empty.txt", "is empty"]
    if case == "empty-directory":
        path = tmp_path / "nothing-here"
        path.mkdir()
        (path / ".hidden").write_text("not counted")
        return path, ["nothing-here", "no text files"]
    if case == "latin-1":
        path = tmp_path / "latin1.txt"
        path.write_bytes(b"plain text\ncaf\xe9 au lait\n")
        return path, ["latin1.txt", "not valid UTF-8", "offset 14"]
    if case == "binary":
        path = tmp_path / "blob.bin"
        path.write_bytes(b"GIF89a\x01\x00\x00\x00" + bytes(range(256)))
        return path, ["blob.bin", "binary", "offset 7"]
    raise AssertionError(case)


BAD_INPUTS = ["missing", "empty", "empty-directory", "latin-1", "binary"]


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_train_refuses_unusable_data(tmp_path, case):
    path, fragments = _bad_input(tmp_path, case)
    run_dir = tmp_path / "run"
    result = _invoke("train", "charlm", "--data", path, "--run-dir", run_dir, *TINY)
    _assert_one_error_line(result, *fragments)
    _assert_nothing_half_written(run_dir)


SIZE_KEYS = size_keys("charlm")


@pytest.mark.parametrize("value", [0, -2])
@pytest.mark.parametrize("key", SIZE_KEYS)
def test_train_refuses_sizes_below_one(trained, tmp_path, key, value):
    train_file = trained[1]
    run_dir = tmp_path / "run"
    assert TINY[-2] == "--epochs"  # an explicit option beats --set: give the epochs through --set here
    result = _invoke(
        "train",
        "charlm",
        "--data",
        train_file,
        "--run-dir",
        run_dir,
        *TINY[:-2],
        "--set",
        f"train.epochs={TINY[-1]}",
        "--set",
        f"{key}={value}",
    )
    _assert_one_error_line(result, key, f"got {value}", spec_of("charlm", key).describe())
    _assert_nothing_half_written(run_dir)


def test_resume_refuses_a_run_of_another_kind(tmp_path):
    run_dir = tmp_path / "tagger-run"
    run_dir.mkdir()
    (run_dir / "run.json").write_text('{"kind": "tagger"}')
    _assert_one_error_line(_invoke("train", "charlm", "--run-dir", run_dir, "--resume"), "tagger", "charlm")


@pytest.mark.parametrize("case", [case for case in BAD_INPUTS if case not in ("empty-directory", "empty")])
def test_evaluate_refuses_unusable_data_and_leaves_the_run_alone(trained, tmp_path, case):
    run_dir = trained[0]
    before = _snapshot(run_dir)
    path, fragments = _bad_input(tmp_path, case)
    _assert_one_error_line(_invoke("evaluate", run_dir, "--data", path), *fragments)
    assert _snapshot(run_dir) == before


def test_failed_retraining_into_an_existing_run_keeps_its_files(trained, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(trained[0], run_dir)
    before = _snapshot(run_dir)
    path, fragments = _bad_input(tmp_path, "latin-1")
    _assert_one_error_line(
        _invoke("train", "charlm", "--data", path, "--run-dir", run_dir, *TINY, "--overwrite"), *fragments
    )
    assert _snapshot(run_dir) == before
    assert not [name for name in os.listdir(run_dir) if name.startswith(".") or name == "train.lock"]


def test_unknown_recipe_key_on_the_command_line(trained, tmp_path):
    run_dir = tmp_path / "run"
    result = _invoke("train", "charlm", "--data", trained[1], "--run-dir", run_dir, "--set", "train.learning_rat=0.1")
    _assert_one_error_line(result, "train.learning_rat", "did you mean 'train.learning_rate'")
    assert not run_dir.exists()


def test_unknown_key_in_a_recipe_file(trained, tmp_path):
    recipe = tmp_path / "typo.toml"
    recipe.write_text("[model]\nunits = 16\n\n[train]\nbatch_sise = 4\n", encoding="utf-8")
    run_dir = tmp_path / "run"
    result = _invoke("train", "charlm", "--data", trained[1], "--run-dir", run_dir, "--recipe", recipe)
    _assert_one_error_line(result, "typo.toml", "train.batch_sise", "train.batch_size")
    assert not run_dir.exists()


# --- corpus and vocabulary -----------------------------------------------------------------


def test_vocabulary_maps_unknown_characters_to_the_unknown_id():
    vocab = CharVocabulary.from_text("banana bread")
    assert vocab.chars[vocab.unknown_id] == UNKNOWN
    assert vocab.chars[1] == "a"  # most frequent first
    ids = vocab.encode(f"bad{NOT_IN_VOCAB}z")
    assert list(ids[3:]) == [vocab.unknown_id, vocab.unknown_id]
    assert vocab.decode(vocab.encode("bread")) == "bread"
    assert vocab.unknown_chars(f"zebra{NOT_IN_VOCAB}") == sorted(["z", NOT_IN_VOCAB])


def test_vocabulary_save_load_round_trip(tmp_path):
    vocab = CharVocabulary.from_text(f"h\u00e9llo w\u00f6rld\n\t{UNKNOWN}")
    vocab.save(tmp_path / "vocab.json")
    loaded = CharVocabulary.load(tmp_path / "vocab.json")
    assert loaded.chars == vocab.chars
    assert loaded.unknown_id == vocab.unknown_id
    assert list(loaded.encode("w\u00f6rld?")) == list(vocab.encode("w\u00f6rld?"))
    assert vocab.chars.count(UNKNOWN) == 1


def test_loading_a_missing_vocabulary_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="vocab.json"):
        CharVocabulary.load(tmp_path / "vocab.json")


def test_unigram_entropy_of_two_equally_frequent_characters_is_one_bit():
    vocab = CharVocabulary.from_text("abba")
    assert unigram_entropy_bits(vocab.encode("abbaab"), len(vocab)) == pytest.approx(1.0)


def test_default_corpus_is_large_and_stable():
    first = default_corpus()
    assert len(first) >= 1_000_000
    assert default_corpus() == first


def test_cosine_learning_rate_runs_from_the_rate_to_its_floor():
    from textlstm.charlm.model import DEFAULTS
    from textlstm.optim import learning_rate

    train = dict(DEFAULTS["train"], learning_rate=0.002, lr_schedule="cosine", min_learning_rate=2e-5)
    schedule = learning_rate(train, total_steps=100)
    assert float(schedule(0)) == pytest.approx(0.002)
    assert float(schedule(50)) == pytest.approx((0.002 + 2e-5) / 2, rel=1e-4)  # half-way down the cosine
    assert float(schedule(100)) == pytest.approx(2e-5) and float(schedule(500)) == pytest.approx(2e-5)
    assert learning_rate(dict(train, lr_schedule="constant"), 100) == 0.002
    with pytest.raises(UserError, match="min_learning_rate=0.01 is above train.learning_rate=0.002"):
        learning_rate(dict(train, min_learning_rate=0.01), 100)


def test_weight_decay_chooses_adamw_and_shrinks_weights_with_the_schedule():
    """`train.weight_decay` > 0: AdamW, whose step with a zero gradient multiplies each weight by
    1 - learning_rate x weight_decay (decoupled decay); 0 keeps plain Adam, which leaves it as is."""
    import keras
    import numpy as np

    from textlstm.charlm.model import DEFAULTS
    from textlstm.optim import optimizer

    train = dict(DEFAULTS["train"], learning_rate=0.01, weight_decay=0.5)
    assert type(optimizer(dict(train, weight_decay=0.0))) is keras.optimizers.Adam
    for recipe, factor in ((train, 1 - 0.01 * 0.5), (dict(train, weight_decay=0.0), 1.0)):
        weight = keras.Variable(np.full((3,), 2.0, "float32"))
        opt = optimizer(recipe)
        opt.apply_gradients([(np.zeros((3,), "float32"), weight)])
        np.testing.assert_allclose(keras.ops.convert_to_numpy(weight), 2.0 * factor, rtol=1e-6)
    assert optimizer(train).get_config()["weight_decay"] == 0.5


@pytest.mark.parametrize("floor", [0.0, 1e-4])
def test_resuming_past_a_finished_cosine_schedule(tmp_path, floor):
    """`--resume --epochs` beyond a cosine schedule's end: at a floor of 0 the extra steps would
    not change the weights, so it is refused in one line with the recipe left as it was; above
    0 a note says the steps after the end train at the floor, and they do."""
    train_file = tmp_path / "train.txt"
    train_file.write_text(prose(WORDS, 1, 3000), encoding="utf-8")
    run_dir = tmp_path / "run"
    schedule = ["--set", 'train.lr_schedule="cosine"', "--set", f"train.min_learning_rate={floor}"]
    assert _invoke("train", "charlm", "--data", train_file, "--run-dir", run_dir, *TINY, *schedule).exit_code == 0
    recipe = (run_dir / "recipe.toml").read_text(encoding="utf-8")
    result = _invoke("train", "charlm", "--run-dir", run_dir, "--resume", "--epochs", "3")
    if floor == 0:
        _assert_one_error_line(
            result,
            "this run's cosine learning-rate schedule ends at step 10 at a rate of 0 "
            "(train.min_learning_rate), so training on to step 15 would not change",
        )
        assert (run_dir / "recipe.toml").read_text(encoding="utf-8") == recipe
    else:
        assert result.exit_code == 0, result.output
        assert (
            "note: the cosine learning-rate schedule ended at step 10; steps after it train at "
            "train.min_learning_rate=0.0001" in result.output
        )
        assert json.loads((run_dir / "state.json").read_text())["step"] == 15


def test_input_dropout_is_each_recurrent_layers_own_and_keeps_the_fused_kernel():
    """`model.input_dropout`: the recurrent layers' `dropout` (one mask per sequence, as Keras's),
    on in training only, and the layers still run our fused loop (cuDNN on a GPU), not Keras's generic one."""
    import numpy as np

    from textlstm.charlm.model import DEFAULTS, build_model, recurrent_layers

    model = build_model(20, dict(DEFAULTS["model"], units=8, embedding_dim=4, dropout=0.0, input_dropout=0.5), 1)
    assert [layer.dropout for layer in recurrent_layers(model)] == [0.5, 0.5]
    chars = np.arange(30, dtype="int32").reshape(2, 15) % 20
    first, second = (np.asarray(model(chars, training=True)) for _ in range(2))
    assert not np.allclose(first, second)  # new masks each call
    np.testing.assert_array_equal(np.asarray(model(chars)), np.asarray(model(chars)))
    assert "portable" not in {layer.kernel_used for layer in recurrent_layers(model)}  # fused (cuDNN on a GPU)


def test_eval_window_sets_the_evaluation_windows(trained, tmp_path):
    """`data.eval_window = 40` in a run's recipe: evaluate and score cut the text into windows
    of 40 (not data.seq_len = 16), and the longer context scores the text differently."""
    import textlstm

    run_dir = tmp_path / "run"
    shutil.copytree(trained[0], run_dir)
    recipe = run_dir / "recipe.toml"
    recipe.write_text(
        recipe.read_text(encoding="utf-8").replace("eval_window = 0\n", "eval_window = 40\n", 1), encoding="utf-8"
    )
    text = prose(WORDS, 5, 200)[: 16 * 5 + 12]
    data = tmp_path / "text.txt"
    data.write_text(text, encoding="utf-8")
    lm = textlstm.load(run_dir)
    reference = _reference_bits_per_char(lm.model, lm.vocab, text, 40)
    assert reference != pytest.approx(_reference_bits_per_char(lm.model, lm.vocab, text, 16), rel=1e-4)
    assert _evaluate_numbers(run_dir, data)["bits/char"] == pytest.approx(reference, abs=2e-4)
    assert lm.score(text)["bits_per_char"] == pytest.approx(reference, rel=1e-4)


def test_validation_shorter_than_eval_window_is_refused(tmp_path):
    train_file, valid_file = tmp_path / "train.txt", tmp_path / "valid.txt"
    train_file.write_text(prose(WORDS, 1, 3000), encoding="utf-8")
    valid_file.write_text("short validation text", encoding="utf-8")
    result = _invoke(
        "train",
        "charlm",
        "--data",
        train_file,
        "--valid",
        valid_file,
        "--set",
        "data.eval_window=500",
        "--run-dir",
        tmp_path / "run",
        *TINY,
    )
    _assert_one_error_line(result, "fewer than data.eval_window=500 + 1")
    _assert_nothing_half_written(tmp_path / "run")


@pytest.mark.parametrize(
    "settings",
    [
        ["train.min_learning_rate=1"],
        ['train.lr_schedule="cosine"', "train.learning_rate=0.00001", "train.min_learning_rate=0.00002"],
    ],
)
def test_a_floor_above_the_learning_rate_is_refused_before_any_work(tmp_path, settings):
    train_file = tmp_path / "train.txt"
    train_file.write_text(prose(WORDS, 1, 3000), encoding="utf-8")
    overrides = [arg for setting in settings for arg in ("--set", setting)]
    result = _invoke("train", "charlm", "--data", train_file, "--run-dir", tmp_path / "run", *TINY, *overrides)
    _assert_one_error_line(result, "is above train.learning_rate")
    assert "recipe:" not in result.output  # refused with the recipe's other checks, before it is printed
    assert not (tmp_path / "run").exists()
