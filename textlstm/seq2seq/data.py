"""Parallel corpora and the batches that train on them.

Pairs come from two line-aligned files or one tab-separated file. Training batches are
made by length bucketing: each epoch shuffles the pairs with a seed fixed by
(seed, epoch), sorts each pool of `POOL_BATCHES` batches by length, cuts it into batches
and shuffles the batch order, so every batch holds sentences of similar length (little
padding) while the order still changes from epoch to epoch. The batch at a global step
depends only on that step, which lets `--resume` see the very batches an uninterrupted
run would.
"""

import functools

import numpy as np
import tensorflow as tf

from textlstm.errors import ParameterError, UserError
from textlstm.seq2seq.subwords import BOS_ID, EOS_ID, PAD_ID
from textlstm.textio import read_lines
from textlstm.training import batches_from_step

POOL_BATCHES = 50  # batches sorted by length together; larger = less padding, less randomness


# the recipe keys of the parallel files, named by a refusal (on the command line: --src, --tgt, --tsv)
_PARALLEL_FILES = {name: (f"data.{name}", None, f"data.{name}") for name in ("src", "tgt", "tsv")}


def read_parallel(source_path="", target_path="", tsv_path=""):
    """`(source_lines, target_lines, description)` from --src/--tgt or one TSV file."""
    if tsv_path:
        if source_path or target_path:
            raise ParameterError(
                "give either a tab-separated file ({tsv}) or source and target files ({src}, {tgt}), not both",
                **_PARALLEL_FILES,
            )
        sources, targets = [], []
        for number, line in enumerate(read_lines(tsv_path), start=1):
            fields = line.split("\t")
            if len(fields) != 2:
                raise UserError(
                    f"{tsv_path}, line {number}: expected a source and a target separated by "
                    f"one tab, found {len(fields) - 1} tabs"
                )
            sources.append(fields[0])
            targets.append(fields[1])
        return sources, targets, str(tsv_path)
    if not source_path or not target_path:
        raise ParameterError(
            "parallel data need both a source file ({src}) and a target file ({tgt}), or a tab-separated file ({tsv})",
            **_PARALLEL_FILES,
        )
    sources, targets = read_lines(source_path), read_lines(target_path)
    if len(sources) != len(targets):
        raise UserError(
            f"parallel files are misaligned: {source_path} has {len(sources):,} lines but "
            f"{target_path} has {len(targets):,}"
        )
    return sources, targets, f"{source_path} + {target_path}"


def filter_pairs(source_ids, target_ids, max_length):
    """Keep pairs with both sides non-empty and at most `max_length` subwords.

    Returns `(sources, targets, dropped)` where dropped counts `empty` and `too_long` pairs.
    """
    kept_source, kept_target, dropped = [], [], {"empty": 0, "too_long": 0}
    for source, target in zip(source_ids, target_ids):
        if not source or not target:
            dropped["empty"] += 1
        elif len(source) > max_length or len(target) > max_length:
            dropped["too_long"] += 1
        else:
            kept_source.append(source)
            kept_target.append(target)
    return kept_source, kept_target, dropped


def pad(sequences, length=None):
    """Right-pad id lists with PAD_ID into an int32 array `[len(sequences), length]`."""
    length = length or max(len(s) for s in sequences)
    array = np.full((len(sequences), length), PAD_ID, np.int32)
    for row, sequence in enumerate(sequences):
        array[row, : len(sequence)] = sequence
    return array


def make_example(sources, targets):
    """Teacher forcing: the decoder reads BOS + target and predicts target + EOS."""
    inputs = {"source": pad(sources), "target_in": pad([[BOS_ID] + t for t in targets])}
    return inputs, pad([t + [EOS_ID] for t in targets])


def _epoch_batches(lengths, batch_size, seed, epoch):
    """The index batches of one epoch, in training order."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    pool = batch_size * POOL_BATCHES
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        pooled = [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
        batches.extend(pooled[i] for i in rng.permutation(len(pooled)))
    return batches


def batches_per_epoch(pair_count, batch_size):
    pool = batch_size * POOL_BATCHES
    full, rest = divmod(pair_count, pool)
    return full * POOL_BATCHES + -(-rest // batch_size)


def _signature():
    ids = tf.TensorSpec((None, None), tf.int32)
    return {"source": ids, "target_in": ids}, ids


def training_batches(sources, targets, batch_size, seed, start_step=0):
    """The endless stream of training batches from global step `start_step` on."""
    lengths = np.array([max(len(s), len(t)) for s, t in zip(sources, targets)])
    per_epoch = batches_per_epoch(len(sources), batch_size)

    def generate():
        one_epoch = functools.partial(_epoch_batches, lengths, batch_size, seed)
        for batch in batches_from_step(start_step, per_epoch, one_epoch):
            yield make_example([sources[i] for i in batch], [targets[i] for i in batch])

    return tf.data.Dataset.from_generator(generate, output_signature=_signature()).prefetch(2)


def evaluation_batches(sources, targets, batch_size):
    """Every pair once, sorted by length (fixed order, little padding)."""
    order = sorted(range(len(sources)), key=lambda i: (len(sources[i]), len(targets[i])))
    examples = [
        make_example([sources[i] for i in order[s : s + batch_size]], [targets[i] for i in order[s : s + batch_size]])
        for s in range(0, len(order), batch_size)
    ]
    dataset = tf.data.Dataset.from_generator(lambda: iter(examples), output_signature=_signature())
    return dataset.apply(tf.data.experimental.assert_cardinality(len(examples)))  # a known end: no warning
