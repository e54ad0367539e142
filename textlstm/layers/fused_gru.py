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

For training, `gru_training` runs the same loops on pieces of time, each projecting its own
inputs, so that on a second core the projection of later pieces (forward) and the input, kernel
and recurrent-kernel gradients of finished pieces (backward) run beside the sequential loop. The
projections run one after another in time order, so the first piece's is never left waiting
behind the others'.

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
# kernel's gradient taken out of the compiled loop (TensorFlow's matmul) and the sequence in
# pieces of time whose large matmuls run beside the loop, the compiled loop is the faster with
# both cores at size a of benchmarks/bench_layers.py (50M multiply-adds a step) and at 100M, the
# graph loop at 200M (docs/results.md, "GRU training at size a, compiled"). A multiple of the
# shared limit, so lowering that one lowers this too.
TRAINING_STEP_MACS_FACTOR = 32


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
        compiled = _trains_compiled(projected_inputs.shape[1], *recurrent_kernel.shape)
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
            states, step_saved, _ = saved if saved is not None else _forward(*inputs, mask)
            if d_states is None:
                d_states = tf.zeros_like(states)
            previous_states = tf.concat([inputs[3][None], states[:-1]], axis=0)
            d_inputs, d_inner, d_h0 = _backward(
                d_states, tf.zeros_like(inputs[3]), inputs[1], previous_states, step_saved, mask
            )
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
    _, last, states, saved = tf.while_loop(lambda t, *_: t < steps, body, (0, h0, *arrays), maximum_iterations=steps)
    return states.stack(), saved.stack(), last


def _backward_loop(d_states, d_last, recurrent_kernel, previous_states, saved, mask):
    """The sequential part of the backward pass: `(d_inputs, d_inner, d_h0)`, given the state
    before every step and the gradient `d_last` reaching the last state from beyond the loop."""
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
        (steps - 1, d_last, d_inputs, d_inner),
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


# Training cuts the sequence into this many pieces of time (`gru_training`) when a step's
# recurrent matmul has at least `CHUNKED_MIN_STEP_MACS` multiply-adds and each piece keeps at
# least `MIN_CHUNK_STEPS` steps: 4 pieces are the fastest at sizes a and b of
# benchmarks/bench_layers.py, one piece at size c (docs/results.md, "GRU training in pieces of time").
TRAINING_CHUNKS = 4
CHUNKED_MIN_STEP_MACS = 4_000_000
MIN_CHUNK_STEPS = 8


def _step_macs(batch, units, width):
    """Multiply-adds of one step's recurrent matmul `[batch, units] @ [units, width]`; an unknown
    batch (None) counts as 32, as in `use_compiled_loop`."""
    return (32 if batch is None else batch) * units * width


def _trains_compiled(batch, units, width):
    """Whether training runs the XLA-compiled loop (else the graph loop): its own limit,
    `TRAINING_STEP_MACS_FACTOR` times the shared one."""
    return _step_macs(batch, units, width) < TRAINING_STEP_MACS_FACTOR * fused_lstm.COMPILED_LOOP_MAX_STEP_MACS


