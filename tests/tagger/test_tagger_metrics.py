"""Span scores, token accuracy and the per-tag table; the span scores against seqeval's.

seqeval is a test dependency (the `test` extra): the test that compares with it imports it
directly, so a broken install fails that test instead of skipping it, and the tests that
do not need it run either way.
"""

import random
import warnings

import pytest

from textlstm.tagger import metrics

TYPES = ["PER", "LOC", "creative-work"]


def random_tags(rng, length, prefixes):
    return ["O" if rng.random() < 0.4 else f"{rng.choice(prefixes)}-{rng.choice(TYPES)}" for _ in range(length)]


def noisy_copy(rng, gold, prefixes):
    """A prediction that keeps most gold tags and corrupts some (often into ill-formed ones)."""
    return [tag if rng.random() < 0.7 else random_tags(rng, 1, prefixes)[0] for tag in gold]


@pytest.mark.parametrize("prefixes", [("B", "I"), ("B", "I", "E", "S")])
def test_span_scores_agree_with_seqeval(prefixes):
    from seqeval import metrics as seqeval_metrics

    rng = random.Random(len(prefixes))
    for _ in range(20):
        gold = [random_tags(rng, rng.randint(0, 12), prefixes) for _ in range(rng.randint(1, 8))]
        pred = [noisy_copy(rng, tags, prefixes) for tags in gold]
        scores = metrics.span_scores(gold, pred, scheme="BIOES" if "E" in prefixes else "IOB2")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # seqeval warns about undefined ratios
            report = seqeval_metrics.classification_report(gold, pred, output_dict=True)
            micro_f1 = seqeval_metrics.f1_score(gold, pred)
            micro_p = seqeval_metrics.precision_score(gold, pred)
            micro_r = seqeval_metrics.recall_score(gold, pred)
            accuracy = seqeval_metrics.accuracy_score(gold, pred)
        assert scores["micro"]["f1"] == pytest.approx(micro_f1)
        assert scores["micro"]["precision"] == pytest.approx(micro_p)
        assert scores["micro"]["recall"] == pytest.approx(micro_r)
        assert scores["accuracy"] == pytest.approx(accuracy)
        names = {"micro avg": "micro", "macro avg": "macro", "weighted avg": "weighted"}
        expected_types = {key for key in report if key not in names}
        assert set(scores["per_type"]) == expected_types
        for name, row in report.items():
            ours = scores[names[name]] if name in names else scores["per_type"][name]
            for key in ("precision", "recall", "f1-score", "support"):
                ours_key = "f1" if key == "f1-score" else key
                assert ours[ours_key] == pytest.approx(row[key]), (name, key)


def test_span_scores_by_hand():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-creative-work", "I-creative-work"]]
    pred = [["B-PER", "I-PER", "O", "B-PER"], ["I-creative-work", "I-creative-work"]]
    scores = metrics.span_scores(gold, pred)
    assert scores["per_type"]["PER"] == {
        "precision": 0.5,
        "recall": 1.0,
        "f1": pytest.approx(2 / 3),
        "support": 1,
        "predicted": 2,
        "correct": 1,
    }
    assert scores["per_type"]["LOC"]["recall"] == 0.0 and scores["per_type"]["LOC"]["f1"] == 0.0
    # I- after O still opens an entity (conlleval), so creative-work matches exactly
    assert scores["per_type"]["creative-work"]["f1"] == 1.0
    assert scores["micro"]["correct"] == 2 and scores["micro"]["predicted"] == 3
    assert scores["accuracy"] == pytest.approx(4 / 6)
    report = metrics.format_report(scores)
    assert "creative-work" in report and "micro avg" in report
    assert "accuracy" not in report  # the summary line says it


def test_span_scores_empty_and_mismatched():
    scores = metrics.span_scores([["O"]], [["O"]])
    assert scores["per_type"] == {} and scores["micro"]["f1"] == 0.0
    with pytest.raises(ValueError, match="sequence 0 has 2 gold tags but 1 predicted"):
        metrics.span_scores([["O", "O"]], [["O"]])


def test_token_accuracy_flat_and_nested():
    assert metrics.token_accuracy(["A", "B", "C", "D"], ["A", "B", "X", "D"]) == 0.75
    assert metrics.token_accuracy([["A", "B"], ["C"]], [["A", "X"], ["C"]]) == pytest.approx(2 / 3)
    assert metrics.token_accuracy([], []) == 0.0
    with pytest.raises(ValueError):
        metrics.token_accuracy(["A"], ["A", "B"])


def test_per_tag_table_for_pos():
    gold = [["NOUN", "VERB", "DET", "NOUN"]]
    pred = [["NOUN", "NOUN", "DET", "NOUN"]]
    rows = metrics.per_tag_scores(gold, pred)
    assert rows["NOUN"]["recall"] == 1.0 and rows["NOUN"]["precision"] == pytest.approx(2 / 3)
    assert rows["VERB"]["recall"] == 0.0 and rows["VERB"]["support"] == 1
    table = metrics.per_tag_table(gold, pred)
    lines = table.splitlines()
    assert lines[0].split() == ["tag", "precision", "recall", "f1", "support"]
    assert any(line.split()[0] == "VERB" for line in lines)
    assert lines[-1].split()[:2] == ["weighted", "avg"]
