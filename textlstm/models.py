"""The trained model of a run directory, for inference: its best checkpoint, else its last, or the
checkpoint a caller names (`textlstm.checkpoints`).

Light beside `textlstm.training` (which re-exports `load_best_or_last`): loading a model for
`generate`, `tag`, `translate`, `evaluate` or `doctor` does not import the training loop.
"""

import warnings

from textlstm import checkpoints
from textlstm.rundir import BEST, LAST  # noqa: F401  (the names callers import from here)


def load_best_or_last(run, custom_objects=None, checkpoint=None, quantize=None):
    """The model to run inference with: by default the best checkpoint (the last one if no epoch
    finished yet).

    Args:
        run: an open `textlstm.rundir.RunDir`.
        custom_objects: passed on to `keras.saving.load_model`.
        checkpoint: None or "best" (the default above), "last", an epoch number N kept in
            checkpoints/, or a path to a .keras file (`textlstm.checkpoints.resolve`).
        quantize: None, or "int8": the weights quantized once loaded (`quantize_weights`).

    Raises:
        UserError: the run holds no such checkpoint (not trained yet, an epoch not kept), or the
            file is damaged or belongs to another run.
    """
    return quantize_weights(checkpoints.load_model(run, checkpoint, custom_objects=custom_objects), quantize)


def quantize_weights(model, mode):
    """`model` with its weights quantized in place by Keras's `model.quantize(mode)` ("int8": every
    Dense, Embedding and textlstm recurrent layer, `textlstm.layers.int8`); None leaves it as trained.

    A layer that is already quantized (a checkpoint saved after quantizing) is left as it is, so
    quantizing such a model again changes nothing. Keras's warning for each layer that has no
    weights to quantize (the input layer, the CRF, the attention's scores) is left out: those layers
    stay as they are, which is what the user asked.
    """
    if mode is None:
        return model
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*does not have a `quantize` method implemented")
        model.quantize(mode, filters=lambda layer: layer.quantization_mode is None)
    return model


def quantization(model):
    """How the weights of `model` are stored: "int8" when any of its layers holds int8 weights
    (quantized when loaded, or a checkpoint saved quantized), else None."""
    modes = {layer.quantization_mode for layer in model._flatten_layers()} - {None}
    return "int8" if "int8" in modes else (sorted(modes)[0] if modes else None)
