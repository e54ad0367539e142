"""Pins Keras to the TensorFlow backend before Keras is imported anywhere.

textlstm's layers use TensorFlow kernels (cuDNN, XLA, custom gradients), so another
backend cannot run them. We set the backend when the user has not chosen one, and
refuse with one clear line when another one is forced.
"""

import os

from textlstm.errors import UserError

SUPPORTED_BACKEND = "tensorflow"


def select_tensorflow_backend():
    """Choose TensorFlow for Keras unless the user explicitly chose something else.

    Never raises, so that importing textlstm (and `textlstm --help`) always works;
    `require_tensorflow_backend` refuses a forced other backend when Keras is needed.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's C++ start-up chatter
    os.environ.setdefault("KERAS_BACKEND", SUPPORTED_BACKEND)


def require_tensorflow_backend():
    """Fail with one clear line when another Keras backend is forced or already loaded."""
    chosen = os.environ.get("KERAS_BACKEND", SUPPORTED_BACKEND)
    if chosen != SUPPORTED_BACKEND:
        raise UserError(
            f"textlstm needs the Keras backend 'tensorflow', but KERAS_BACKEND={chosen!r}; "
            "unset it or set KERAS_BACKEND=tensorflow"
        )
    import keras

    loaded = keras.backend.backend()
    if loaded != SUPPORTED_BACKEND:
        raise UserError(
            f"Keras is running on the {loaded!r} backend; textlstm needs 'tensorflow' "
            "(set KERAS_BACKEND=tensorflow before importing keras)"
        )
