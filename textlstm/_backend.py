"""Pins Keras to the TensorFlow backend before Keras is imported anywhere.

textlstm's layers use TensorFlow kernels (cuDNN, XLA, custom gradients), so another
backend cannot run them. We set the backend when the user has not chosen one, and
refuse with one clear line when another one is forced.
"""

import os
import sys

from textlstm.errors import UserError

SUPPORTED_BACKEND = "tensorflow"


def select_tensorflow_backend():
    """Choose TensorFlow for Keras unless the user explicitly chose something else.

    Never raises, so that importing textlstm (and `textlstm --help`) always works;
    `require_tensorflow_backend` refuses a forced other backend when Keras is needed.
    """
    # hide TensorFlow's C++ log lines, errors included: on a CPU they are notices that look like
    # failures ("oneDNN supports DT_BOOL only on platforms with AVX-512. Falling back ..."); a
    # real failure reaches the user as an exception, as one line
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", SUPPORTED_BACKEND)


def require_tensorflow_backend():
    """Fail with one clear line when another Keras backend is forced or already loaded."""
    chosen = os.environ.get("KERAS_BACKEND", SUPPORTED_BACKEND)
    if chosen != SUPPORTED_BACKEND:
        raise UserError(
            f"textlstm needs the Keras backend 'tensorflow', but KERAS_BACKEND={chosen!r}; "
            "unset it or set KERAS_BACKEND=tensorflow"
        )
    import_tensorflow_quietly()
    import keras

    loaded = keras.backend.backend()
    if loaded != SUPPORTED_BACKEND:
        raise UserError(
            f"Keras is running on the {loaded!r} backend; textlstm needs 'tensorflow' "
            "(set KERAS_BACKEND=tensorflow before importing keras)"
        )


def import_tensorflow_quietly():
    """Import TensorFlow with its native start-up lines kept off stderr.

    TensorFlow's C++ code prints a few lines at import and at the first device query
    (oneDNN notice, CUDA stub and `cuInit` failures on a machine without a GPU) before its
    logging is set up, so `TF_CPP_MIN_LOG_LEVEL` cannot hide them; they would bury the one
    line a textlstm error is. File descriptor 2 points at /dev/null only for the import and
    the first device query. Nothing is hidden when TensorFlow is already imported or when
    `TF_CPP_MIN_LOG_LEVEL` is 0 or 1 (the user asked for TensorFlow's logs); `textlstm
    doctor` reports the devices and CUDA problems itself.
    """
    if "tensorflow" in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL") in ("0", "1"):
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
