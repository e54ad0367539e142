"""Bit-for-bit comparison of two runs' last checkpoints: the check every exact-resume test makes."""

import numpy as np

from textlstm.rundir import load_keras_model


def assert_bit_identical(run_dir, reference_dir, steps):
    """Every weight (trainable or not) and every optimizer variable of `run_dir`'s last.keras equal
    `reference_dir`'s bit for bit, in the same order (names may be numbered apart), after `steps`
    optimizer steps."""
    ours = load_keras_model(run_dir / "last.keras", compile=True)
    theirs = load_keras_model(reference_dir / "last.keras", compile=True)
    assert int(ours.optimizer.iterations.numpy()) == steps
    assert len(ours.weights) == len(theirs.weights)
    for mine, expected in zip(ours.weights, theirs.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(expected), err_msg=mine.path)
    assert len(ours.optimizer.variables) == len(theirs.optimizer.variables) > 1
    for mine, expected in zip(ours.optimizer.variables, theirs.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(expected), err_msg=mine.path)
