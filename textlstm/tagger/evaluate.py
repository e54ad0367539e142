"""`textlstm evaluate` for a tagger: token accuracy, a per-tag table, and entity span scores.

The file is read the way the run's training file was (format, tag column). A gold tag the
model was never trained with is scored as an error of its type, with a warning, exactly as
dev scoring does during training (conlleval semantics).
"""

import sys

from textlstm.tagger import corpus, metrics
from textlstm.tagger.tag import predictable_tags, stderr_progress


def evaluate_tagger(tagger, data_path, batch_size=None, warn=None):
    """Scores of a loaded tagger (`textlstm.api.Tagger`) on the tagged file `data_path`. A dict:
    "sentences", "tokens", "accuracy", "per_tag" (table text), "predicted" (the tag lists), and
    for entity tags "spans" (the `metrics.span_scores` dict) and "report" (its table). Warnings
    (gold tags the model cannot predict) go to `warn(message)` (default: stderr)."""
    data = tagger.recipe["data"]
    file_format = corpus.resolve_format(data_path, tagger.tagset.get("format", data["format"]))
    sentences = corpus.read_tagged(data_path, data, file_format)
    if tagger.tagset.get("entities"):
        corpus.check_entity_tags(sentences, tagger.tagset["file_scheme"], data_path, data["invalid_tags"])
    warning = corpus.unseen_tags_warning(sentences, predictable_tags(tagger.vocabs[2], tagger.tagset), data_path)
    if warning:
        (warn or (lambda message: print(message, file=sys.stderr)))(warning)
    predicted = tagger.tag_sentences(sentences, batch_size, progress=stderr_progress(len(sentences)))
    gold = [sentence.tags for sentence in sentences]
    result = {
        "sentences": len(sentences),
        "tokens": sum(len(tags) for tags in gold),
        "accuracy": metrics.token_accuracy(gold, predicted),
        "per_tag": metrics.per_tag_table(gold, predicted),
        "predicted": predicted,
    }
    if tagger.tagset.get("entities"):
        result["spans"] = metrics.span_scores(gold, predicted, tagger.tagset["file_scheme"])
        result["report"] = metrics.format_report(result["spans"])
    return result