def training_chunks(steps, batch, units):
    """How many pieces of time `gru_training` cuts a sequence of `steps` into (1: none).

    `steps` or `batch` may be None (unknown when the graph is built).
    """
    if _step_macs(batch, units, 3 * units) < CHUNKED_MIN_STEP_MACS:
        return 1
    if steps is None:
        return TRAINING_CHUNKS
    return max(1, min(TRAINING_CHUNKS, steps // MIN_CHUNK_STEPS))


def gru_training(inputs, kernel, input_bias, recurrent_kernel, recurrent_bias, h0, mask=None, chunks=TRAINING_CHUNKS):
    """The GRU's training loop from the raw inputs, in `chunks` pieces of time.

    Each piece projects its inputs (`x @ W + b_input`, one matmul) and runs the recurrence from
    the state the previous piece ended with. The projection of a piece does not wait for the
    recurrence of the ones before it, nor, in the backward pass, the gradients of a piece's
    inputs, kernel and recurrent kernel (three large matmuls) for the pieces before it: on
    several cores TensorFlow's executor runs them beside the sequential loop instead of before
    or after it. The numbers are those of `gru_recurrence` after one projection up to float
    rounding (the weight gradients are sums over pieces).

    Args:
        inputs: `[time, batch, features]` (time-major).
        kernel: `[features, 3 * units]`; input_bias, recurrent_bias: `[3 * units]`;
        recurrent_kernel: `[units, 3 * units]`; h0: `[batch, units]`.
        mask: optional `[time, batch]` boolean.
        chunks: the number of pieces (`training_chunks`); with an unknown number of steps, a
            piece may be empty.

    Returns:
        The hidden state after every step, `[time, batch, units]`, as `gru_recurrence`.
    """
    tensors = [inputs, *map(tf.convert_to_tensor, (kernel, input_bias, recurrent_kernel, recurrent_bias)), h0]
    compiled = _trains_compiled(inputs.shape[1], *tensors[3].shape)
    if mask is not None:
        tensors.append(tf.cast(mask, inputs.dtype))
    return _chunked_loop(mask is not None, compiled, chunks, inputs.shape[0])(*tensors)


@functools.cache
def _chunked_loop(masked, compiled, chunks, static_steps):
    """`gru_training`'s differentiable function, one per (masked, compiled, chunks, steps)."""
    _, forward, backward = _LOOPS[compiled]

    @tf.custom_gradient
    def run(*tensors):
        inputs, kernel, input_bias, recurrent_kernel, recurrent_bias, h0 = untracked(*tensors[:6])
        mask = tensors[6] if masked else None
        steps = tf.shape(inputs)[0] if static_steps is None else static_steps
        bounds = [(k * steps // chunks, (k + 1) * steps // chunks) for k in range(chunks)]
        pieces = []  # (inputs, mask, first state, states, saved) of each piece
        h = h0
        projected = None
        for start, end in bounds:
            x = inputs[start:end]
            m = None if mask is None else mask[start:end]
            # after the previous piece's projection: the later ones have until their pieces' turn
            with tf.control_dependencies([] if projected is None else [projected]):
                projected = tf.reshape(
                    tf.nn.bias_add(tf.matmul(_flat(x), kernel), input_bias), tf.concat([tf.shape(x)[:2], [-1]], axis=0)
                )
            states, saved, last = _unless_empty(
                start,
                end,
                lambda p=projected, m=m, h=h: forward(p, recurrent_kernel, recurrent_bias, h, m),
                lambda h=h: (_empty_like(h), _empty_like(h, 4), h),
            )
            pieces.append((x, m, h, states, saved))
            h = last
        all_states = tf.concat([piece[3] for piece in pieces], axis=0)

        def grad(d_states):
            if d_states is None:
                d_states = tf.zeros_like(all_states)
            d_h = tf.zeros_like(h0)
            d_inputs, d_kernel, d_input_bias, d_recurrent_kernel, d_recurrent_bias = [], [], [], [], []
            for (start, end), (x, m, first, states, saved) in reversed(list(zip(bounds, pieces, strict=True))):
                previous = tf.concat([first[None], states], axis=0)[:-1]
                d_x, d_inner, d_h = _unless_empty(
                    start,
                    end,
                    lambda d=d_states[start:end], g=d_h, p=previous, s=saved, m=m: backward(
                        d, g, recurrent_kernel, p, s, m
                    ),
                    lambda g=d_h: (_empty_like(g, 3), _empty_like(g, 3), g),
                )
                flat_d_x, flat_d_inner = _flat(d_x), _flat(d_inner)
                d_inputs.append(tf.reshape(tf.matmul(flat_d_x, kernel, transpose_b=True), tf.shape(x)))
                d_kernel.append(tf.matmul(_flat(x), flat_d_x, transpose_a=True))
                d_input_bias.append(tf.reduce_sum(flat_d_x, axis=0))
                d_recurrent_kernel.append(tf.matmul(_flat(previous), flat_d_inner, transpose_a=True))
                d_recurrent_bias.append(tf.reduce_sum(flat_d_inner, axis=0))
            grads = (
                tf.concat(d_inputs[::-1], axis=0),
                *(tf.add_n(parts) for parts in (d_kernel, d_input_bias, d_recurrent_kernel, d_recurrent_bias)),
                d_h,
            )
            return (*grads, None) if masked else grads

        return all_states, grad

    return run


def _flat(x):
    """`[time, batch, width]` as `[time * batch, width]`."""
    return tf.reshape(x, [-1, tf.shape(x)[-1]])


def _empty_like(h, gates=1):
    """No steps: `[0, batch, gates * units]`."""
    return tf.zeros(tf.concat([[0], tf.shape(h)[:1], gates * tf.shape(h)[1:]], axis=0), h.dtype)


def _unless_empty(start, end, run, empty):
    """`run()`, or `empty()` for a piece without steps (only possible when the number of steps is
    unknown; a loop over none fails in XLA)."""
    if isinstance(start, int) and isinstance(end, int):
        return run() if end > start else empty()
    return tf.cond(end > start, run, empty)
