"""The GRU recurrence (reset gate after the recurrent matmul, the cuDNN form) as one
XLA-compiled loop with a hand-written backward pass.

Same plan as `fused_lstm.py`: the caller projects all inputs at once (input bias
included); each step does `h @ U + b_rec` and the gates; the backward loop carries only
the gradient through `h`, and the recurrent kernel and bias gradients are single large
reductions over all timesteps. As there, the loop is XLA-compiled for small layers and
a graph loop with TensorFlow's matmul for large ones (`use_compiled_loop`).

Gate order is Keras's: update (z), reset (r), candidate (h̃), and
h' = z ⊙ h + (1 − z) ⊙ h̃ with h̃ = tanh(x W_h + r ⊙ (h U_h + b_h)).
"""

import functools

import tensorflow as tf

from textlstm.layers.fused_lstm import compiled_loops, step_masks, untracked, use_compiled_loop

# The XLA-compiled inference loop of the GRU loses to the graph loop from smaller sizes
# than the LSTM's (measured single-threaded on size c, 32 x 128 -> 384: 13.2 against
# 11.7 ms for a Bidirectional layer); its training loops follow the shared limit.
INFERENCE_MAX_STEP_MACS = 1_000_000


def gru_recurrence(projected_inputs, recurrent_kernel, recurrent_bias, h0, mask=None, training=True):
    """Run the GRU over time given the input projections of every step.

    Args:
        projected_inputs: `[time, batch, 3 * units]`, `x @ W + b_input` for every step.
        recurrent_kernel: `[units, 3 * units]`.
        recurrent_bias: `[3 * units]` (zeros when the layer has no bias).
        h0: `[batch, units]` initial state.
        mask: optional `[time, batch]` boolean; where False the step is skipped.
        training: When False, run a lean loop that keeps only the states; its
            gradient, if one is asked for, comes from autodiff.

    Returns:
        The hidden state after every step, `[time, batch, units]`.
    """
    recurrent_kernel = tf.convert_to_tensor(recurrent_kernel)  # a Variable would need its own gradient path
    tensors = [projected_inputs, recurrent_kernel, tf.convert_to_tensor(recurrent_bias), h0]
    if mask is not None:
        tensors.append(tf.cast(mask, projected_inputs.dtype))
    compiled = use_compiled_loop(projected_inputs, recurrent_kernel, None if training else INFERENCE_MAX_STEP_MACS)
    return _differentiable_loop(lean=not training, masked=mask is not None, compiled=compiled)(*tensors)


@functools.cache
def _differentiable_loop(lean, masked, compiled):
    """The loop with our gradient attached: one variant per (lean, masked, compiled).

    The lean variant keeps nothing for the backward pass and recomputes it if a
    gradient is asked for after all; the other saves the gates as it goes.
    """
    _inference, _forward, _backward = _LOOPS[compiled]

    @tf.custom_gradient
    def run(*tensors):
        inputs = untracked(*tensors[:4])
        mask = tensors[4] if masked else None
        saved = None if lean else _forward(*inputs, mask)
        states = _inference(*inputs, mask) if lean else saved[0]

        def grad(d_states):
            recomputed = saved if saved is not None else _forward(*inputs, mask)
            grads = _backward(d_states, inputs[1], inputs[3], *recomputed, mask)
            return (*grads, None) if masked else grads

        return states, grad

    return run


def _step(x, h, recurrent_kernel, recurrent_bias):
    """One GRU step: `(h_new, z, r, candidate, recurrent candidate pre-activation)`."""
    x_z, x_r, x_h = tf.split(x, 3, axis=1)
    r_z, r_r, r_h = tf.split(tf.nn.bias_add(tf.matmul(h, recurrent_kernel), recurrent_bias), 3, axis=1)
    z = tf.sigmoid(x_z + r_z)
    r = tf.sigmoid(x_r + r_r)
    candidate = tf.tanh(x_h + r * r_h)
    return z * h + (1.0 - z) * candidate, z, r, candidate, r_h


