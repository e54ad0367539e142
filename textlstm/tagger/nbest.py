"""The K best tag sequences of each sentence with their probabilities, and their output forms.

With a CRF the K best paths come from the k-best Viterbi of `crf.nbest_viterbi_decode`, and
the probability of a path is exp(score - log Z) with log Z from the forward algorithm. A
softmax tagger's per-token distributions are independent, so its K best sequences are the
k-best paths of log-softmax scores with no transitions, and their probability is exp(score).
A sentence longer than `data.max_len` is tagged in independent chunks; its K best sequences
are the K best combinations of the chunks' lists, with probabilities multiplied.

The model may tag in another scheme than the file's (trained in BIOES, say, for an IOB2
file), and several internal sequences then read back as one output sequence (`S-per O` and
the ill-formed `B-per O` both give `B-per O`). The probability of an output sequence is the
sum over the internal sequences that give it, so `distinct_nbest` merges them, fetching
more internal sequences (4x, 16x, ... up to `MAX_FETCH` x K) until K distinct outputs are
found or none are left; the sums cover the internal sequences fetched (a lower bound).

Reference: Yang and Zhang (2018), "NCRF++: An Open-source Neural Sequence Labeling Toolkit"
(n-best decoding and its output); Lafferty et al. (2001) for the CRF.
"""

import heapq
import json

import numpy as np
import tensorflow as tf

from textlstm.tagger import data as data_lib
from textlstm.tagger.conll import _check_lengths
from textlstm.tagger.crf import crf_log_partition, nbest_viterbi_decode


def make_scorer(model, charlm=None):
    """A compiled `(words, chars, *char LM inputs) -> (emissions [B, L, T], log Z [B])`; log Z is
    0 without a CRF. `charlm` (the run's `CharLMSet`) turns frozen LMs' inputs into features."""
    crf = model.crf_layer() if hasattr(model, "crf_layer") else None

    @tf.function(reduce_retracing=True)
    def score(*inputs):
        emissions = model(charlm.model_inputs(inputs) if charlm is not None else list(inputs), training=False)
        words = inputs[0]
        mask = tf.not_equal(words, 0)
        if crf is None:
            return tf.nn.log_softmax(tf.cast(emissions, tf.float32), axis=-1), tf.zeros(tf.shape(words)[:1])
        return emissions, crf_log_partition(emissions, mask, *crf._crf_weights())

    return score, crf


def _chunk_nbest(scorer, crf, inputs, k):
    words = inputs[0]
    emissions, log_z = (np.asarray(t) for t in scorer(*(tf.constant(value) for value in inputs)))
    if crf is not None:
        weights = [np.asarray(w) for w in crf._crf_weights()]
    else:
        size = emissions.shape[-1]
        weights = [np.zeros((size, size)), np.zeros(size), np.zeros(size)]
    tags, scores = nbest_viterbi_decode(emissions, words != 0, *weights, k=k)
    return tags, scores - log_z[:, None]


def _merge(first, second, k):
    """The k best (log prob, tags) pairs of concatenating a path of `first` with one of `second`."""
    pairs = [(a + b, tags_a + tags_b) for a, tags_a in first for b, tags_b in second]
    return heapq.nlargest(k, pairs, key=lambda pair: pair[0])


def predict_nbest(scorer, crf, sentences, vocabs, data_recipe, batch_size, k, charlm=None):
    """For each sentence, up to `k` pairs `(tag ids, probability)`, best first ([([], 1.0)] for
    an empty sentence). Fewer than k when a sentence has fewer possible tag sequences
    (sequences through the padding tag are not counted). `charlm`: the run's `CharLMSet`."""
    examples = data_lib.encode_untagged(sentences, vocabs, data_recipe, charlm)
    chunks = [[] for _ in sentences]  # per sentence: (start, [(log prob, tags)])
    rows = min(batch_size, len(examples))  # one row count (one trace); no more rows than chunks
    for indexes in data_lib.sorted_batches(examples, batch_size):
        batch = [examples[i] for i in indexes]
        inputs, _ = data_lib.pad_batch(batch, rows=rows)
        tags, log_probs = _chunk_nbest(scorer, crf, inputs, k)
        for row, example in enumerate(batch):
            n = len(example)
            # a path through the padding tag (score -10000, never a real answer) is left out
            paths = [
                (float(log_probs[row, r]), [int(t) for t in tags[row, r, :n]])
                for r in range(k)
                if np.isfinite(log_probs[row, r]) and tags[row, r, :n].all()
            ]
            chunks[example.sentence].append((example.start, paths))
    results = []
    for parts in chunks:
        merged = [(0.0, [])]
        for _, paths in sorted(parts, key=lambda part: part[0]):
            merged = _merge(merged, paths, k)
        results.append([(tags, float(np.exp(log_prob))) for log_prob, tags in merged])
    return results


