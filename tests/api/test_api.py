"""The Python API: `textlstm.load` → CharLM / Tagger / Translator, the same results as the CLI,
no retracing on a second call of the same shape, n-best tags, Keras registration, bad input."""

import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import textlstm
from support.cli import assert_one_error_line, invoke
from support.runs import tiny_run
from textlstm.api import CharLM, Tagger, Translator

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def charlm_run(tmp_path_factory):
    return tiny_run(tmp_path_factory, "charlm")


@pytest.fixture(scope="module")
def tagger_run(tmp_path_factory):
    return tiny_run(tmp_path_factory, "tagger")


@pytest.fixture(scope="module")
def seq2seq_run(tmp_path_factory):
    return tiny_run(tmp_path_factory, "seq2seq")


@pytest.fixture(scope="module")
def lm(charlm_run):
    return textlstm.load(charlm_run)


@pytest.fixture(scope="module")
def tagger(tagger_run):
    return textlstm.load(tagger_run)


@pytest.fixture(scope="module")
def translator(seq2seq_run):
    return textlstm.load(seq2seq_run)


def _traces():
    """Traces so far of every compiled decoding function (sampling, feeding, encoding, beams)."""
    from textlstm.decoding.samplers import _compiled_cache

    return sum(function.experimental_get_tracing_count() for function in _compiled_cache.values())


# --- loading and Keras registration ---------------------------------------------------------


def test_load_returns_the_object_for_the_kind(lm, tagger, translator):
    assert isinstance(lm, CharLM) and isinstance(tagger, Tagger) and isinstance(translator, Translator)
    assert textlstm.TextlstmError is textlstm.errors.UserError


