"""Tagging scores: token accuracy, per-tag tables for POS, and conlleval-style entity scores.

Entity scores count exact span matches (same start, end and type) read with the lenient
conlleval rules of `schemes.spans`, per sentence, so they agree with conlleval and with
seqeval's default mode. Undefined ratios (no predictions, no gold entities) are 0.
"""

import collections

from textlstm.tagger import schemes


def _flat_pairs(gold, pred):
    """Aligned (gold, predicted) tag pairs from two flat lists or two lists of sequences."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold items but {len(pred)} predicted items")
    pairs = []
    for number, (gold_item, pred_item) in enumerate(zip(gold, pred)):
        if isinstance(gold_item, str):
            pairs.append((gold_item, pred_item))
            continue
        if len(gold_item) != len(pred_item):
            raise ValueError(f"sequence {number} has {len(gold_item)} gold tags but {len(pred_item)} predicted")
        pairs.extend(zip(gold_item, pred_item))
    return pairs


def token_accuracy(gold, pred):
    """Share of tokens whose predicted tag equals the gold tag (0.0 for no tokens).

    `gold` and `pred` are both flat tag lists or both lists of tag sequences.
    """
    pairs = _flat_pairs(gold, pred)
    if not pairs:
        return 0.0
    return sum(g == p for g, p in pairs) / len(pairs)


def _ratio(numerator, denominator):
    return numerator / denominator if denominator else 0.0


def _prf(correct, predicted, support):
    precision = _ratio(correct, predicted)
    recall = _ratio(correct, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": support,
        "predicted": predicted,
        "correct": correct,
    }


def _averages(rows):
    """Macro and support-weighted means of precision, recall and F1 over the rows."""
    total_support = sum(row["support"] for row in rows.values())
    macro, weighted = {}, {}
    for key in ("precision", "recall", "f1"):
        values = [row[key] for row in rows.values()]
        macro[key] = _ratio(sum(values), len(values))
        weighted[key] = _ratio(sum(row[key] * row["support"] for row in rows.values()), total_support)
    macro["support"] = weighted["support"] = total_support
    return macro, weighted


def span_scores(gold_seqs, pred_seqs, scheme="IOB2"):
    """Entity precision/recall/F1 per type and averaged, conlleval semantics.

    Returns a dict: "per_type" {type: {precision, recall, f1, support, predicted, correct}},
    "micro" (the headline numbers, same keys), "macro" and "weighted" (precision, recall, f1,
    support) and "accuracy" (token accuracy).
    """
    if len(gold_seqs) != len(pred_seqs):
        raise ValueError(f"{len(gold_seqs)} gold sequences but {len(pred_seqs)} predicted")
    gold_count, pred_count, correct_count = (collections.Counter() for _ in range(3))
    for number, (gold, pred) in enumerate(zip(gold_seqs, pred_seqs)):
        if len(gold) != len(pred):
            raise ValueError(f"sequence {number} has {len(gold)} gold tags but {len(pred)} predicted")
        gold_spans = set(schemes.spans(gold, scheme))
        pred_spans = set(schemes.spans(pred, scheme))
        gold_count.update(span[0] for span in gold_spans)
        pred_count.update(span[0] for span in pred_spans)
        correct_count.update(span[0] for span in gold_spans & pred_spans)
    types = sorted(set(gold_count) | set(pred_count))
    per_type = {name: _prf(correct_count[name], pred_count[name], gold_count[name]) for name in types}
    micro = _prf(sum(correct_count.values()), sum(pred_count.values()), sum(gold_count.values()))
    macro, weighted = _averages(per_type)
    return {
        "per_type": per_type,
        "micro": micro,
        "macro": macro,
        "weighted": weighted,
        "accuracy": token_accuracy(gold_seqs, pred_seqs),
    }


def _table(title, rows, footer):
    """A fixed-width table of precision/recall/F1/support rows plus footer rows."""
    width = max([len(title)] + [len(name) for name in list(rows) + list(footer)])
    header = f"{title:<{width}}  {'precision':>9}  {'recall':>9}  {'f1':>9}  {'support':>8}"
    lines = [header, "-" * len(header)]

    def line(name, row):
        return (
            f"{name:<{width}}  {row['precision']:>9.4f}  {row['recall']:>9.4f}  {row['f1']:>9.4f}  {row['support']:>8d}"
        )

    lines.extend(line(name, row) for name, row in rows.items())
    lines.append("-" * len(header))
    lines.extend(line(name, row) for name, row in footer.items())
    return "\n".join(lines)


def format_report(scores):
    """A per-entity-type table with micro, macro and weighted averages, from `span_scores`."""
    footer = {"micro avg": scores["micro"], "macro avg": scores["macro"], "weighted avg": scores["weighted"]}
    return _table("type", scores["per_type"], footer)


def per_tag_scores(gold, pred):
    """{tag: {precision, recall, f1, support, predicted, correct}} for every gold or predicted tag.

    For POS tagging the recall of a tag is its accuracy: the share of its tokens tagged right.
    """
    gold_count, pred_count, correct_count = (collections.Counter() for _ in range(3))
    for gold_tag, pred_tag in _flat_pairs(gold, pred):
        gold_count[gold_tag] += 1
        pred_count[pred_tag] += 1
        correct_count[gold_tag] += gold_tag == pred_tag
    tags = sorted(set(gold_count) | set(pred_count))
    return {tag: _prf(correct_count[tag], pred_count[tag], gold_count[tag]) for tag in tags}


def per_tag_table(gold, pred):
    """A per-tag precision / recall (= tag accuracy) / F1 / support table with macro and weighted
    averages (the token accuracy is said once, by the caller's summary line)."""
    rows = per_tag_scores(gold, pred)
    macro, weighted = _averages(rows)
    return _table("tag", rows, {"macro avg": macro, "weighted avg": weighted})
