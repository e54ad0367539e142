"""The tagger end to end through the CLI: train → tag → evaluate on tiny generated CoNLL-U and
CoNLL files, resume, output formats, agreement with seqeval, and every bad input of the issue.

Two tiny models (a UPOS tagger on CoNLL-U, an entity tagger on CoNLL columns) are trained
once for the module and shared by the tests; a test that changes a run works on a copy.
The entity tagger is trained long enough (24 steps at a high learning rate) to learn the
generated task, so it predicts entities and shows that the tagger family learns.
"""

import csv
import json
import re
import shutil

import pytest
from seqeval import metrics as seqeval_metrics

from support.cli import assert_one_error_line as _assert_one_error_line
from support.cli import invoke as _invoke
from support.cli import size_keys
from support.tagger_data import TINY_RECIPE, conll_text, conllu_text
from textlstm.schema import spec_of

# Enough for the entity tagger to learn the generated task: 6 epochs of 4 steps, no dropout.
LEARNING = [
    "--set",
    "train.learning_rate=0.05",
    "--set",
    "model.dropout=0.0",
    "--set",
    "model.word_dropout=0.0",
    "--epochs",
    "6",
]
BIOES_ONLY = {"S-PER", "E-PER", "S-LOC", "E-LOC", "S-ORG", "E-ORG"}


def _column_tags(text):
    """The tag lists of CoNLL-column text, one list per sentence."""
    sentences, current = [], []
    for line in text.splitlines():
        if line.strip() and not line.startswith("-DOCSTART-"):
            current.append(line.split("\t")[-1])
        elif current:
            sentences.append(current)
            current = []
    return sentences + ([current] if current else [])


def _assert_valid_iob2(sentences):
    for tags in sentences:
        previous = "O"
        for tag in tags:
            if tag.startswith("I-"):
                assert previous[2:] == tag[2:], tags  # I-X only continues an X
            previous = tag


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    root = tmp_path_factory.mktemp("tagger-data")
    files = {
        "conllu_train": conllu_text(1, 16),
        "conllu_dev": conllu_text(2, 6),
        "conll_train": conll_text(3, 16),
        "conll_dev": conll_text(4, 6, docstart=False),
    }
    paths = {}
    for name, text in files.items():
        paths[name] = root / name
        paths[name].write_text(text, encoding="utf-8")
    paths["root"] = root
    return paths


@pytest.fixture(scope="module")
def upos_run(corpora):
    run_dir = corpora["root"] / "upos-run"
    result = _invoke(
        "train",
        "tagger",
        "--train",
        corpora["conllu_train"],
        "--dev",
        corpora["conllu_dev"],
        "--format",
        "conllu",
        "--column",
        "upos",
        "--run-dir",
        run_dir,
        *TINY_RECIPE,
        "--set",
        "data.max_len=4",
    )
    assert result.exit_code == 0, result.output
    return run_dir, result


@pytest.fixture(scope="module")
def ner_run(corpora):
    run_dir = corpora["root"] / "ner-run"
    result = _invoke(
        "train",
        "tagger",
        "--train",
        corpora["conll_train"],
        "--dev",
        corpora["conll_dev"],
        "--scheme",
        "BIOES",
        "--run-dir",
        run_dir,
        *TINY_RECIPE,
        "--set",
        "model.char_features=lstm",
        *LEARNING,
    )
    assert result.exit_code == 0, result.output
    return run_dir, result


def test_train_writes_a_complete_run_directory(upos_run):
    run_dir, result = upos_run
    for name in (
        "run.json",
        "recipe.toml",
        "words.json",
        "chars.json",
        "tags.json",
        "tagset.json",
        "best.keras",
        "last.keras",
        "state.json",
        "metrics.csv",
    ):
        assert (run_dir / name).is_file(), name
    assert json.loads((run_dir / "run.json").read_text())["kind"] == "tagger"
    header = (run_dir / "metrics.csv").read_text().splitlines()[0]
    assert "val_accuracy" in header and "val_f1" not in header
    epochs = [line for line in result.output.splitlines() if line.startswith("epoch ")]
    assert len(epochs) == 2 and epochs[1].startswith("epoch 2/2 - ")  # one line per epoch, Keras's folded in
    assert " - dev accuracy 0." in epochs[1] and "val_accuracy" not in epochs[1] and "e+00" not in result.output
    assert "best model: dev accuracy" in result.output
    assert "ghost" not in (run_dir / "words.json").read_text()  # empty nodes are not tagged


