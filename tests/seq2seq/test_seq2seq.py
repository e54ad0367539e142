"""The translator end to end through the CLI (train, translate, evaluate), batch invariance,
resume, and every bad input of the issue.

The data are a synthetic reversal task written here: the target is the source's words
in reverse order, upper-cased. One tiny model is trained once for the module and reused.
"""

import json
import random
import re

import numpy as np
import pytest

from support.cli import assert_one_error_line as _assert_one_error_line
from support.cli import invoke as _invoke
from support.cli import size_keys
from textlstm.api import Translator
from textlstm.schema import spec_of
from textlstm.seq2seq import data as data_lib
from textlstm.seq2seq.translate import word_alignment

WORDS = "alpha beta gamma delta eps zeta eta theta iota kappa lam mu".split()
TINY = [
    "--set",
    "data.vocab_size=40",
    "--set",
    "model.units=16",
    "--set",
    "model.embedding_dim=8",
    "--set",
    "train.batch_size=8",
    "--set",
    "train.steps_per_epoch=4",
    "--set",
    "train.bleu_sentences=8",
    "--set",
    "decode.max_length=12",
    "--set",
    "decode.beam_size=2",
    "--set",
    "model.dropout=0.0",
    "--set",
    "data.max_length=24",
    "--epochs",
    "2",
]
TOTAL_STEPS = 8  # 2 epochs of 4 steps
SENTENCES = [
    "alpha beta gamma",
    "zeta",
    "mu lam kappa iota theta eta",
    "delta eps",
    "beta beta beta alpha",
    "gamma delta eps zeta eta theta iota kappa lam mu alpha beta",
]


def _pairs(seed, count):
    rng = random.Random(seed)
    sources = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6))) for _ in range(count)]
    return sources, [" ".join(reversed(s.split())).upper() for s in sources]


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """300 usable training pairs plus two with an empty side and one too long; dev as TSV and as two files."""
    root = tmp_path_factory.mktemp("parallel")
    train_src, train_tgt = _pairs(1, 300)
    train_src += ["", "alpha beta", " ".join(["alpha"] * 50)]
    train_tgt += ["ALPHA", "  ", "ALPHA"]
    dev_src, dev_tgt = _pairs(2, 20)
    return {
        "src": _write(root / "train.src", train_src),
        "tgt": _write(root / "train.tgt", train_tgt),
        "valid_src": _write(root / "dev.src", dev_src),
        "valid_tgt": _write(root / "dev.tgt", dev_tgt),
        "valid_tsv": _write(root / "dev.tsv", [f"{s}\t{t}" for s, t in zip(dev_src, dev_tgt)]),
        "root": root,
    }


def _train_args(corpus, run_dir, *extra):
    return (
        "train",
        "seq2seq",
        "--src",
        corpus["src"],
        "--tgt",
        corpus["tgt"],
        "--valid-tsv",
        corpus["valid_tsv"],
        "--run-dir",
        run_dir,
        *TINY,
        *extra,
    )


@pytest.fixture(scope="module")
def trained(corpus):
    run_dir = corpus["root"] / "run"
    result = _invoke(*_train_args(corpus, run_dir))
    assert result.exit_code == 0, result.output
    return run_dir, result


@pytest.fixture(scope="module")
def translator(trained):
    return Translator(trained[0])


# --- training -------------------------------------------------------------------------------


def test_train_writes_a_complete_run_directory(trained):
    run_dir, result = trained
    for name in (
        "run.json",
        "recipe.toml",
        "source.model",
        "target.model",
        "best.keras",
        "last.keras",
        "state.json",
        "metrics.csv",
    ):
        assert (run_dir / name).is_file(), name
    assert json.loads((run_dir / "run.json").read_text())["kind"] == "seq2seq"
    header = (run_dir / "metrics.csv").read_text().splitlines()[0]
    assert "val_loss" in header and "val_bleu" in header
    assert "training: 300 pairs kept, 2 with an empty side and 1 longer than 24 subwords dropped" in result.output
    assert "dev: 20 pairs kept" in result.output
    assert "dev BLEU" in result.output
    assert re.search(r"best dev BLEU \(greedy, 8 sentences\): \d+\.\d\d$", result.output, re.MULTILINE)
    assert "ran out of data" not in result.output