def _inference(projected_inputs, recurrent_kernel, recurrent_bias, h0, mask):
    steps = tf.shape(projected_inputs)[0]
    keep = step_masks(mask)

    def body(t, h, states):
        h_new = _step(projected_inputs[t], h, recurrent_kernel, recurrent_bias)[0]
        if keep is not None:
            h_new = tf.where(keep[t], h_new, h)
        return t + 1, h_new, states.write(t, h_new)

    states = tf.TensorArray(projected_inputs.dtype, size=steps)
    _, _, states = tf.while_loop(lambda t, *_: t < steps, body, (0, h0, states), maximum_iterations=steps)
    return states.stack()


def _forward(projected_inputs, recurrent_kernel, recurrent_bias, h0, mask):
    steps = tf.shape(projected_inputs)[0]
    dtype = projected_inputs.dtype
    arrays = [tf.TensorArray(dtype, size=steps) for _ in range(3)]
    keep = step_masks(mask)

    def body(t, h, states, gates, recurrent_candidates):
        h_new, z, r, candidate, r_h = _step(projected_inputs[t], h, recurrent_kernel, recurrent_bias)
        if keep is not None:
            h_new = tf.where(keep[t], h_new, h)
        return (
            t + 1,
            h_new,
            states.write(t, h_new),
            gates.write(t, tf.concat([z, r, candidate], axis=1)),
            recurrent_candidates.write(t, r_h),
        )

    _, _, states, gates, recurrent_candidates = tf.while_loop(
        lambda t, *_: t < steps, body, (0, h0, *arrays), maximum_iterations=steps
    )
    return states.stack(), gates.stack(), recurrent_candidates.stack()


def _backward(d_states, recurrent_kernel, h0, states, gates, recurrent_candidates, mask):
    if d_states is None:
        d_states = tf.zeros_like(states)
    steps = tf.shape(d_states)[0]
    recurrent_kernel_t = tf.transpose(recurrent_kernel)
    previous_states = tf.concat([h0[None], states[:-1]], axis=0)
    d_inputs = tf.TensorArray(d_states.dtype, size=steps)
    d_recurrent = tf.TensorArray(d_states.dtype, size=steps)

    def body(t, d_h, d_inputs, d_recurrent):
        d_h = d_h + d_states[t]
        z, r, candidate = tf.split(gates[t], 3, axis=1)
        h_prev = previous_states[t]
        d_step = d_h if mask is None else mask[t][:, None] * d_h
        d_candidate = d_step * (1.0 - z) * (1.0 - candidate * candidate)
        d_z = d_step * (h_prev - candidate) * z * (1.0 - z)
        d_r = d_candidate * recurrent_candidates[t] * r * (1.0 - r)
        d_rec = tf.concat([d_z, d_r, d_candidate * r], axis=1)
        d_h_prev = d_step * z + tf.matmul(d_rec, recurrent_kernel_t)
        if mask is not None:
            d_h_prev = d_h_prev + (d_h - d_step)
        return (
            t - 1,
            d_h_prev,
            d_inputs.write(t, tf.concat([d_z, d_r, d_candidate], axis=1)),
            d_recurrent.write(t, d_rec),
        )

    _, d_h0, d_inputs, d_recurrent = tf.while_loop(
        lambda t, *_: t >= 0, body, (steps - 1, tf.zeros_like(h0), d_inputs, d_recurrent), maximum_iterations=steps
    )
    d_recurrent = d_recurrent.stack()
    units = tf.shape(h0)[1]
    flat_d_recurrent = tf.reshape(d_recurrent, [-1, 3 * units])
    d_recurrent_kernel = tf.matmul(tf.reshape(previous_states, [-1, units]), flat_d_recurrent, transpose_a=True)
    d_recurrent_bias = tf.reduce_sum(flat_d_recurrent, axis=0)
    return d_inputs.stack(), d_recurrent_kernel, d_recurrent_bias, d_h0


_LOOPS = {compiled: compiled_loops((_inference, _forward, _backward), compiled) for compiled in (True, False)}
