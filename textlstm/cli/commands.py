"""Attaches every command module to the `textlstm` and `textlstm train` groups."""


def register(main, train):
    """Add each model family's commands; modules import TensorFlow only when run."""
    del main, train