def test_entity_run_reports_f1_and_keeps_the_file_scheme(ner_run, corpora):
    run_dir, result = ner_run
    assert "val_f1" in (run_dir / "metrics.csv").read_text().splitlines()[0]
    tagset = json.loads((run_dir / "tagset.json").read_text())
    assert tagset == {"entities": True, "file_scheme": "IOB2", "model_scheme": "BIOES", "format": "conll"}
    assert "S-PER" in (run_dir / "tags.json").read_text()
    out = _invoke("tag", run_dir, corpora["conll_dev"])
    assert out.exit_code == 0, out.output
    predicted = _column_tags(out.stdout)
    tags = {tag for sentence in predicted for tag in sentence}
    # The model predicts entities (single-token names are S-X inside it) and writes them back in IOB2.
    assert {tag for tag in tags if tag.startswith("B-")}, tags
    assert not tags & BIOES_ONLY, tags
    _assert_valid_iob2(predicted)
    assert [len(t) for t in predicted] == [len(t) for t in _column_tags(corpora["conll_dev"].read_text())]


def test_the_entity_tagger_learns(ner_run, corpora):
    """Loss falls to well under half, and on its own training sentences the tagger beats
    always answering the most frequent tag, and finds entities."""
    run_dir, _ = ner_run
    with open(run_dir / "metrics.csv", newline="") as handle:
        losses = [float(row["loss"]) for row in csv.DictReader(handle)]
    assert len(losses) == 6 and losses[-1] < 0.5 * losses[0], losses
    out = _invoke("tag", run_dir, corpora["conll_train"])
    assert out.exit_code == 0, out.output
    gold = _column_tags(corpora["conll_train"].read_text())
    predicted = _column_tags(out.stdout)
    flat_gold = [tag for tags in gold for tag in tags]
    flat_predicted = [tag for tags in predicted for tag in tags]
    assert len(flat_predicted) == len(flat_gold)
    accuracy = sum(a == b for a, b in zip(flat_gold, flat_predicted)) / len(flat_gold)
    majority = flat_gold.count("O") / len(flat_gold)
    assert accuracy > majority + 0.1, (accuracy, majority)
    assert seqeval_metrics.f1_score(gold, predicted) > 0.5


def test_resume_after_finishing_does_nothing_more(upos_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(upos_run[0], run_dir)  # the module's run stays as it was for the other tests
    before = (run_dir / "state.json").read_text()
    result = _invoke("train", "tagger", "--run-dir", run_dir, "--resume")
    assert result.exit_code == 0, result.output
    assert "nothing to do" in result.output
    assert (run_dir / "state.json").read_text() == before


def test_conllu_output_keeps_every_other_column_and_comment(upos_run, corpora):
    run_dir, _ = upos_run
    result = _invoke("tag", run_dir, corpora["conllu_dev"])
    assert result.exit_code == 0, result.output
    original = corpora["conllu_dev"].read_text().rstrip("\n").splitlines()
    tagged = result.stdout.rstrip("\n").splitlines()
    assert len(tagged) == len(original)
    for before, after in zip(original, tagged):
        if before.startswith("#") or not before.strip() or not before.split("\t")[0].isdigit():
            assert before == after
        else:
            a, b = before.split("\t"), after.split("\t")
            assert a[:3] + a[4:] == b[:3] + b[4:]
            assert b[3] in {"DET", "ADJ", "NOUN", "VERB", "PUNCT"}


def test_tag_plain_text_from_stdin_as_json_lines(upos_run):
    run_dir, _ = upos_run
    result = _invoke("tag", run_dir, "-O", "jsonl", input="the old dog sleeps .\n\nthe road runs .\n")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["tokens"] for row in rows] == [["the", "old", "dog", "sleeps", "."], [], ["the", "road", "runs", "."]]
    assert [len(row["tags"]) for row in rows] == [5, 0, 4]


def test_sentences_longer_than_the_model_takes_are_tagged_in_chunks(upos_run):
    run_dir, _ = upos_run  # trained with data.max_len=4
    sentence = " ".join(["the", "green", "dog", "runs", "."] * 60)  # 300 tokens, an unseen word length
    result = _invoke("tag", run_dir, "-O", "conll", input=sentence + "\n")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 300 and all(len(line.split("\t")) == 2 for line in lines)


