"""The trained model of a run directory, for inference: its best checkpoint, else its last.

Light beside `textlstm.training` (which re-exports `load_best_or_last`): loading a model for
`generate`, `tag`, `translate`, `evaluate` or `doctor` does not import the training loop.
"""

from textlstm.errors import UserError
from textlstm.rundir import load_keras_model

LAST, BEST = "last.keras", "best.keras"  # the checkpoint after the last epoch, and at the best dev metric


def load_best_or_last(run, custom_objects=None):
    """The best checkpoint for inference (the last one if no epoch finished yet).

    Args:
        run: an open `textlstm.rundir.RunDir`.
        custom_objects: passed on to `keras.saving.load_model`.

    Raises:
        UserError: the run holds neither checkpoint (not trained yet), or the file is damaged.
    """
    path = run.file(BEST) if run.file(BEST).is_file() else run.file(LAST)
    if not path.is_file():
        raise UserError(f"{run.path} holds no trained model yet (no {BEST} or {LAST}); train it first")
    model = load_keras_model(path, custom_objects=custom_objects)
    return model
