"""Inference loops that project each next step's input beside the current step's recurrence.

The fused loops (`fused_lstm`, `fused_gru`) take the input projection `x @ W + b` of every
timestep, computed before the loop as one large matmul. On one core that is the fastest
order. On several, the loop itself (a small matmul per step, then elementwise gate math)
leaves cores idle, and a projection done up front cannot fill them: the loop waits for
it. Here, for inference with the graph loop, step t computes `x_{t+1} @ W + b` beside its
own `h @ U`; the two do not depend on each other, so TensorFlow's executor runs the
projection on an idle core while the recurrence waits on its matmul, as Keras's generic
loop (which projects `x_t` inside each step) does. `benchmarks/probe_inference_overlap.py`
measures the three orders (docs/results.md, "The input projection: up front or one step ahead").

With a single inter-op thread (`worth_overlapping`) nothing can overlap, and the layers keep
the up-front projection. The numbers are those of the up-front loop up to float rounding
(each step's projection is a matmul of its own). A gradient, if one is asked for after all,
comes from the up-front loop's hand-written backward pass, through the projection, recomputed.
"""

import functools
import os

import tensorflow as tf

from textlstm.layers.fused_gru import _step as gru_step
from textlstm.layers.fused_gru import gru_recurrence
from textlstm.layers.fused_lstm import _cell_step, lstm_recurrence, step_masks, untracked


def worth_overlapping():
    """Whether TensorFlow can run two ops at once here: more than one inter-op thread (set, or by
    default one per usable core). On one thread the up-front projection, one large matmul, is
    faster (measured at size b: 80.5 against 87.0 ms), so the layers keep it there."""
    threads = tf.config.threading.get_inter_op_parallelism_threads()
    if threads == 0:  # TensorFlow's default: one per core it may use
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return threads > 1


def project_step(inputs, kernel, bias, t):
    """`inputs[t] @ kernel + bias`: `[batch, gates * units]` for timestep `t` of time-major inputs."""
    return tf.nn.bias_add(tf.matmul(inputs[t], kernel), bias)


def project_all(inputs, kernel, bias):
    """`inputs @ kernel + bias` for every timestep, `[time, batch, gates * units]`."""
    flat = tf.nn.bias_add(tf.matmul(tf.reshape(inputs, [-1, kernel.shape[0]]), kernel), bias)
    return tf.reshape(flat, tf.concat([tf.shape(inputs)[:2], tf.shape(kernel)[1:]], axis=0))


@functools.cache
def from_inputs(inference_ahead, recurrence, masked):
    """A function of `(inputs, kernel, bias, *loop_tensors[, mask])` that runs
    `inference_ahead` forward and differentiates through `recurrence(project_all(...),
    *loop_tensors, mask, training=True)`.

    Args:
        inference_ahead: a graph function `(inputs, kernel, bias, *loop_tensors, mask)`
            returning the loop's outputs, projecting one step ahead.
        recurrence: the up-front loop with its custom gradient (`lstm_recurrence`,
            `gru_recurrence`), taking the projected inputs first.
        masked: whether a `[time, batch]` mask comes last.
    """

    @tf.custom_gradient
    def run(*tensors):
        mask = tensors[-1] if masked else None
        values = untracked(*(tensors[:-1] if masked else tensors))
        outputs = inference_ahead(*values, mask)

        def grad(*upstream):
            flat_outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
            upstream = [tf.zeros_like(o) if u is None else u for u, o in zip(upstream, flat_outputs, strict=True)]
            with tf.GradientTape() as tape:
                tape.watch(values)
                inputs, kernel, bias, *loop_tensors = values
                recomputed = recurrence(project_all(inputs, kernel, bias), *loop_tensors, mask, training=True)
                recomputed = recomputed if isinstance(recomputed, (tuple, list)) else (recomputed,)
            grads = tape.gradient(list(recomputed), values, output_gradients=upstream)
            grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, values, strict=True)]
            return (*grads, None) if masked else tuple(grads)

        return outputs, grad

    return run