def test_evaluate_pos_prints_accuracy_and_a_per_tag_table(upos_run, corpora):
    run_dir, _ = upos_run
    result = _invoke("evaluate", run_dir, "--data", corpora["conllu_dev"])
    assert result.exit_code == 0, result.output
    assert "NOUN" in result.stdout and "accuracy:" in result.stdout
    assert "span F1" not in result.stdout
    # The printed accuracy is that of the tags `tag` writes, against the file's own tags.
    tagged = _invoke("tag", run_dir, corpora["conllu_dev"])
    assert tagged.exit_code == 0, tagged.output
    pairs = [
        (before.split("\t")[3], after.split("\t")[3])
        for before, after in zip(corpora["conllu_dev"].read_text().splitlines(), tagged.stdout.splitlines())
        if before.split("\t")[0].isdigit()
    ]
    assert len(tagged.stdout.rstrip("\n").splitlines()) == len(
        corpora["conllu_dev"].read_text().rstrip("\n").splitlines()
    )
    expected = sum(gold == predicted for gold, predicted in pairs) / len(pairs)
    assert result.stdout.count("accuracy") == 1  # said once, in the summary line
    printed = float(re.search(r"token accuracy: ([0-9.]+)", result.stdout).group(1))
    assert printed == pytest.approx(expected, abs=5e-5)
    for tag in {gold for gold, _ in pairs}:  # each tag's support is its count in the file
        row = next(line.split() for line in result.stdout.splitlines() if line.split()[:1] == [tag])
        assert int(row[-1]) == sum(gold == tag for gold, _ in pairs)


def test_evaluate_entities_agrees_with_seqeval(ner_run, corpora):
    from textlstm.api import Tagger
    from textlstm.tagger.conll import read_conll

    run_dir, _ = ner_run
    scores = Tagger(run_dir).evaluate(corpora["conll_dev"])
    gold = [sentence.tags for sentence in read_conll(corpora["conll_dev"])]
    predicted = scores["predicted"]
    assert scores["spans"]["micro"]["f1"] == pytest.approx(seqeval_metrics.f1_score(gold, predicted))
    assert scores["spans"]["micro"]["precision"] == pytest.approx(seqeval_metrics.precision_score(gold, predicted))
    assert scores["spans"]["micro"]["recall"] == pytest.approx(seqeval_metrics.recall_score(gold, predicted))
    assert scores["spans"]["micro"]["f1"] > 0  # the model finds entities: the comparison has something to compare
    report = seqeval_metrics.classification_report(gold, predicted, output_dict=True, zero_division=0)
    types = {name for name in report if not name.endswith(" avg")}
    assert set(scores["spans"]["per_type"]) == types == {"PER", "LOC", "ORG"}
    for name in types:
        for ours, theirs in (
            ("precision", "precision"),
            ("recall", "recall"),
            ("f1", "f1-score"),
            ("support", "support"),
        ):
            assert scores["spans"]["per_type"][name][ours] == pytest.approx(report[name][theirs]), (name, ours)
    result = _invoke("evaluate", run_dir, "--data", corpora["conll_dev"])
    assert result.exit_code == 0, result.output
    assert "micro avg" in result.stdout and "span F1" in result.stdout


# ---- bad input: one clear line naming the file and line, exit status 1 -------------------------


def test_wrong_number_of_columns(corpora, tmp_path):
    bad = tmp_path / "bad.conll"
    bad.write_text("Anna\tB-PER\nruns\tO\textra\n\n", encoding="utf-8")
    result = _invoke("train", "tagger", "--train", bad, "--dev", corpora["conll_dev"], "--run-dir", tmp_path / "r")
    _assert_one_error_line(result, f"{bad}:2", "expected 2 columns", "found 3")
    assert not (tmp_path / "r").exists()


def test_invalid_bio_sequence_is_reported_or_repaired(corpora, tmp_path):
    bad = tmp_path / "bad.conll"
    bad.write_text(corpora["conll_train"].read_text() + "runs\tO\nParis\tI-LOC\n\n", encoding="utf-8")
    line = len(bad.read_text().splitlines()) - 1
    result = _invoke("train", "tagger", "--train", bad, "--dev", corpora["conll_dev"], "--run-dir", tmp_path / "r")
    _assert_one_error_line(result, f"{bad}:{line}", "invalid IOB2 tag sequence", "I-LOC")
    repaired = _invoke(
        "train",
        "tagger",
        "--train",
        bad,
        "--dev",
        corpora["conll_dev"],
        "--invalid-tags",
        "repair",
        "--run-dir",
        tmp_path / "r",
        *TINY_RECIPE,
        "--max-steps",
        "1",
    )
    assert repaired.exit_code == 0, repaired.output
    assert "repaired 1 ill-formed IOB2 tag sequence" in repaired.stderr
    # capped before a whole epoch: no best.keras, and the closing line does not claim one
    assert not (tmp_path / "r" / "best.keras").exists()
    assert (
        "model (no whole epoch done: last.keras): dev accuracy" in repaired.stdout
        and "best model" not in repaired.stdout
    )


