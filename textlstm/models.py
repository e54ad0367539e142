"""The trained model of a run directory, for inference: its best checkpoint, else its last, or the
checkpoint a caller names (`textlstm.checkpoints`).

Light beside `textlstm.training` (which re-exports `load_best_or_last`): loading a model for
`generate`, `tag`, `translate`, `evaluate` or `doctor` does not import the training loop.
"""

from textlstm import checkpoints
from textlstm.rundir import BEST, LAST  # noqa: F401  (the names callers import from here)


def load_best_or_last(run, custom_objects=None, checkpoint=None):
    """The model to run inference with: by default the best checkpoint (the last one if no epoch
    finished yet).

    Args:
        run: an open `textlstm.rundir.RunDir`.
        custom_objects: passed on to `keras.saving.load_model`.
        checkpoint: None or "best" (the default above), "last", an epoch number N kept in
            checkpoints/, or a path to a .keras file (`textlstm.checkpoints.resolve`).

    Raises:
        UserError: the run holds no such checkpoint (not trained yet, an epoch not kept), or the
            file is damaged or belongs to another run.
    """
    return checkpoints.load_model(run, checkpoint, custom_objects=custom_objects)
