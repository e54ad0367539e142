"""Ctrl-C at any moment of a training, told in one line: the `Interrupted` error every entry raises.

A training can be interrupted anywhere: while its data are read, while SentencePiece
trains, while the first step compiles, between steps, during the final evaluation or the
sample. Whatever the moment, the run directory is in one of these states, and the line
(exit status 130 on the command line) says which:

    a checkpoint at step N > 0   interrupted at step N;
                                 continue with: textlstm train KIND --run-dir DIR --resume
    its recipe, no checkpoint    interrupted at step 0; continue with: ... --resume
                                 (training starts from the beginning)
    a finished training          interrupted after training finished at step N; DIR holds the trained model
    nothing of this start        interrupted before training started; run the command again

The first line is the documented one; `training.fit` writes no checkpoint at step 0 (the
optimizer may not be built yet), and `training.resume_or_restart` starts a run without a
checkpoint from the beginning, which is what the uninterrupted run did.

This module imports nothing heavy: the command line may ask it for the line before
TensorFlow is loaded, and the line must come at once, not after a slow import.
"""

import functools
import json
import pathlib
import shlex

from textlstm.errors import Interrupted
from textlstm.rundir import LAST, STATE
from textlstm.rundir import RECIPE_FILE as RECIPE

BEFORE_START = "interrupted before training started; run the command again"


def continue_command(run_path, kind: str) -> str:
    """The command that continues the run in `run_path`, quoted for a POSIX shell."""
    return f"textlstm train {kind} --run-dir {shlex.quote(str(run_path))} --resume"


def interrupted_at(run_path, kind: str, step: int) -> Interrupted:
    """The documented line for Ctrl-C at optimizer step `step` of the run in `run_path`."""
    return Interrupted(f"interrupted at step {step}; continue with: {continue_command(run_path, kind)}")


def interrupted(run_path, kind: str, recipe: dict | None = None, resume: bool = False) -> Interrupted:
    """The `Interrupted` error for Ctrl-C at any point of training `recipe` into `run_path`
    (`resume`: continuing the run there).

    Read from what is on disk (see the module's table). A new training whose recipe the run
    directory does not hold (nothing written yet, or an earlier run's files that this start
    has not replaced) has not started there: `--resume` would continue something else.
    Without `recipe` a checkpoint is taken as this training's, and no checkpoint as not started.
    """
    path = pathlib.Path(run_path)
    if recipe is not None and not resume and not holds_recipe(path, kind, recipe):
        return Interrupted(BEFORE_START)
    saved = _saved_state(path)
    if saved is not None and saved.get("finished"):
        return Interrupted(
            f"interrupted after training finished at step {saved['step']}; {path} holds the trained model"
        )
    if saved is not None:
        return interrupted_at(path, kind, saved["step"])
    if recipe is not None and (path / RECIPE).is_file():
        return interrupted_at(path, kind, 0)
    return Interrupted(BEFORE_START)


def holds_recipe(run_path, kind: str, recipe: dict) -> bool:
    """True when `run_path` is a run of `kind` whose saved recipe is `recipe`."""
    from textlstm.recipes import recipe_to_toml

    path = pathlib.Path(run_path)
    try:
        if json.loads((path / "run.json").read_text(encoding="utf-8")).get("kind") != kind:
            return False
        return (path / RECIPE).read_text(encoding="utf-8") == recipe_to_toml(recipe)
    except (OSError, ValueError, AttributeError, TypeError):
        return False


def _saved_state(path: pathlib.Path) -> dict | None:
    """{"step", "finished"} of the run's checkpoint, or None without one (none at step 0, none readable)."""
    try:
        if not (path / LAST).is_file():
            return None
        state = json.loads((path / STATE).read_text(encoding="utf-8"))
        step = state.get("step")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(step, int) or isinstance(step, bool) or step <= 0:
        return None
    return {"step": step, "finished": state.get("finished") is True}


def interruptible(kind: str):
    """Decorate a family's `train_KIND(recipe, run_path, resume=False)`: Ctrl-C anywhere in it,
    from its first line to its last, raises `Interrupted` with the line of `interrupted`.

    A training's own handler (`training.fit`, which saves a checkpoint first) raises
    `Interrupted` itself; this catches every other moment.
    """

    def decorate(train):
        @functools.wraps(train)
        def guarded(recipe, run_path, resume=False):
            try:
                return train(recipe, run_path, resume=resume)
            except KeyboardInterrupt:
                raise interrupted(run_path, kind, recipe, resume) from None

        return guarded

    return decorate