MAX_FETCH = 64  # at most this many internal sequences per wanted output sequence


def merge_outputs(paths, output, k):
    """Up to `k` pairs `(output tags, probability)`, best first, from `paths` (pairs `(tag ids,
    probability)`): ids that `output` maps to the same tag list are one entry, probabilities summed."""
    sums, forms = {}, {}
    for ids, prob in paths:
        tags = list(output(ids))
        key = tuple(tags)
        if key not in sums:
            sums[key], forms[key] = 0.0, tags
        sums[key] += prob
    ranked = sorted(sums, key=lambda key: -sums[key])  # stable: ties keep the first-seen order
    return [(forms[key], sums[key]) for key in ranked[:k]]


def distinct_nbest(scorer, crf, sentences, vocabs, data_recipe, batch_size, k, output, charlm=None):
    """For each sentence, up to `k` pairs `(output tags, probability)`, best first, with
    distinct output tags (`output` maps tag ids to output tags; see the module docstring)."""
    results = [None] * len(sentences)
    pending = list(range(len(sentences)))
    fetch = 4 * k
    while pending:
        paths = predict_nbest(
            scorer, crf, [sentences[i] for i in pending], vocabs, data_recipe, batch_size, fetch, charlm
        )
        left = []
        for i, candidates in zip(pending, paths):
            results[i] = merge_outputs(candidates, output, k)
            if len(results[i]) < k and len(candidates) == fetch and fetch < MAX_FETCH * k:
                left.append(i)  # more internal sequences exist and may give new outputs
        pending, fetch = left, min(4 * fetch, MAX_FETCH * k)
    return results


def write_jsonl_nbest(sentences, nbest):
    """One JSON object per sentence: {"tokens", "tags" (the best), "n_best": [{"tags", "prob"}]}."""
    _check_lengths(sentences, [paths[0][0] for paths in nbest])
    return "".join(
        json.dumps(
            {
                "tokens": list(sentence.tokens),
                "tags": list(paths[0][0]),
                "n_best": [{"tags": list(tags), "prob": prob} for tags, prob in paths],
            },
            ensure_ascii=False,
        )
        + "\n"
        for sentence, paths in zip(sentences, nbest)
    )


def write_conll_nbest(sentences, nbest, k):
    """Column text with K tag columns: the input's tag field (or a new last field) becomes the
    best tag, followed by the 2nd ... K-th best ("_" where a sentence has fewer paths); each
    sentence is preceded by a line "# n_best_probs = p1 p2 ... pK"."""
    _check_lengths(sentences, [paths[0][0] for paths in nbest])
    blocks = []
    for sentence, paths in zip(sentences, nbest):
        probs = " ".join(f"{prob:.6g}" for _, prob in paths) + " _" * (k - len(paths))
        lines = [f"# n_best_probs = {probs}"]
        columns = sentence.columns or [[token] for token in sentence.tokens]
        for position, fields in enumerate(columns):
            tags = [path[position] for path, _ in paths] + ["_"] * (k - len(paths))
            fields = list(fields)
            if sentence.columns is not None and sentence.tag_column is not None:
                fields[sentence.tag_column : sentence.tag_column + 1] = tags
            else:
                fields.extend(tags)
            lines.append(sentence.separator.join(fields))
        blocks.append("\n".join(lines) + "\n\n" if sentence.tokens else "\n")
    return "".join(blocks)