def test_empty_file(corpora, tmp_path):
    empty = tmp_path / "empty.conllu"
    empty.write_text("\n  \n", encoding="utf-8")
    result = _invoke(
        "train",
        "tagger",
        "--train",
        empty,
        "--dev",
        corpora["conllu_dev"],
        "--format",
        "conllu",
        "--run-dir",
        tmp_path / "r",
    )
    _assert_one_error_line(result, str(empty), "empty")


def test_empty_input_to_tag(upos_run):
    run_dir, _ = upos_run
    result = _invoke("tag", run_dir, input="")
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr.strip() == "note: <stdin> is empty; nothing to tag"


def test_unknown_tag_at_evaluation(upos_run, corpora, tmp_path):
    run_dir, _ = upos_run
    text = corpora["conllu_dev"].read_text().replace("\tVERB\t", "\tINTJ\t", 1)
    bad = tmp_path / "unknown.conllu"
    bad.write_text(text, encoding="utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "\tINTJ\t" in row)
    result = _invoke("evaluate", run_dir, "--data", bad)  # scored as errors, with a warning (as dev scoring)
    assert result.exit_code == 0, result.output
    assert (
        f"warning: {bad}: 1 token(s) have tags never seen in training ('INTJ'; first at line {line})" in result.stderr
    )
    assert "INTJ" in result.stdout  # a row of the per-tag table: every INTJ token is an error


def test_run_directory_of_another_kind(corpora, tmp_path):
    other = tmp_path / "lm"
    other.mkdir()
    (other / "run.json").write_text('{"kind": "charlm", "textlstm_version": "0"}', encoding="utf-8")
    _assert_one_error_line(_invoke("tag", other, corpora["conllu_dev"]), "'charlm' model", "not a 'tagger'")
    result = _invoke(
        "train", "tagger", "--train", corpora["conllu_train"], "--dev", corpora["conllu_dev"], "--run-dir", other
    )
    _assert_one_error_line(result, "already holds a 'charlm' model")


def test_missing_dev_file_and_bad_recipe_values(corpora, tmp_path):
    result = _invoke("train", "tagger", "--train", corpora["conllu_train"], "--run-dir", tmp_path / "r")
    _assert_one_error_line(result, "a training file and a dev file: --train and --dev")
    result = _invoke(
        "train",
        "tagger",
        "--train",
        corpora["conllu_train"],
        "--dev",
        corpora["conllu_dev"],
        "--set",
        "model.decoder=hmm",
        "--run-dir",
        tmp_path / "r",
    )
    _assert_one_error_line(result, "model.decoder", "crf, softmax", "'hmm'")


@pytest.mark.parametrize("key", size_keys("tagger"))
def test_train_refuses_sizes_below_one(corpora, tmp_path, key):
    result = _invoke(
        "train",
        "tagger",
        "--train",
        corpora["conllu_train"],
        "--dev",
        corpora["conllu_dev"],
        "--set",
        f"{key}=0",
        "--run-dir",
        tmp_path / "r",
    )
    _assert_one_error_line(result, f"{key} must be {spec_of('tagger', key).describe()}, got 0")
    assert not (tmp_path / "r").exists()


def test_batch_size_below_one_is_refused_by_tag_and_evaluate(upos_run, corpora):
    run_dir, _ = upos_run
    _assert_one_error_line(_invoke("tag", run_dir, corpora["conllu_dev"], "--batch-size", 0), "--batch-size")
    _assert_one_error_line(
        _invoke("evaluate", run_dir, "--data", corpora["conllu_dev"], "--batch-size", -1),
        "--batch-size (decode.batch_size) must be an integer >= 1",
        "got -1",
    )


@pytest.mark.parametrize(
    "option, value, fragment",
    [
        ("--beam-size", 3, "--beam-size is for translator (seq2seq) runs"),
        ("--length-penalty", 1.0, "--length-penalty is for translator (seq2seq) runs"),
        ("--src", "x.en", "--src is for translator (seq2seq) runs"),
    ],
)
def test_evaluate_refuses_an_option_for_another_kind_of_run(upos_run, corpora, option, value, fragment):
    run_dir, _ = upos_run
    _assert_one_error_line(
        _invoke("evaluate", run_dir, "--data", corpora["conllu_dev"], option, value), fragment, "is a tagger run"
    )
