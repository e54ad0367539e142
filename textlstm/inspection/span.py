"""Memory span: how far back a char LM's prediction depends on its input.

For windows of the text of `distance` characters, the gradient of the log-probability of
the character that follows the window with respect to the embedding of the input k steps
back (k = 1 is the character just read) is measured; its norm, averaged over windows, is
the sensitivity at distance k. The effective memory span is the first distance where the
sensitivity falls below 1% of its value at k = 1.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from textlstm.charlm.model import recurrent_layers

THRESHOLD = 0.01
BATCH = 8  # windows per gradient computation: bounds memory for long windows


@dataclasses.dataclass
class MemorySpan:
    """`sensitivity[k - 1]` is the mean gradient norm at distance k; `span` is None when the
    sensitivity never fell below `threshold` of its k=1 value within `distance`."""

    sensitivity: np.ndarray
    span: int | None
    windows: int
    threshold: float = THRESHOLD

    @property
    def distance(self):
        return len(self.sensitivity)

    def describe(self):
        if self.span is None:
            return (
                f"effective memory span > {self.distance} characters (sensitivity stayed above "
                f"{self.threshold:.0%} of its k=1 value; {self.windows} windows)"
            )
        return (
            f"effective memory span: {self.span} characters (sensitivity below {self.threshold:.0%} "
            f"of its k=1 value; {self.distance} distances, {self.windows} windows)"
        )


def window_starts(length, distance, windows):
    """Evenly spaced starts of `windows` windows of `distance` inputs plus one target."""
    last = length - distance - 1
    return np.unique(np.linspace(0, last, num=min(windows, last + 1)).round().astype(int))


def input_sensitivity(model, inputs, targets):
    """`[batch, time]` gradient norms of log p(target | inputs) w.r.t. each input embedding."""
    embedded = model.get_layer("embedding")(tf.constant(inputs))
    with tf.GradientTape() as tape:
        tape.watch(embedded)
        x = embedded
        for layer in recurrent_layers(model):
            x = layer(x, training=False)
        logits = model.get_layer("logits")(x[:, -1])
        log_probs = tf.nn.log_softmax(logits, axis=-1)
        chosen = tf.gather(log_probs, tf.constant(targets), axis=1, batch_dims=1)
        total = tf.reduce_sum(chosen)  # windows are independent: each gets its own gradient
    return tf.norm(tape.gradient(total, embedded), axis=-1).numpy()


def memory_span(model, char_ids, distance=1000, windows=16, threshold=THRESHOLD):
    """The `MemorySpan` of `model` on `char_ids`; None if the text has fewer than 3 characters.

    `distance` is shortened to fit the text (each window needs one more character as target).
    """
    char_ids = np.asarray(char_ids, dtype=np.int32)
    distance = min(distance, len(char_ids) - 1)
    if distance < 2:
        return None
    starts = window_starts(len(char_ids), distance, windows)
    totals = np.zeros(distance, dtype=np.float64)
    for begin in range(0, len(starts), BATCH):
        chunk = starts[begin : begin + BATCH]
        inputs = np.stack([char_ids[s : s + distance] for s in chunk])
        targets = char_ids[chunk + distance]
        totals += input_sensitivity(model, inputs, targets)[:, ::-1].sum(axis=0)
    sensitivity = totals / len(starts)
    below = np.nonzero(sensitivity < threshold * sensitivity[0])[0]
    span = int(below[0]) + 1 if len(below) else None
    return MemorySpan(sensitivity.astype(np.float32), span, len(starts), threshold)
