"""The tagger end to end through the CLI: train → tag → evaluate on tiny generated CoNLL-U and
CoNLL files, resume, output formats, agreement with seqeval, and every bad input of the issue.

Two tiny models (a UPOS tagger on CoNLL-U, an entity tagger on CoNLL columns) are trained
once for the module and shared by the tests.
"""

import json

import pytest
from tagger_helpers import TINY_RECIPE, conll_text, conllu_text

from cli_helpers import assert_one_error_line as _assert_one_error_line
from cli_helpers import invoke as _invoke


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    root = tmp_path_factory.mktemp("tagger-data")
    files = {
        "conllu_train": conllu_text(1, 16), "conllu_dev": conllu_text(2, 6),
        "conll_train": conll_text(3, 16), "conll_dev": conll_text(4, 6, docstart=False),
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
    result = _invoke("train", "tagger", "--train", corpora["conllu_train"], "--dev", corpora["conllu_dev"],
                     "--format", "conllu", "--column", "upos", "--run-dir", run_dir, *TINY_RECIPE,
                     "--set", "data.max_len=4")
    assert result.exit_code == 0, result.output
    return run_dir, result


@pytest.fixture(scope="module")
def ner_run(corpora):
    run_dir = corpora["root"] / "ner-run"
    result = _invoke("train", "tagger", "--train", corpora["conll_train"], "--dev", corpora["conll_dev"],
                     "--scheme", "BIOES", "--run-dir", run_dir, *TINY_RECIPE, "--set", "model.char_features=lstm")
    assert result.exit_code == 0, result.output
    return run_dir, result


def test_train_writes_a_complete_run_directory(upos_run):
    run_dir, result = upos_run
    for name in ("run.json", "recipe.toml", "words.json", "chars.json", "tags.json", "tagset.json",
                 "best.keras", "last.keras", "state.json", "metrics.csv"):
        assert (run_dir / name).is_file(), name
    assert json.loads((run_dir / "run.json").read_text())["kind"] == "tagger"
    header = (run_dir / "metrics.csv").read_text().splitlines()[0]
    assert "val_accuracy" in header and "val_f1" not in header
    assert "epoch 2: dev accuracy" in result.output and "best model: dev accuracy" in result.output
    assert "ghost" not in (run_dir / "words.json").read_text()  # empty nodes are not tagged


def test_entity_run_reports_f1_and_keeps_the_file_scheme(ner_run, corpora):
    run_dir, result = ner_run
    assert "val_f1" in (run_dir / "metrics.csv").read_text().splitlines()[0]
    tagset = json.loads((run_dir / "tagset.json").read_text())
    assert tagset == {"entities": True, "file_scheme": "IOB2", "model_scheme": "BIOES", "format": "conll"}
    assert "S-PER" in (run_dir / "tags.json").read_text()
    out = _invoke("tag", run_dir, corpora["conll_dev"])
    assert out.exit_code == 0, out.output
    tags = {line.split("\t")[1] for line in out.stdout.splitlines() if line.strip()}
    assert not tags & {"S-PER", "E-PER", "S-LOC", "E-LOC", "S-ORG", "E-ORG"}  # written back in IOB2


def test_resume_after_finishing_does_nothing_more(upos_run):
    run_dir, _ = upos_run
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
    assert "token accuracy" in result.stdout and "NOUN" in result.stdout and "accuracy:" in result.stdout
    assert "span F1" not in result.stdout


def test_evaluate_entities_agrees_with_seqeval(ner_run, corpora):
    seqeval_metrics = pytest.importorskip("seqeval.metrics")
    from textlstm.tagger.conll import read_conll
    from textlstm.tagger.evaluate import evaluate_tagger

    run_dir, _ = ner_run
    scores = evaluate_tagger(run_dir, corpora["conll_dev"])
    gold = [sentence.tags for sentence in read_conll(corpora["conll_dev"])]
    predicted = scores["predicted"]
    assert scores["spans"]["micro"]["f1"] == pytest.approx(seqeval_metrics.f1_score(gold, predicted))
    assert scores["spans"]["micro"]["precision"] == pytest.approx(seqeval_metrics.precision_score(gold, predicted))
    assert scores["spans"]["micro"]["recall"] == pytest.approx(seqeval_metrics.recall_score(gold, predicted))
    report = seqeval_metrics.classification_report(gold, predicted, output_dict=True, zero_division=0)
    for name, row in scores["spans"]["per_type"].items():
        if name in report:
            assert row["f1"] == pytest.approx(report[name]["f1-score"])
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
    repaired = _invoke("train", "tagger", "--train", bad, "--dev", corpora["conll_dev"], "--invalid-tags", "repair",
                       "--run-dir", tmp_path / "r", *TINY_RECIPE, "--max-steps", "1")
    assert repaired.exit_code == 0, repaired.output
    assert "repaired 1 ill-formed IOB2 tag sequence" in repaired.stderr


def test_empty_file(corpora, tmp_path):
    empty = tmp_path / "empty.conllu"
    empty.write_text("\n  \n", encoding="utf-8")
    result = _invoke("train", "tagger", "--train", empty, "--dev", corpora["conllu_dev"], "--format", "conllu",
                     "--run-dir", tmp_path / "r")
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
    assert f"warning: {bad}: 1 token(s) have tags never seen in training ('INTJ'; first at line {line})" \
        in result.stderr
    assert "INTJ" in result.stdout  # a row of the per-tag table: every INTJ token is an error


def test_run_directory_of_another_kind(corpora, tmp_path):
    other = tmp_path / "lm"
    other.mkdir()
    (other / "run.json").write_text('{"kind": "charlm", "textlstm_version": "0"}', encoding="utf-8")
    _assert_one_error_line(_invoke("tag", other, corpora["conllu_dev"]), "'charlm' model", "not a 'tagger'")
    result = _invoke("train", "tagger", "--train", corpora["conllu_train"], "--dev", corpora["conllu_dev"],
                     "--run-dir", other)
    _assert_one_error_line(result, "already holds a 'charlm' model")


def test_missing_dev_file_and_bad_recipe_values(corpora, tmp_path):
    result = _invoke("train", "tagger", "--train", corpora["conllu_train"], "--run-dir", tmp_path / "r")
    _assert_one_error_line(result, "--dev FILE")
    result = _invoke("train", "tagger", "--train", corpora["conllu_train"], "--dev", corpora["conllu_dev"],
                     "--set", "model.decoder=hmm", "--run-dir", tmp_path / "r")
    _assert_one_error_line(result, "model.decoder", "crf, softmax", "'hmm'")
    result = _invoke("train", "tagger", "--train", corpora["conllu_train"], "--dev", corpora["conllu_dev"],
                     "--set", "train.batch_size=0", "--run-dir", tmp_path / "r")
    _assert_one_error_line(result, "train.batch_size must be an integer >= 1 and <= 1_000_000, got 0")


def test_batch_size_below_one_is_refused_by_tag_and_evaluate(upos_run, corpora):
    run_dir, _ = upos_run
    _assert_one_error_line(_invoke("tag", run_dir, corpora["conllu_dev"], "--batch-size", 0), "--batch-size")
    _assert_one_error_line(_invoke("evaluate", run_dir, "--data", corpora["conllu_dev"], "--batch-size", -1),
                           "--batch-size (decode.batch_size) must be an integer >= 1", "got -1")
