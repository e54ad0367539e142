"""The LSTM recurrence as one loop with a hand-written backward pass.

This is textlstm's CPU fast path (it also runs on a GPU when cuDNN cannot be used).
The caller projects the inputs of every timestep at once (one large matmul, bias
included), so each step of the loop only does `h @ U` and the elementwise gates. The
backward loop keeps only what is truly sequential (the gradient flowing through `h` and
`c`); the recurrent-kernel gradient is then one large matmul over all timesteps instead
of one small matmul per step, which is what autodiff of a loop would do.

The loop runs in one of two forms, chosen by size (`use_compiled_loop`): compiled whole
by XLA, which fuses each step's elementwise work and removes per-operation overhead (the
win for small layers), or as a TensorFlow graph loop whose per-step matmul is
TensorFlow's own (oneDNN on x86), faster than XLA's CPU matmul once the step's matmul
dominates (docs/results.md, "XLA's matmul against TensorFlow's"). Both compute the same numbers.

Gate order is Keras's: input, forget, candidate, output.
"""

import functools

import tensorflow as tf

# Above this many multiply-adds per step (batch x units x gate width), the graph loop
# with TensorFlow's matmul is faster than the XLA-compiled loop (see module docstring).
COMPILED_LOOP_MAX_STEP_MACS = 4_000_000


def use_compiled_loop(projected_inputs, recurrent_kernel, max_step_macs=None):
    """Whether the XLA-compiled loop (small layers) or the graph loop (large) runs.

    `max_step_macs` lowers the limit `COMPILED_LOOP_MAX_STEP_MACS` for one loop.
    """
    batch = projected_inputs.shape[1]
    units, width = recurrent_kernel.shape
    if batch is None:
        batch = 32  # an unknown batch: judge by the layer's width
    limit = COMPILED_LOOP_MAX_STEP_MACS if max_step_macs is None else min(max_step_macs, COMPILED_LOOP_MAX_STEP_MACS)
    return batch * units * width < limit


def lstm_recurrence(projected_inputs, recurrent_kernel, h0, c0, mask=None, training=True):
    """Run the LSTM over time given the input projections of every step.

    Args:
        projected_inputs: `[time, batch, 4 * units]`, `x @ W + b` for every step.
        recurrent_kernel: `[units, 4 * units]`.
        h0, c0: `[batch, units]` initial states.
        mask: optional `[time, batch]` boolean; where False the step is skipped and
            the states are carried over unchanged (Keras semantics).
        training: When False, run a lean loop that keeps only the states (inference
            is faster); its gradient, if one is asked for, comes from autodiff.

    Returns:
        `(states, last_c)`: the hidden state after every step `[time, batch, units]`
        and the cell state after the last step `[batch, units]`.
    """
    recurrent_kernel = tf.convert_to_tensor(recurrent_kernel)  # a Variable would need its own gradient path
    tensors = [projected_inputs, recurrent_kernel, h0, c0]
    if mask is not None:
        tensors.append(tf.cast(mask, projected_inputs.dtype))
    compiled = use_compiled_loop(projected_inputs, recurrent_kernel)
    return _differentiable_loop(lean=not training, masked=mask is not None, compiled=compiled)(*tensors)


@functools.cache
def _differentiable_loop(lean, masked, compiled):
    """The loop with our gradient attached: one variant per (lean, masked, compiled).

    The lean variant keeps nothing for the backward pass and recomputes it if a
    gradient is asked for after all; the other saves the gates as it goes.
    """
    inference, forward, backward = _LOOPS[compiled]

    @tf.custom_gradient
    def run(*tensors):
        inputs = untracked(*tensors[:4])
        mask = tensors[4] if masked else None
        saved = None if lean else forward(*inputs, mask)
        outputs = inference(*inputs, mask) if lean else (saved[0], saved[1][-1])

        def grad(d_states, d_last_c):
            states, cells, gates, tanh_cells = saved if saved is not None else forward(*inputs, mask)
            d_states, d_last_c = _zeros_for_missing(d_states, d_last_c, states, inputs[3])
            grads = backward(
                d_states, d_last_c, inputs[1], inputs[2], inputs[3], states, cells, gates, tanh_cells, mask
            )
            return (*grads, None) if masked else grads

        return outputs, grad

    return run


def untracked(*tensors):
    """Hide the inputs from autodiff: the loop's gradient is ours, and a recorded
    compiled loop would make TensorFlow build gradient accumulators XLA cannot take."""
    return [tf.stop_gradient(t) for t in tensors]


def _zeros_for_missing(d_states, d_last_c, states, c0):
    """Upstream gradients of outputs nobody used may arrive as None."""
    if d_states is None:
        d_states = tf.zeros_like(states)
    if d_last_c is None:
        d_last_c = tf.zeros_like(c0)
    return d_states, d_last_c