def test_training_batches_depend_only_on_the_global_step():
    sources = [[4 + i % 7] * (1 + i % 9) for i in range(50)]
    targets = [[5] * (1 + i % 5) for i in range(50)]
    stream = list(data_lib.training_batches(sources, targets, 4, seed=3).take(30))
    later = list(data_lib.training_batches(sources, targets, 4, seed=3, start_step=17).take(13))
    for expected, got in zip(stream[17:], later):
        np.testing.assert_array_equal(expected[0]["source"], got[0]["source"])
        np.testing.assert_array_equal(expected[1], got[1])
    first_epoch = stream[: data_lib.batches_per_epoch(50, 4)]
    assert sum(len(batch[1]) for batch in first_epoch) == 50


def test_resume_after_an_interrupt_equals_an_uninterrupted_run(corpus, trained, tmp_path, monkeypatch):
    """Ctrl-C (simulated) at step 2, then --resume: the weights of the uninterrupted run."""
    from textlstm import training
    from textlstm.rundir import load_keras_model

    def interrupt_once(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) == 2 and not getattr(self, "fired", False):
            self.fired = True
            raise KeyboardInterrupt

    monkeypatch.setattr(training._Checkpointer, "on_train_batch_end", interrupt_once, raising=False)
    run_dir = tmp_path / "resumed"
    interrupted = _invoke(*_train_args(corpus, run_dir))
    assert interrupted.exit_code == 130, interrupted.output  # SIGINT's shell status
    assert (
        f"interrupted at step 2; continue with: textlstm train seq2seq --run-dir {run_dir} --resume"
        in interrupted.stderr
    )
    monkeypatch.undo()
    resumed = _invoke("train", "seq2seq", "--run-dir", run_dir, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "resuming inside epoch 1" in resumed.output
    ours = load_keras_model(run_dir / "last.keras", compile=True)
    theirs = load_keras_model(trained[0] / "last.keras", compile=True)
    assert int(ours.optimizer.iterations.numpy()) == TOTAL_STEPS
    for mine, expected in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(mine, expected, rtol=0, atol=1e-6)
    assert (run_dir / "target.model").read_bytes() == (trained[0] / "target.model").read_bytes()


# --- translation ----------------------------------------------------------------------------


def test_translate_keeps_order_and_empty_lines(trained, tmp_path):
    run_dir, _ = trained
    lines = ["alpha beta", "", "gamma delta eps", "   ", "mu"]
    result = _invoke("translate", run_dir, _write(tmp_path / "in.txt", lines))
    assert result.exit_code == 0, result.output
    out = result.stdout.split("\n")[:-1]
    assert len(out) == len(lines)
    assert out[1] == "" and out[3] == ""
    from_stdin = _invoke("translate", run_dir, "--beam-size", "2", input="alpha beta\n\ngamma delta eps\n   \nmu\n")
    assert from_stdin.stdout == result.stdout
    only_empty = _invoke("translate", run_dir, input="\n\n")
    assert only_empty.exit_code == 0 and only_empty.stdout == "\n\n"


def test_translation_is_batch_invariant(translator):
    """Same sentence, same tokens and score, at batch sizes 1, 3 and 8 and in other company."""
    company = ["kappa", "eta eta", "lam mu alpha", "theta iota kappa lam", "beta"]
    for beam in (1, 3):
        reference = translator.hypotheses(SENTENCES, beam_size=beam, batch_size=8)
        for batch_size in (1, 3):
            assert translator.hypotheses(SENTENCES, beam_size=beam, batch_size=batch_size) == reference
        mixed = company[:2] + SENTENCES[::-1] + company[2:]
        got = translator.hypotheses(mixed, beam_size=beam, batch_size=4)[2 : 2 + len(SENTENCES)][::-1]
        assert got == reference


def test_translation_of_a_wide_model_is_batch_invariant():
    """The recipe-sized network (random weights), where a one-row matmul would round differently.

    In the default run (about 7 s of CPU): it is the case the README warns about."""
    import keras

    from textlstm.seq2seq.model import Seq2Seq
    from textlstm.seq2seq.translate import translate_ids

    keras.utils.set_random_seed(3)
    model = Seq2Seq(300, 500, units=256, embedding_dim=128)
    model.build()
    rng = np.random.default_rng(1)
    sources = [rng.integers(4, 300, rng.integers(1, 20)).tolist() for _ in range(10)]
    for beam in (1, 5):
        reference = translate_ids(model, sources, beam_size=beam, max_length=10, batch_size=8)
        for batch_size in (1, 3):
            assert translate_ids(model, sources, beam_size=beam, max_length=10, batch_size=batch_size) == reference


def test_n_best_and_alignments(trained, tmp_path):
    run_dir, _ = trained
    source = _write(tmp_path / "in.txt", ["alpha beta gamma", "", "delta"])
    result = _invoke("translate", run_dir, source, "--beam-size", "3", "--n-best", "3", "--alignments")
    assert result.exit_code == 0, result.output
    rows = result.stdout.splitlines()
    assert [row.split(" ||| ")[0] for row in rows] == ["0", "0", "0", "1", "2", "2", "2"]
    scores = [float(row.split(" ||| ")[2].split("\t")[0]) for row in rows[:3]]
    assert scores == sorted(scores, reverse=True)
    for row in rows[:3]:
        text, links = row.split(" ||| ")[1], row.split("\t")[1]
        for link in links.split():
            i, j = map(int, link.split("-"))
            assert 0 <= i < 3 and 0 <= j < max(1, len(text.split()))


def test_word_alignment_groups_subwords_into_words():
    attention = np.array([[0.9, 0.1, 0.0], [0.0, 0.2, 0.8], [0.1, 0.8, 0.1]])
    assert word_alignment(["\u2581ab", "c", "\u2581d"], ["\u2581x", "y", "\u2581z"], attention) == "0-0 1-0 0-1"


def test_lines_far_longer_than_training_are_capped(translator):
    long_line = " ".join(WORDS * 40)
    warnings = []
    result = translator.hypotheses([long_line, "alpha"], max_length=7, warn=warnings.append)
    assert len(result) == 2
    assert len(translator.subwords.encode_target([result[0][0].text])[0]) <= 7
    assert warnings and "cut to 256" in warnings[0]


def _printed_scores(result):
    assert result.exit_code == 0, result.output
    match = re.search(r"BLEU: ([0-9.]+)\s+chrF: ([0-9.]+)", result.stdout)
    assert match, result.stdout
    return float(match.group(1)), float(match.group(2))


def test_evaluate_prints_bleu_chrf_and_signatures(trained, corpus, tmp_path):
    import sacrebleu

    args = ("evaluate", trained[0], "--src", corpus["valid_src"], "--beam-size", "1")
    result = _invoke(*args, "--ref", corpus["valid_tgt"])
    bleu, chrf = _printed_scores(result)
    assert "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:" in result.stdout
    # The printed numbers are sacreBLEU's on what `translate` writes, ...
    translated = _invoke("translate", trained[0], corpus["valid_src"], "--beam-size", "1")
    assert translated.exit_code == 0, translated.output
    hypotheses = translated.stdout.split("\n")[:-1]
    references = corpus["valid_tgt"].read_text(encoding="utf-8").splitlines()
    assert bleu == pytest.approx(sacrebleu.corpus_bleu(hypotheses, [references]).score, abs=0.005)
    assert chrf == pytest.approx(sacrebleu.corpus_chrf(hypotheses, [references]).score, abs=0.005)
    lowercased = float(re.search(r"lowercased BLEU: ([0-9.]+)", result.stdout).group(1))
    assert lowercased == pytest.approx(sacrebleu.corpus_bleu(hypotheses, [references], lowercase=True).score, abs=0.005)
    assert "nrefs:1|case:lc|eff:no|tok:13a|smooth:exp|version:" in result.stdout
    # ... and scoring those translations against themselves gives a perfect chrF.
    assert any(hypotheses)
    self_bleu, self_chrf = _printed_scores(_invoke(*args, "--ref", _write(tmp_path / "self.txt", hypotheses)))
    assert self_chrf == 100.0
    assert self_bleu == pytest.approx(sacrebleu.corpus_bleu(hypotheses, [hypotheses]).score, abs=0.005)


def test_the_translator_learns():
    """A tiny attention model on a reversal task: the loss falls to under a third in 48 steps,
    and on its own training pairs the greedy translations get most tokens right, far above
    always answering the most frequent token."""
    import copy

    from textlstm.seq2seq.model import DEFAULTS, build_and_compile
    from textlstm.seq2seq.translate import translate_ids

    rng = np.random.default_rng(0)
    sources = [rng.integers(4, 10, rng.integers(2, 6)).tolist() for _ in range(64)]
    targets = [source[::-1] for source in sources]
    inputs, outputs = data_lib.make_example(sources, targets)
    recipe = copy.deepcopy(DEFAULTS)
    recipe["model"].update(units=16, embedding_dim=8, dropout=0.0)
    recipe["train"].update(learning_rate=0.02, label_smoothing=0.0)
    model = build_and_compile(recipe, 10, 10)
    history = model.fit(inputs, outputs, batch_size=16, epochs=12, shuffle=False, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0] / 3, losses
    decoded = [result[0][0] for result in translate_ids(model, sources, beam_size=1, max_length=8)]
    right = sum(a == b for got, target in zip(decoded, targets) for a, b in zip(got, target))
    tokens = [token for target in targets for token in target]
    total = len(tokens)
    majority = max(tokens.count(token) for token in set(tokens)) / total
    assert right / total > 0.6 > majority + 0.3, (right / total, majority)


def test_beam_search_finds_more_probable_translations_than_greedy():
    """A tiny model half-trained on a reversal task is unsure, so the search matters: with no length
    penalty a beam of 4 finds translations whose log-probability under the model is at least the
    greedy one's for (nearly) every sentence, and higher in total."""
    import copy

    from textlstm.seq2seq.model import DEFAULTS, build_and_compile
    from textlstm.seq2seq.translate import translate_ids

    rng = np.random.default_rng(1)
    sources = [rng.integers(4, 12, rng.integers(3, 7)).tolist() for _ in range(64)]
    inputs, outputs = data_lib.make_example(sources, [source[::-1] for source in sources])
    recipe = copy.deepcopy(DEFAULTS)
    recipe["model"].update(units=16, embedding_dim=8, dropout=0.0)
    recipe["train"].update(learning_rate=0.02, label_smoothing=0.0)
    model = build_and_compile(recipe, 12, 12)
    model.fit(inputs, outputs, batch_size=16, epochs=4, shuffle=False, verbose=0)
    greedy = [result[0][1] for result in translate_ids(model, sources, beam_size=1, max_length=10)]
    beam = [result[0][1] for result in translate_ids(model, sources, beam_size=4, max_length=10)]
    assert sum(beam) > sum(greedy) + 1.0, (sum(beam), sum(greedy))
    assert sum(b >= g - 1e-4 for b, g in zip(beam, greedy)) >= 0.9 * len(sources)


# --- bad input ------------------------------------------------------------------------------


def test_misaligned_parallel_files(corpus, tmp_path):
    short = _write(tmp_path / "short.tgt", _pairs(1, 299)[1])
    result = _invoke(
        "train",
        "seq2seq",
        "--src",
        corpus["src"],
        "--tgt",
        short,
        "--valid-src",
        corpus["valid_src"],
        "--valid-tgt",
        corpus["valid_tgt"],
        "--run-dir",
        tmp_path / "run",
    )
    _assert_one_error_line(result, "misaligned", "train.src has 303 lines", "short.tgt has 299")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("key", size_keys("seq2seq"))
def test_sizes_below_one_are_refused(corpus, tmp_path, key):
    result = _invoke(
        "train",
        "seq2seq",
        "--src",
        corpus["src"],
        "--tgt",
        corpus["tgt"],
        "--valid-src",
        corpus["valid_src"],
        "--valid-tgt",
        corpus["valid_tgt"],
        "--run-dir",
        tmp_path / "run",
        "--set",
        f"{key}=0",
    )
    _assert_one_error_line(result, f"{key} must be {spec_of('seq2seq', key).describe()}, got 0")
    assert not (tmp_path / "run").exists()


def test_tsv_line_without_exactly_one_tab(corpus, tmp_path):
    tsv = _write(tmp_path / "bad.tsv", ["a\tA", "b\tB\tC"])
    result = _invoke("train", "seq2seq", "--tsv", tsv, "--valid-tsv", tsv, "--run-dir", tmp_path / "run")
    _assert_one_error_line(result, "bad.tsv, line 2", "found 2 tabs")


def test_evaluate_with_misaligned_reference(trained, corpus, tmp_path):
    ref = _write(tmp_path / "ref.txt", ["ONE"])
    _assert_one_error_line(
        _invoke("evaluate", trained[0], "--src", corpus["valid_src"], "--ref", ref), "has 20 lines", "has 1"
    )


def test_non_utf8_input(trained, corpus, tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\u00e9 alpha\n".encode("latin-1"))
    _assert_one_error_line(_invoke("translate", trained[0], bad), "latin1.txt is not valid UTF-8", "line 1")
    result = _invoke(
        "train",
        "seq2seq",
        "--src",
        bad,
        "--tgt",
        bad,
        "--valid-src",
        corpus["valid_src"],
        "--valid-tgt",
        corpus["valid_tgt"],
        "--run-dir",
        tmp_path / "run",
    )
    _assert_one_error_line(result, "not valid UTF-8")


def test_run_directory_of_another_kind(tmp_path):
    other = tmp_path / "charlm-run"
    other.mkdir()
    (other / "run.json").write_text(json.dumps({"kind": "charlm"}), encoding="utf-8")
    _assert_one_error_line(_invoke("translate", other, input="alpha\n"), "holds a 'charlm' model", "not a 'seq2seq'")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("--beam-size", "0"), "--beam-size (decode.beam_size) must be an integer >= 1"),
        (("--beam-size", "2", "--n-best", "3"), "--n-best (3) cannot exceed --beam-size (2)"),
        (("--n-best", "50"), "--n-best (50) cannot exceed the run's beam size ("),  # --beam-size not given
        (("--length-penalty", "-1"), "--length-penalty (decode.length_penalty) must be a finite number >= 0"),
        (("--max-length", "0"), "--max-length (decode.max_length) must be an integer >= 1"),
    ],
)
def test_translate_rejects_bad_options(trained, args, fragment):
    _assert_one_error_line(_invoke("translate", trained[0], *args, input="alpha\n"), fragment)


def test_dev_data_are_required(corpus, tmp_path):
    result = _invoke("train", "seq2seq", "--src", corpus["src"], "--tgt", corpus["tgt"], "--run-dir", tmp_path / "run")
    _assert_one_error_line(result, "needs dev data")


@pytest.mark.data
def test_multi30k_reads_as_aligned_pairs(shared_data):
    root = shared_data / "multi30k"
    sources, targets, _ = data_lib.read_parallel(root / "train.en", root / "train.de")
    assert len(sources) == len(targets) == 29000
    assert "\t" in targets[7365]  # the README's quirk: a tab inside a German line, harmless here
