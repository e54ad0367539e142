"""Windows of characters as tf.data: a deterministic training stream and a fixed validation set."""

import numpy as np
import tensorflow as tf


def window_count(ids, seq_len):
    """Non-overlapping windows of `seq_len` inputs (+1 target) that fit in the text."""
    return max(0, (len(ids) - 1) // seq_len)


def training_batches(ids, seq_len, batch_size, seed, start_step=0):
    """The endless stream of training batches from global step `start_step` on.

    Epoch e visits every window once in an order fixed by (seed, e), so the batch at any
    global step is the same however often training was interrupted and resumed.
    """
    windows = window_count(ids, seq_len)
    per_epoch = windows // batch_size
    ids = tf.constant(ids, dtype=tf.int32)

    def epoch_batches(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(windows, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), epoch])
        )
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size, drop_remainder=True)

    def to_example(starts):
        offsets = starts[:, None] * seq_len + tf.range(seq_len + 1, dtype=tf.int64)[None, :]
        window = tf.gather(ids, offsets)
        return window[:, :-1], window[:, 1:]

    first_epoch, skip = divmod(start_step, per_epoch)
    return (
        tf.data.Dataset.counter(first_epoch)
        .flat_map(epoch_batches)
        .skip(skip)
        .map(to_example, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def evaluation_batches(ids, seq_len, batch_size):
    """Every window of the text once, in order (the last batch may be smaller)."""
    size = window_count(ids, seq_len) * seq_len
    usable = np.asarray(ids[: size + 1], dtype=np.int32)
    inputs = usable[:size].reshape(-1, seq_len)
    targets = usable[1 : size + 1].reshape(-1, seq_len)
    return tf.data.Dataset.from_tensor_slices((inputs, targets)).batch(batch_size)
