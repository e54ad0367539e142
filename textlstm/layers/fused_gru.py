"""The GRU recurrence (reset gate after the recurrent matmul, the cuDNN form) as one
XLA-compiled loop with a hand-written backward pass.

Same plan as `fused_lstm.py`: the caller projects all inputs at once (input bias
included); each step does `h @ U + b_rec` and the gates; the backward loop carries only
the gradient through `h`, and the recurrent kernel and bias gradients are single large
reductions over all timesteps, done by TensorFlow's matmul after the loop. As there, the
loop is XLA-compiled for small layers and a graph loop with TensorFlow's matmul for large
ones (`use_compiled_loop`; training has its own limit, `TRAINING_STEP_MACS_FACTOR`). In the
training loops each step's gate math, forward (`_fused_step`) and backward
(`_fused_step_gradient`), is one XLA-compiled function, so in the graph loop it is one
kernel between two matmuls instead of some twenty TensorFlow ops (docs/results.md, "GRU
training, before and after the fused step kernels").

Gate order is Keras's: update (z), reset (r), candidate (h̃), and
h' = z ⊙ h + (1 − z) ⊙ h̃ with h̃ = tanh(x W_h + r ⊙ (h U_h + b_h)).
"""

import functools

import tensorflow as tf

from textlstm.layers import fused_lstm
from textlstm.layers.fused_lstm import compiled_loops, step_masks, untracked, use_compiled_loop

# The XLA-compiled inference loop of the GRU loses to the graph loop from smaller sizes
# than the LSTM's (measured single-threaded on size c, 32 x 128 -> 384: 13.2 against
# 11.7 ms for a Bidirectional layer); its training loops follow the shared limit.
INFERENCE_MAX_STEP_MACS = 1_000_000

# Its training loops stay XLA-compiled up to larger sizes than the LSTM's: with the recurrent
# kernel's gradient taken out of the compiled loop (TensorFlow's matmul), the compiled loop is
# the faster at size b (6.3M multiply-adds a step) and the graph loop at size a (50M), on one
# thread (docs/results.md, "GRU training, before and after the fused step kernels"). A
# multiple of the shared limit, so lowering that one lowers this too.
TRAINING_STEP_MACS_FACTOR = 4


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
    if training:
        batch = 32 if projected_inputs.shape[1] is None else projected_inputs.shape[1]  # as `use_compiled_loop`
        limit = TRAINING_STEP_MACS_FACTOR * fused_lstm.COMPILED_LOOP_MAX_STEP_MACS
        compiled = batch * recurrent_kernel.shape[0] * recurrent_kernel.shape[1] < limit
    else:
        compiled = use_compiled_loop(projected_inputs, recurrent_kernel, INFERENCE_MAX_STEP_MACS)
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
            states, step_saved = saved if saved is not None else _forward(*inputs, mask)
            if d_states is None:
                d_states = tf.zeros_like(states)
            previous_states = tf.concat([inputs[3][None], states[:-1]], axis=0)
            d_inputs, d_inner, d_h0 = _backward(d_states, inputs[1], previous_states, step_saved, mask)
            d_recurrent_kernel, d_recurrent_bias = _weight_gradients(d_inner, previous_states)
            grads = (d_inputs, d_recurrent_kernel, d_recurrent_bias, d_h0)
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


@tf.function(jit_compile=True)
def _fused_step(x, inner, h, keep):
    """One step's gate math after its matmul `inner = h @ U`, compiled by XLA into one kernel.

    Returns `(h', saved)` with `saved = [z, r, candidate, h U_h + b_h]` (what the backward pass
    needs, `[batch, 4 * units]`); rows where the `[batch, 1]` boolean `keep` is False keep `h`
    (None: no mask). In the graph loop this replaces about twenty TensorFlow ops, each a pass
    over memory, by one (the splits and the concatenation cost nothing in XLA).
    """
    x_z, x_r, x_h = tf.split(x, 3, axis=1)
    r_z, r_r, r_h = tf.split(inner, 3, axis=1)
    z = tf.sigmoid(x_z + r_z)
    r = tf.sigmoid(x_r + r_r)
    candidate = tf.tanh(x_h + r * r_h)
    h_new = z * h + (1.0 - z) * candidate
    if keep is not None:
        h_new = tf.where(keep, h_new, h)
    return h_new, tf.concat([z, r, candidate, r_h], axis=1)