def test_import_textlstm_lets_keras_load_every_kind_with_safe_mode(charlm_run, tagger_run, seq2seq_run):
    code = textwrap.dedent(f"""
        import sys
        import textlstm
        assert "tensorflow" not in sys.modules  # importing textlstm stays cheap
        import keras
        for path in {[str(run / "best.keras") for run in (charlm_run, tagger_run, seq2seq_run)]!r}:
            model = keras.saving.load_model(path, safe_mode=True)
            print(type(model).__name__)
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[1] == "SequenceTagger"


def _damaged_copy(run, tmp_path, name):
    copy = tmp_path / f"{run.name}-copy"
    shutil.copytree(run, copy)
    for checkpoint in ("best.keras", "last.keras"):
        if (copy / checkpoint).exists():
            (copy / checkpoint).write_bytes(b"not a zip file")
    return copy


def test_bad_run_directories_raise_one_clear_error(charlm_run, tmp_path):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "norun").mkdir()
    (tmp_path / "strange").mkdir()
    (tmp_path / "strange" / "run.json").write_text(json.dumps({"kind": "parser"}))
    cases = [
        (tmp_path / "missing", "does not exist"),
        (tmp_path / "afile", "not a run directory"),
        (tmp_path / "norun", "no run.json"),
        (tmp_path / "strange", "'parser'"),
        (_damaged_copy(charlm_run, tmp_path, "best.keras"), "damaged"),
        (42, "run_dir must be a path"),
    ]
    for path, fragment in cases:
        with pytest.raises(textlstm.TextlstmError, match=fragment):
            textlstm.load(path)
    with pytest.raises(textlstm.TextlstmError, match="not a 'tagger' model"):
        Tagger(charlm_run)


# --- CharLM ---------------------------------------------------------------------------------


def test_generate_is_the_cli_text_and_repeatable_by_seed(lm, charlm_run):
    texts = lm.generate("the ", 40, seed=3, temperature=0.8, num_samples=2)
    assert len(texts) == 2 and all(len(text) == 40 for text in texts)
    assert lm.generate("the ", 40, seed=3, temperature=0.8, num_samples=2) == texts
    assert (
        "".join(lm.stream("the ", 40, seed=3, temperature=0.8, chunk=7))
        == lm.generate("the ", 40, seed=3, temperature=0.8)[0]
    )
    result = invoke("generate", charlm_run, "--prompt", "the ", "--length", 40, "--seed", 3)
    assert result.exit_code == 0, result.output
    assert result.stdout == "the " + lm.generate("the ", 40, seed=3, temperature=0.8)[0] + "\n"


def test_second_generate_of_the_same_shape_does_not_retrace(lm):
    lm.generate("garden ", 30, seed=1, num_samples=3)
    before = _traces()
    lm.generate("window ", 30, seed=2, num_samples=3)
    assert _traces() == before


def test_score_reports_bits_per_char(lm):
    text = "the river runs in the old garden and the green window sleeps\n" * 3
    scores = lm.score(text)
    assert scores["characters"] > 0
    assert scores["bits_per_char"] == pytest.approx(scores["loss"] / math.log(2))
    assert scores["perplexity"] == pytest.approx(math.exp(scores["loss"]))


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda lm: lm.generate("x", length="5"), "length must be an integer"),
        (lambda lm: lm.generate(3), "prompt must be a string"),
        (lambda lm: lm.generate("x", 5, seed=1.5), "seed must be an integer"),
        (lambda lm: lm.generate("x", 5, num_samples=0), "num_samples must be an integer >= 1"),
        (lambda lm: lm.generate("x", 5, sampler="beam"), "sampler must be one of"),
        (lambda lm: lm.generate("x", 5, temperature=-1.0), "temperature"),
        (lambda lm: lm.score(b"bytes"), "text must be a string"),
        (lambda lm: lm.score("a"), "fewer than two characters"),
    ],
)
def test_charlm_argument_errors(lm, call, fragment):
    with pytest.raises(textlstm.TextlstmError, match=fragment):
        call(lm)


# --- Tagger ---------------------------------------------------------------------------------

SENTENCES = ["Anna sees the dog", "Oslo finds the old road Jr", ""]


def test_tag_takes_strings_or_token_lists_and_matches_the_cli(tagger, tagger_run):
    tags = tagger.tag(SENTENCES)
    assert [len(t) for t in tags] == [4, 6, 0]
    assert tagger.tag([s.split() for s in SENTENCES]) == tags
    result = invoke("tag", tagger_run, "-i", "plain", "-O", "jsonl", input="\n".join(SENTENCES[:2]) + "\n")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["tags"] for line in result.stdout.splitlines()] == tags[:2]


def test_second_tag_call_of_the_same_shape_does_not_retrace(tagger):
    tagger.tag(["Bob runs the river"])
    before = tagger.predictor.experimental_get_tracing_count()
    tagger.tag(["Acme sees the stone"])
    assert tagger.predictor.experimental_get_tracing_count() == before


def test_n_best_starts_with_the_best_and_its_probabilities_sum_to_one(tagger):
    best = tagger.tag(SENTENCES)
    nbest = tagger.tag(SENTENCES, n_best=3)
    for tags, paths in zip(best, nbest):
        # the first is the most probable output sequence: the Viterbi path's output unless
        # merged internal sequences (BIOES model, IOB2 file) sum past it
        assert len(paths[0]["tags"]) == len(tags)
        probs = [path["prob"] for path in paths]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
        assert len({tuple(path["tags"]) for path in paths}) == len(paths)
    # every tag sequence of a two-token sentence: the probabilities are a distribution
    size = len(tagger.vocabs[2])
    every = tagger.tag(["Anna runs"], n_best=size * size)[0]
    assert sum(path["prob"] for path in every) == pytest.approx(1.0, abs=1e-4)
    # the model tags in BIOES for an IOB2 file: internal sequences read back as one output
    # (S-PER O and B-PER O both give B-PER O) are one entry with their probabilities summed
    outputs = [tuple(path["tags"]) for path in every]
    assert len(set(outputs)) == len(outputs) < (size - 1) ** 2
    from textlstm.api.tagger import _sentences as parse_sentences
    from textlstm.tagger.nbest import make_scorer, predict_nbest

    internal = predict_nbest(
        *make_scorer(tagger.model),
        parse_sentences(["Anna runs"]),
        tagger.vocabs,
        tagger.recipe["data"],
        8,
        size * size,
    )[0]
    sums = {}
    for ids, prob in internal:
        key = tuple(tagger.tag_strings(ids))
        sums[key] = sums.get(key, 0.0) + prob
    expected = sorted(sums.items(), key=lambda item: -item[1])
    assert outputs == [tags for tags, _ in expected]
    assert [path["prob"] for path in every] == pytest.approx([prob for _, prob in expected], rel=1e-5)
    top3 = tagger.tag(["Anna runs"], n_best=3)[0]  # from the 12 best internal sequences: distinct
    assert len({tuple(path["tags"]) for path in top3}) == len(top3) == 3
    # a sentence cut into chunks (data.max_len=4): combinations of the chunks' k-best lists
    chunked = tagger.tag(["Anna sees the dog and Bob runs"], n_best=4)[0]
    assert len(chunked) == 4 and len({tuple(path["tags"]) for path in chunked}) == 4
    assert all(len(path["tags"]) == 7 for path in chunked)


def test_tag_cli_n_best_jsonl_and_conll(tagger_run):
    result = invoke("tag", tagger_run, "-i", "plain", "-O", "jsonl", "--n-best", 2, input="Anna sees the dog\n")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["n_best"][0]["tags"] == record["tags"] and len(record["n_best"]) == 2
    result = invoke("tag", tagger_run, "-i", "plain", "-O", "conll", "--n-best", 2, input="Anna sees the dog\n")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("# n_best_probs = ") and len(lines[0].split("=")[1].split()) == 2
    first, second = (path["tags"] for path in record["n_best"])
    assert [line.split("\t") for line in lines[1:]] == [list(row) for row in zip(record["tokens"], first, second)]
    assert_one_error_line(invoke("tag", tagger_run, "--n-best", 0, input="a\n"), "--n-best")
    assert_one_error_line(invoke("tag", tagger_run, "-O", "conllu", "--n-best", 2, input="a\n"), "conllu")


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda t: t.tag("Anna runs"), "sentences must be a list"),
        (lambda t: t.tag([["Anna runs"]]), "tokens must be non-empty and hold no whitespace"),
        (lambda t: t.tag([3]), r"sentences\[0\] must be a string"),
        (lambda t: t.tag(["a"], n_best=0), "n_best must be an integer >= 1"),
        (lambda t: t.tag(["a"], batch_size="8"), "batch_size must be an integer"),
    ],
)
def test_tagger_argument_errors(tagger, call, fragment):
    with pytest.raises(textlstm.TextlstmError, match=fragment):
        call(tagger)


# --- Translator -----------------------------------------------------------------------------

LINES = ["alpha beta gamma", "", "zeta eta"]


def test_translate_matches_the_cli_and_does_not_retrace(translator, seq2seq_run, tmp_path):
    texts = translator.translate(LINES, beam_size=2)
    assert len(texts) == 3 and texts[1] == ""
    source = tmp_path / "in.txt"
    source.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    result = invoke("translate", seq2seq_run, source, "--beam-size", 2)
    assert result.exit_code == 0, result.output
    assert result.stdout.split("\n")[:3] == texts
    before = _traces()
    assert translator.translate(LINES, beam_size=2) == texts
    assert _traces() == before
    nbest = translator.translate(LINES[:1], beam_size=2, n_best=2)[0]
    assert nbest[0][0] == texts[0] and nbest[0][1] >= nbest[1][1]


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda t: t.translate("alpha"), "sentences must be a list of strings"),
        (lambda t: t.translate([1]), r"sentences\[0\] must be a string"),
        (lambda t: t.translate(["alpha"], beam_size="2"), "beam_size must be an integer"),
        (lambda t: t.translate(["alpha"], beam_size=2, n_best=3), r"^n_best \(3\) cannot exceed beam_size \(2\)$"),
        (
            lambda t: t.translate(["alpha"], n_best=50),
            r"^n_best \(50\) cannot exceed the run's beam size \(\d+\); give a",
        ),
    ],
)
def test_translator_argument_errors(translator, call, fragment):
    with pytest.raises(textlstm.TextlstmError, match=fragment):
        call(translator)