def _lstm_ahead(inputs, kernel, bias, recurrent_kernel, h0, c0, mask):
    steps = tf.shape(inputs)[0]
    keep = step_masks(mask)

    def body(t, h, c, projected, states):
        following = project_step(inputs, kernel, bias, tf.minimum(t + 1, steps - 1))
        h_new, c_new, _, _ = _cell_step(
            projected + tf.matmul(h, recurrent_kernel), h, c, None if keep is None else keep[t]
        )
        return t + 1, h_new, c_new, following, states.write(t, h_new)

    states = tf.TensorArray(inputs.dtype, size=steps)
    first = project_step(inputs, kernel, bias, 0)
    _, _, last_c, _, states = tf.while_loop(
        lambda t, *_: t < steps, body, (0, h0, c0, first, states), maximum_iterations=steps
    )
    return states.stack(), last_c


def _gru_ahead(inputs, kernel, bias, recurrent_kernel, recurrent_bias, h0, mask):
    steps = tf.shape(inputs)[0]
    keep = step_masks(mask)

    def body(t, h, projected, states):
        following = project_step(inputs, kernel, bias, tf.minimum(t + 1, steps - 1))
        h_new = gru_step(projected, h, recurrent_kernel, recurrent_bias)[0]
        if keep is not None:
            h_new = tf.where(keep[t], h_new, h)
        return t + 1, h_new, following, states.write(t, h_new)

    states = tf.TensorArray(inputs.dtype, size=steps)
    first = project_step(inputs, kernel, bias, 0)
    _, _, _, states = tf.while_loop(lambda t, *_: t < steps, body, (0, h0, first, states), maximum_iterations=steps)
    return states.stack()


_LSTM_AHEAD = tf.function(_lstm_ahead, reduce_retracing=True)
_GRU_AHEAD = tf.function(_gru_ahead, reduce_retracing=True)


def lstm_inference(inputs, kernel, bias, recurrent_kernel, h0, c0, mask=None):
    """The LSTM's inference loop from the raw inputs, projecting one step ahead.

    Args:
        inputs: `[time, batch, features]` (time-major, at least one step).
        kernel: `[features, 4 * units]`; bias: `[4 * units]`; recurrent_kernel: `[units, 4 * units]`.
        h0, c0: `[batch, units]`.
        mask: optional `[time, batch]` boolean (Keras semantics, as `lstm_recurrence`).

    Returns:
        `(states [time, batch, units], last_c [batch, units])`, as `lstm_recurrence`.
    """
    tensors = [
        inputs,
        tf.convert_to_tensor(kernel),
        tf.convert_to_tensor(bias),
        tf.convert_to_tensor(recurrent_kernel),
        h0,
        c0,
    ]
    if mask is not None:
        tensors.append(tf.cast(mask, inputs.dtype))
    return from_inputs(_LSTM_AHEAD, lstm_recurrence, mask is not None)(*tensors)


def gru_inference(inputs, kernel, input_bias, recurrent_kernel, recurrent_bias, h0, mask=None):
    """The GRU's inference loop (`reset_after=True`) from the raw inputs, projecting one step ahead.

    Args:
        inputs: `[time, batch, features]` (time-major, at least one step).
        kernel: `[features, 3 * units]`; input_bias, recurrent_bias: `[3 * units]`;
        recurrent_kernel: `[units, 3 * units]`; h0: `[batch, units]`.
        mask: optional `[time, batch]` boolean.

    Returns:
        The hidden state after every step, `[time, batch, units]`, as `gru_recurrence`.
    """
    tensors = [
        inputs,
        tf.convert_to_tensor(kernel),
        tf.convert_to_tensor(input_bias),
        tf.convert_to_tensor(recurrent_kernel),
        tf.convert_to_tensor(recurrent_bias),
        h0,
    ]
    if mask is not None:
        tensors.append(tf.cast(mask, inputs.dtype))
    return from_inputs(_GRU_AHEAD, gru_recurrence, mask is not None)(*tensors)