def _cell_step(z, h, c, keep):
    """One step given the pre-activations `z`: `(h', c', gates, tanh(c'))`; rows where the
    `[batch, 1]` boolean `keep` is False keep `h` and `c` (None: no mask)."""
    i, f, g, o = tf.split(z, 4, axis=1)
    i, f, g, o = tf.sigmoid(i), tf.sigmoid(f), tf.tanh(g), tf.sigmoid(o)
    c_new = f * c + i * g
    tanh_c = tf.tanh(c_new)
    h_new = o * tanh_c
    if keep is not None:
        h_new = tf.where(keep, h_new, h)
        c_new = tf.where(keep, c_new, c)
    return h_new, c_new, (i, f, g, o), tanh_c


def step_masks(mask):
    """The `[time, batch]` 0/1 mask as `[time, batch, 1]` booleans, made once before a loop
    so each step selects with one `tf.where` (exact, as Keras's loop does)."""
    return None if mask is None else tf.cast(mask, tf.bool)[:, :, None]


def _inference(projected_inputs, recurrent_kernel, h0, c0, mask):
    steps = tf.shape(projected_inputs)[0]
    states = tf.TensorArray(projected_inputs.dtype, size=steps)
    keep = step_masks(mask)

    def body(t, h, c, states):
        m = None if keep is None else keep[t]
        h_new, c_new, _, _ = _cell_step(projected_inputs[t] + tf.matmul(h, recurrent_kernel), h, c, m)
        return t + 1, h_new, c_new, states.write(t, h_new)

    _, _, last_c, states = tf.while_loop(lambda t, *_: t < steps, body, (0, h0, c0, states), maximum_iterations=steps)
    return states.stack(), last_c


def _forward(projected_inputs, recurrent_kernel, h0, c0, mask):
    steps = tf.shape(projected_inputs)[0]
    dtype = projected_inputs.dtype
    states = tf.TensorArray(dtype, size=steps)
    cells = tf.TensorArray(dtype, size=steps)
    gates = tf.TensorArray(dtype, size=steps)
    tanh_cells = tf.TensorArray(dtype, size=steps)
    keep = step_masks(mask)

    def body(t, h, c, states, cells, gates, tanh_cells):
        m = None if keep is None else keep[t]
        h_new, c_new, step_gates, tanh_c = _cell_step(projected_inputs[t] + tf.matmul(h, recurrent_kernel), h, c, m)
        return (
            t + 1,
            h_new,
            c_new,
            states.write(t, h_new),
            cells.write(t, c_new),
            gates.write(t, tf.concat(step_gates, axis=1)),
            tanh_cells.write(t, tanh_c),
        )

    _, _, _, states, cells, gates, tanh_cells = tf.while_loop(
        lambda t, *_: t < steps, body, (0, h0, c0, states, cells, gates, tanh_cells), maximum_iterations=steps
    )
    return states.stack(), cells.stack(), gates.stack(), tanh_cells.stack()


def _backward(d_states, d_last_c, recurrent_kernel, h0, c0, states, cells, gates, tanh_cells, mask):
    steps = tf.shape(d_states)[0]
    recurrent_kernel_t = tf.transpose(recurrent_kernel)
    previous_cells = tf.concat([c0[None], cells[:-1]], axis=0)
    d_pre = tf.TensorArray(d_states.dtype, size=steps)

    def body(t, d_h, d_c, d_pre):
        d_h = d_h + d_states[t]
        i, f, g, o = tf.split(gates[t], 4, axis=1)
        tanh_c = tanh_cells[t]
        if mask is not None:
            m = mask[t][:, None]
            d_h_step, d_c_step = m * d_h, m * d_c
            d_h_skip, d_c_skip = d_h - d_h_step, d_c - d_c_step
        else:
            d_h_step, d_c_step = d_h, d_c
        d_c_step = d_c_step + d_h_step * o * (1.0 - tanh_c * tanh_c)
        d_z = tf.concat(
            [
                d_c_step * g * i * (1.0 - i),
                d_c_step * previous_cells[t] * f * (1.0 - f),
                d_c_step * i * (1.0 - g * g),
                d_h_step * tanh_c * o * (1.0 - o),
            ],
            axis=1,
        )
        d_h_prev = tf.matmul(d_z, recurrent_kernel_t)
        d_c_prev = d_c_step * f
        if mask is not None:
            d_h_prev = d_h_prev + d_h_skip
            d_c_prev = d_c_prev + d_c_skip
        return t - 1, d_h_prev, d_c_prev, d_pre.write(t, d_z)

    _, d_h0, d_c0, d_pre = tf.while_loop(
        lambda t, *_: t >= 0, body, (steps - 1, tf.zeros_like(h0), d_last_c, d_pre), maximum_iterations=steps
    )
    d_pre = d_pre.stack()
    units = tf.shape(h0)[1]
    previous_states = tf.concat([h0[None], states[:-1]], axis=0)
    d_recurrent_kernel = tf.matmul(
        tf.reshape(previous_states, [-1, units]), tf.reshape(d_pre, [-1, 4 * units]), transpose_a=True
    )
    return d_pre, d_recurrent_kernel, d_h0, d_c0


def compiled_loops(functions, compiled):
    """The loop functions as XLA-compiled (`compiled=True`) or graph `tf.function`s."""
    return tuple(tf.function(f, jit_compile=compiled, reduce_retracing=True) for f in functions)


_LOOPS = {compiled: compiled_loops((_inference, _forward, _backward), compiled) for compiled in (True, False)}
