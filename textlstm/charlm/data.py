"""Windows of characters as tf.data: a deterministic training stream and a fixed validation set.

The ids may be a NumPy array or the run's token file (`tokens.TokenFile`): windows are read
from it batch by batch, so memory does not grow with the corpus.
"""

import numpy as np
import tensorflow as tf


def window_count(ids, seq_len):
    """Non-overlapping windows of `seq_len` inputs (+1 target) that fit in the text."""
    return max(0, (len(ids) - 1) // seq_len)


def _read_windows(ids, seq_len):
    """A NumPy function: window numbers to their ids, `[len(starts), seq_len + 1]` int32, from an
    array or from a token file read on demand (`tokens.TokenFile.windows`)."""
    span = np.arange(seq_len + 1, dtype=np.int64)

    def read(starts):
        starts = starts.astype(np.int64) * seq_len
        if hasattr(ids, "windows"):
            return ids.windows(starts, seq_len + 1)
        return np.asarray(ids[(starts[:, None] + span[None, :]).ravel()], dtype=np.int32).reshape(len(starts), -1)

    return read


def _windows_op(read, starts, rows, seq_len):
    window = tf.numpy_function(read, [starts], tf.int32, stateful=False)
    window.set_shape([rows, seq_len + 1])
    return window[:, :-1], window[:, 1:]


def training_batches(ids, seq_len, batch_size, seed, start_step=0):
    """The endless stream of training batches from global step `start_step` on.

    Epoch e visits every window once in an order fixed by (seed, e), so the batch at any
    global step is the same however often training was interrupted and resumed.
    """
    windows = window_count(ids, seq_len)
    per_epoch = windows // batch_size
    read = _read_windows(ids, seq_len)

    # int32 where it fits: half the memory for the epoch's order (the same permutation as int64)
    index_type = tf.int32 if windows < 2**31 else tf.int64

    def epoch_batches(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(windows, dtype=index_type), seed=tf.stack([tf.constant(seed, tf.int64), epoch])
        )
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size, drop_remainder=True)

    first_epoch, skip = divmod(start_step, per_epoch)
    return (
        tf.data.Dataset.counter(first_epoch)
        .flat_map(epoch_batches)
        .skip(skip)
        .map(lambda starts: _windows_op(read, starts, batch_size, seq_len), num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def evaluation_window(data_recipe):
    """Characters per validation/evaluation window: `data.eval_window`, or `data.seq_len` when 0.

    Each window starts from a zero state, so its first characters are predicted with little
    context; windows longer than training's give the model the context it keeps when it
    generates (it carries its state through a whole sample), at no cost to training.
    """
    return data_recipe.get("eval_window") or data_recipe["seq_len"]


def evaluation_batches(ids, seq_len, batch_size):
    """Every window of the text once, in order (the last batch may be smaller)."""
    windows = window_count(ids, seq_len)
    read = _read_windows(ids, seq_len)
    starts = tf.data.Dataset.range(windows).batch(batch_size)
    return starts.map(lambda batch: _windows_op(read, batch, None, seq_len)).prefetch(tf.data.AUTOTUNE)