@tf.function(jit_compile=True)
def _fused_step_gradient(d_h, saved, h_prev, mask):
    """One step's backward gate math, compiled by XLA into one kernel.

    Given the gradient `d_h` reaching the step's output and what `_fused_step` saved, returns
    `(d_inner, d_x, d_h_direct)`: the gradients of the pre-activations of the recurrent matmul
    (`[d_z, d_r, d_candidate * r]`) and of the input projection (`[d_z, d_r, d_candidate]`),
    and the part of the gradient of `h` that does not go through the matmul. `mask` is the
    step's `[batch, 1]` 0/1 float mask (None: no mask); masked rows pass `d_h` straight through.
    """
    z, r, candidate, r_h = tf.split(saved, 4, axis=1)
    d_step = d_h if mask is None else mask * d_h
    d_candidate = d_step * (1.0 - z) * (1.0 - candidate * candidate)
    d_z = d_step * (h_prev - candidate) * z * (1.0 - z)
    d_r = d_candidate * r_h * r * (1.0 - r)
    d_direct = d_step * z
    if mask is not None:
        d_direct = d_direct + (d_h - d_step)
    return (
        tf.concat([d_z, d_r, d_candidate * r], axis=1),
        tf.concat([d_z, d_r, d_candidate], axis=1),
        d_direct,
    )


def _forward(projected_inputs, recurrent_kernel, recurrent_bias, h0, mask):
    steps = tf.shape(projected_inputs)[0]
    dtype = projected_inputs.dtype
    keep = step_masks(mask)

    def body(t, h, states, saved):
        inner = tf.nn.bias_add(tf.matmul(h, recurrent_kernel), recurrent_bias)
        h_new, step_saved = _fused_step(projected_inputs[t], inner, h, None if keep is None else keep[t])
        return t + 1, h_new, states.write(t, h_new), saved.write(t, step_saved)

    arrays = [tf.TensorArray(dtype, size=steps) for _ in range(2)]
    _, _, states, saved = tf.while_loop(lambda t, *_: t < steps, body, (0, h0, *arrays), maximum_iterations=steps)
    return states.stack(), saved.stack()


def _backward_loop(d_states, recurrent_kernel, previous_states, saved, mask):
    """The sequential part of the backward pass: `(d_inputs, d_inner, d_h0)`, given the state
    before every step."""
    steps = tf.shape(d_states)[0]
    recurrent_kernel_t = tf.transpose(recurrent_kernel)
    d_inputs = tf.TensorArray(d_states.dtype, size=steps)
    d_inner = tf.TensorArray(d_states.dtype, size=steps)

    def body(t, d_h, d_inputs, d_inner):
        step_mask = None if mask is None else mask[t][:, None]
        d_rec, d_x, d_direct = _fused_step_gradient(d_h + d_states[t], saved[t], previous_states[t], step_mask)
        d_h_prev = d_direct + tf.matmul(d_rec, recurrent_kernel_t)
        return t - 1, d_h_prev, d_inputs.write(t, d_x), d_inner.write(t, d_rec)

    _, d_h0, d_inputs, d_inner = tf.while_loop(
        lambda t, *_: t >= 0,
        body,
        (steps - 1, tf.zeros_like(previous_states[0]), d_inputs, d_inner),
        maximum_iterations=steps,
    )
    return d_inputs.stack(), d_inner.stack(), d_h0


def _weight_gradients(d_inner, previous_states):
    """The recurrent kernel's and bias's gradients: one large matmul over all steps (TensorFlow's,
    also after an XLA-compiled loop, whose CPU matmul is slower) and one sum."""
    units = tf.shape(previous_states)[2]
    flat_d_inner = tf.reshape(d_inner, [-1, 3 * units])
    return (
        tf.matmul(tf.reshape(previous_states, [-1, units]), flat_d_inner, transpose_a=True),
        tf.reduce_sum(flat_d_inner, axis=0),
    )


_LOOPS = {compiled: compiled_loops((_inference, _forward, _backward_loop), compiled) for compiled in (True, False)}
_weight_gradients = tf.function(_weight_gradients, reduce_retracing=True)
