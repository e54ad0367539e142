"""Training precision: Keras's dtype policies for a model, and whether this machine runs them natively.

`train.precision` names one of Keras's policies (`keras.DTypePolicy`):

- "float32": weights and computation in float32 (the default);
- "mixed_bfloat16": weights in float32, computation in bfloat16 (native on CPUs with
  AVX512_BF16 or AMX-BF16 instructions and on recent GPUs; emulated, and slower, elsewhere);
- "mixed_float16": weights in float32, computation in float16, with dynamic loss scaling
  (`keras.optimizers.LossScaleOptimizer`) so small gradients do not flush to zero; meant for
  GPUs, emulated and slow on a CPU.

Models get the policy layer by layer (`dtype=policy(...)`), never through Keras's global
policy, so building one model leaves every other untouched; the logits and the loss stay
float32, as Keras's mixed-precision guide recommends. The policies are saved in the model
file with each layer, so a loaded model computes as it was trained.
"""

import platform

import keras

from textlstm.schema import PRECISIONS  # the recipe key's choices, declared there once

BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 flags in /proc/cpuinfo of native bfloat16 arithmetic


def policy(precision):
    """The `keras.DTypePolicy` named `precision` (one of `PRECISIONS`).

    Raises:
        ValueError: another name.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"Argument `precision` must be one of {PRECISIONS}. Received: precision={precision!r}")
    return keras.DTypePolicy(precision)


def with_loss_scaling(optimizer, precision):
    """`optimizer` wrapped in `keras.optimizers.LossScaleOptimizer` for "mixed_float16", else itself."""
    if precision == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def cpu_model(cpuinfo="/proc/cpuinfo"):
    """The CPU's model name ("AMD EPYC 9454"), or `platform.processor()` where /proc/cpuinfo is absent."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cpu_has_bfloat16(cpuinfo="/proc/cpuinfo", machine=None):
    """True if this x86 CPU lists `avx512_bf16` or `amx_bf16` among its flags, False if it lists
    flags without them; None (unknown) on other architectures or where /proc/cpuinfo is absent."""
    machine = (machine or platform.machine()).lower()
    if machine not in ("x86_64", "amd64", "i686", "i386"):
        return None
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as lines:
            flags = next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), None)
    except OSError:
        return None
    if flags is None:
        return None
    return any(flag in flags for flag in BF16_CPU_FLAGS)


def precision_note(precision, gpu, has_bfloat16):
    """The one-line note printed when a training starts at a precision this machine emulates;
    None where nothing needs saying (float32, a reduced precision on a GPU, or bfloat16 on a CPU
    with bfloat16 instructions). `gpu`: whether TensorFlow sees a GPU; `has_bfloat16`:
    `cpu_has_bfloat16()`'s answer (True, False or None for unknown)."""
    if precision == "float32" or gpu:
        return None
    if precision == "mixed_float16":
        return (
            "note: train.precision = mixed_float16 without a GPU: float16 is emulated on a CPU and slower "
            "than float32; mixed_bfloat16 is the CPU's reduced precision"
        )
    if has_bfloat16 is None:
        return (
            "note: train.precision = mixed_bfloat16: whether this CPU has bfloat16 instructions is unknown; "
            "without them bfloat16 is emulated and slower than float32"
        )
    if not has_bfloat16:
        return (
            f"note: train.precision = mixed_bfloat16: this CPU ({cpu_model()}) has no bfloat16 instructions "
            f"({' or '.join(BF16_CPU_FLAGS)}); bfloat16 will be emulated and slower than float32"
        )
    return None
