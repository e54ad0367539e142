"""Which kernel a recurrent layer runs with, and why.

Three kernels exist:

1. `cudnn`: TensorFlow's CudnnRNN kernels, through Keras's own dispatch, on a GPU.
2. `fused`: textlstm's compiled loop with a hand-written backward pass
   (`fused_lstm.py`, `fused_gru.py`); the CPU fast path.
3. `portable`: the layer's cell stepped by Keras's generic RNN loop; slow but
   supports every option (any activation, recurrent dropout, unrolling).

The checklists return the reasons a kernel cannot be used (an empty list means it
can), so `textlstm doctor` and error messages can say exactly why. `force_kernel`
makes every layer called inside it run one named kernel (tests and benchmarks compare
the kernels with it).
"""

import contextlib
import contextvars
import functools

CUDNN, FUSED, PORTABLE = "cudnn", "fused", "portable"
KERNELS = (CUDNN, FUSED, PORTABLE)

_forced_kernel = contextvars.ContextVar("textlstm_forced_kernel", default=None)


@contextlib.contextmanager
def force_kernel(kernel):
    """Run every textlstm layer called inside this block with `kernel`.

    The kernel is chosen when a layer is called (for a compiled function: when it is
    traced), so call or trace the layers inside the block. The layer's `use_cudnn`
    still applies: forcing `"cudnn"` on a layer with `use_cudnn=False` is an error.

    Args:
        kernel: `"cudnn"`, `"fused"` or `"portable"`.

    Raises:
        ValueError: for another name; and, when a layer is called, if it cannot run
            the forced kernel (the message lists why, e.g. no GPU, or a `relu`
            activation for the fused loop).

    Example:

    >>> with force_kernel("portable"):
    ...     outputs = layer(x)
    >>> layer.kernel_used
    'portable'
    """
    if kernel not in KERNELS:
        raise ValueError(f"Argument `kernel` must be one of {KERNELS}. Received: kernel={kernel!r}")
    token = _forced_kernel.set(kernel)
    try:
        yield kernel
    finally:
        _forced_kernel.reset(token)


@functools.cache
def gpu_available():
    """True when TensorFlow sees a GPU (cached: device discovery is slow)."""
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


def _activation_name(activation):
    return getattr(activation, "__name__", str(activation))


def fused_blockers(layer):
    """Reasons the fused loop cannot run this layer's configuration."""
    cell = layer.cell
    reasons = []
    if _activation_name(cell.activation) != "tanh":
        reasons.append(f"activation is {_activation_name(cell.activation)!r}, not 'tanh'")
    if _activation_name(cell.recurrent_activation) != "sigmoid":
        reasons.append(f"recurrent_activation is {_activation_name(cell.recurrent_activation)!r}, not 'sigmoid'")
    if cell.recurrent_dropout:
        reasons.append(f"recurrent_dropout={cell.recurrent_dropout} (must be 0)")
    if layer.unroll:
        reasons.append("unroll=True")
    if getattr(cell, "reset_after", True) is False:
        reasons.append("reset_after=False (the fused GRU and cuDNN need reset_after=True)")
    return reasons


def cudnn_blockers(layer):
    """Reasons cuDNN cannot run this layer (before looking at the data's mask)."""
    reasons = fused_blockers(layer)
    if not layer.cell.use_bias:
        reasons.append("use_bias=False")
    if not gpu_available():
        reasons.append("no GPU visible to TensorFlow")
    return reasons


def kernel_plan(layer):
    """`(kernel, reasons)`: the kernel this layer will use here and why not cuDNN.

    cuDNN also needs masks, where there are any, to be right-padded (each sequence's
    valid steps first) with at least one valid step per sequence; a batch whose mask
    is not runs through the fused loop instead (checked on the data, per batch).
    Inside `force_kernel(k)` the answer is `k`, or a ValueError saying why this layer
    cannot run it.
    """
    if layer.use_cudnn is False:
        not_cudnn = ["use_cudnn=False"]
    else:
        not_cudnn = cudnn_blockers(layer)
    forced = _forced_kernel.get()
    if forced is not None:
        return _forced_plan(layer, forced, not_cudnn)
    if not not_cudnn:
        return CUDNN, []
    if layer.use_cudnn is True:
        raise ValueError(
            f"Layer {layer.name!r} has use_cudnn=True, but cuDNN cannot run it: "
            + "; ".join(not_cudnn)
            + ". Pass use_cudnn='auto' to fall back to textlstm's own kernels."
        )
    if fused_blockers(layer):
        return PORTABLE, not_cudnn
    return FUSED, not_cudnn


def _forced_plan(layer, kernel, not_cudnn):
    blockers = {CUDNN: not_cudnn, FUSED: fused_blockers(layer), PORTABLE: []}[kernel]
    if blockers:
        raise ValueError(f"Layer {layer.name!r} cannot run the forced kernel {kernel!r}: " + "; ".join(blockers) + ".")
    return kernel, [] if kernel == CUDNN else not_cudnn + [f"kernel forced to {kernel!r}"]


def check_use_cudnn(value):
    """Validate the `use_cudnn` constructor argument."""
    if value not in ("auto", True, False):
        raise ValueError(f"Argument `use_cudnn` must be 'auto', True or False. Received: use_cudnn={value!r}")
    return value
