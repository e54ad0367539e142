"""The training loop every model family shares: Keras `fit` with checkpoints that resume exactly.

Data are a deterministic stream of batches indexed by the global step (each family
supplies `make_batches(start_step)`), so a run resumed from any step sees the same
batches an uninterrupted run would. The run directory receives, atomically:

    last.keras     model with optimizer state after the last finished epoch, at Ctrl-C, or at
                   train.max_steps (which may stop training inside an epoch)
    best.keras     model at the best value of the monitored metric
    checkpoints/   the model at the end of each of the last train.keep_checkpoints epochs, and
                   its index (`textlstm.checkpoints`)
    state.json     epochs done, global step, best value, epochs without improvement
    metrics.csv    one row per epoch (CSVLogger); tensorboard/ for TensorBoard

Ctrl-C saves `last.keras` at the current step before exiting (`Interrupted`, exit status
130 on the command line); `--resume` continues from it with the optimizer state, so the
final weights and optimizer variables equal those of an uninterrupted run bit for bit.
No checkpoint is written at step 0 (the optimizer may not be built yet, and nothing has
been learnt): a run stopped before its first step, or anywhere before `fit` (data, subword
models), is started again from the beginning by `--resume` (`resume_or_restart`), which
is what the uninterrupted run did. `textlstm.interrupts` words the line for every moment.

Every random draw inside the model (dropout, recurrent dropout, word dropout: anything
drawn from a Keras `SeedGenerator`) depends only on (seed, where the generator sits in the
model, global step): `StepSeeds` sets every generator's state from those before each
optimizer step. Keras saves neither a generator's draw counter nor, for layers made
without a seed, its starting seed, so without this a resumed run drew other masks than
the uninterrupted one. A non-finite training loss stops training with one line, and a
model with non-finite weights is never written (`best.keras` and `last.keras` keep the
last good state).

Under a `tf.distribute` strategy (`textlstm.distribute`) the model's strategy picks the
loop (Keras `fit`, or `StrategyLoop` for multi-worker), every worker keeps its slice of each
global batch, and only the chief writes.
"""

import dataclasses
import json
import math
import sys
import time

import keras
import numpy as np

from textlstm import checkpoints
from textlstm.ctrl_c import raise_if_interrupted
from textlstm.distribute import shard_by_slices, trainer_for
from textlstm.errors import ParameterError, UserError, naming_path
from textlstm.interrupts import interrupted_at
from textlstm.models import load_best_or_last  # noqa: F401  (re-exported: callers use training.load_best_or_last)
from textlstm.rundir import (
    BEST,
    LAST,
    STATE,
    RunDir,
    atomic_save_model,
    atomic_write_json,
    is_chief,
    load_keras_model,
    read_json_file,
    remove_entries,
)
from textlstm.step_seeds import StepSeeds

EXPECTED_STATE_TYPES = {"best": "a number or null", "finished": "true/false"}  # else a whole number
PENDING = "pending"  # key in state.json: the state of the checkpoint being written (see save_checkpoint)


@dataclasses.dataclass
class TrainingState:
    """Where training stands; saved beside each checkpoint."""

    epoch: int = 0  # epochs fully done
    step: int = 0  # optimizer steps done (may be inside an epoch after Ctrl-C)
    best: float | None = None
    epochs_without_improvement: int = 0
    finished: bool = False
    steps_per_epoch: int = 0  # the epoch length the run started with (0: not recorded); kept when resuming
    planned_epochs: int = 0  # the epochs it was asked to train; a resume asking for more continues it

    @classmethod
    def load(cls, path, step=None):
        """The state saved in `path`; a damaged file is one `UserError` naming the bad field.

        With `step`, the state recorded for the checkpoint at that optimizer step: the pending
        one when training was killed between writing `last.keras` and this file.
        """
        data = read_json_file(path, "training state")
        if not isinstance(data, dict):
            raise UserError(f"training state {path} is damaged (expected a JSON object, found {type(data).__name__})")
        pending = data.pop(PENDING, None)
        if step is not None and data.get("step") != step and isinstance(pending, dict):
            data = pending
        fields = {field.name: field.type for field in dataclasses.fields(cls)}
        for name, value in data.items():
            if name not in fields:
                raise UserError(f"training state {path} is damaged (unknown field {name!r})")
            if name == "best":
                good = value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))
            elif name == "finished":
                good = isinstance(value, bool)
            else:
                good = isinstance(value, int) and not isinstance(value, bool) and value >= 0
            if not good:
                raise UserError(
                    f"training state {path} is damaged ({name!r} is {json.dumps(value)}, expected "
                    f"{EXPECTED_STATE_TYPES.get(name, 'a whole number >= 0')})"
                )
        return cls(**data)


@dataclasses.dataclass
class Schedule:
    """How long to train and what to watch."""

    epochs: int
    steps_per_epoch: int
    monitor: str = "val_loss"
    mode: str = "min"  # "min" for losses, "max" for accuracy, F1, BLEU
    patience: int = 0  # epochs without improvement before stopping; 0 = never stop early
    max_steps: int = 0  # optimizer steps in all at which training stops (mid-epoch if need be); 0 = no cap

    @property
    def total_steps(self):
        """Optimizer steps in all when training ends: epochs × steps per epoch, capped by `max_steps`."""
        whole = self.epochs * self.steps_per_epoch
        return min(whole, self.max_steps) if self.max_steps else whole


def plan_schedule(batches_in_data, epochs, steps_per_epoch=0, max_steps=0, previous=None, **watch):
    """Steps per epoch from the data unless given; `max_steps` caps the optimizer steps in all.

    The epoch length never depends on `max_steps` (so a capped run and a longer one see the
    same epochs); `epochs` is cut to the epochs that `max_steps` reaches into, and `fit`
    stops inside the last one when `max_steps` is not a multiple of the epoch length.
    `previous` is the `TrainingState` of a run being resumed: its epoch length is kept (so
    the steps already done stay in the same epochs), and `epochs`/`max_steps` may exceed
    what the run first planned, which extends it.
    """
    steps = (
        (previous.steps_per_epoch if previous is not None and previous.steps_per_epoch else 0)
        or steps_per_epoch
        or batches_in_data
    )
    if steps <= 0:
        raise UserError("the training data are too small for one batch; lower train.batch_size (or the window length)")
    if max_steps:
        epochs = max(1, min(epochs, -(-max_steps // steps)))
    return Schedule(epochs=epochs, steps_per_epoch=steps, max_steps=max_steps, **watch)


def extend_recipe(recipe, run_path, epochs=None, max_steps=None):
    """The saved `recipe` of the run in `run_path`, lengthened as `resume` with `epochs`/`max_steps` asks.

    `epochs` sets `train.epochs` (an older `train.max_steps` that would stop sooner is dropped:
    the explicit option wins); `max_steps` sets `train.max_steps` and raises `train.epochs`
    to the epochs that many steps reach into at the run's own epoch length. Returns the recipe (changed in place).
    """
    train = recipe["train"]
    done = _recorded(run_path)
    if epochs is not None and epochs < done.get("epoch", 0):
        raise ParameterError(
            "{epochs} is fewer than the {done} epochs this run has done; {resume} can only train longer",
            done=done["epoch"],
            epochs=("epochs", epochs),
            resume=("resume", True),
        )
    if max_steps is not None and 0 < max_steps < done.get("step", 0):
        raise ParameterError(
            "{max_steps} is fewer than the {done} steps this run has done; {resume} can only train longer",
            done=done["step"],
            max_steps=("max_steps", max_steps),
            resume=("resume", True),
        )
    if epochs is not None:
        train["epochs"] = epochs
        if max_steps is None:
            train["max_steps"] = 0
    if max_steps is not None:
        train["max_steps"] = max_steps
        per_epoch = done.get("steps_per_epoch") or train.get("steps_per_epoch") or 0
        if epochs is None and per_epoch and max_steps:
            train["epochs"] = max(train["epochs"], -(-max_steps // per_epoch))
    return recipe


def _recorded(run_path):
    """The integers of the run's state.json ({} where it is missing or unreadable; resuming says why later)."""
    import pathlib

    try:
        saved = json.loads((pathlib.Path(run_path) / STATE).read_text(encoding="utf-8"))
        return {key: int(saved[key]) for key in ("epoch", "step", "steps_per_epoch") if isinstance(saved.get(key), int)}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def batches_from_step(start_step, per_epoch, epoch_batches):
    """Every batch of every epoch from global step `start_step` on, endlessly.

    `epoch_batches(epoch)` lists one epoch's batches in a fixed order; this is the
    `make_batches(start_step)` contract of `fit` for families that batch in Python.
    """
    epoch, skip = divmod(start_step, per_epoch)
    while True:
        yield from epoch_batches(epoch)[skip:]
        epoch, skip = epoch + 1, 0


def absolute_paths(recipe, *keys):
    """Make the file paths under `keys` ("section.key"; a path or a list of paths) absolute, in place.

    The recipe saved in a run directory then names the same files from any working
    directory, so `--resume` works wherever it is started.
    """
    import os

    for key in keys:
        section, name = key.split(".", 1)
        value = recipe.get(section, {}).get(name)
        if isinstance(value, str) and value:
            recipe[section][name] = os.path.abspath(os.path.expanduser(value))
        elif isinstance(value, (list, tuple)):
            recipe[section][name] = [
                os.path.abspath(os.path.expanduser(v)) if isinstance(v, str) and v else v for v in value
            ]
    return recipe


class FiniteLoss(keras.callbacks.Callback):
    """Stops training with one line at the first step whose training loss is not finite.

    Raised before the epoch's end, so no checkpoint of the diverged model is written.
    """

    def __init__(self, run):
        super().__init__()
        self.run = run

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            step = _step(self.model)
            raise UserError(
                f"training stopped: the training loss became {float(loss)} at step {step}; "
                f"{self.run.path} keeps its last good checkpoint (lower train.learning_rate or set "
                f"train.clipnorm, then --resume)"
            )


def _check_finite(model, run, value=None, name=None):
    """Refuse (one line) to write a model whose weights or monitored value are not finite."""
    if value is not None and not math.isfinite(float(value)):
        bad = name
    else:
        bad = next(
            (weight.path for weight in model.trainable_weights if not np.all(np.isfinite(np.asarray(weight)))), None
        )
    if bad is not None:
        step = _step(model)
        raise UserError(
            f"training stopped: {bad} is not finite at step {step}; {run.path} keeps its last good "
            f"checkpoint (lower train.learning_rate or set train.clipnorm)"
        )


class _Checkpointer(keras.callbacks.Callback):
    """Saves the best, epoch (`train.keep_checkpoints`) and last checkpoints and the state each epoch; stops early."""

    def __init__(self, run, schedule, state):
        super().__init__()
        self.run, self.schedule, self.state = run, schedule, state
        self.keep = checkpoints.keep_count(run) if is_chief() else 0  # train.keep_checkpoints of the saved recipe

    def _improved(self, value):
        if self.state.best is None:
            return True
        return value < self.state.best if self.schedule.mode == "min" else value > self.state.best

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get(self.schedule.monitor)
        if value is None:
            raise UserError(f"metric {self.schedule.monitor!r} was not computed; known: {', '.join(sorted(logs))}")
        _check_finite(self.model, self.run, logs.get("loss"), "the training loss")
        self.state.epoch = epoch + 1
        improved = self._improved(value)
        if improved:
            self.state.best = float(value)
            self.state.epochs_without_improvement = 0
            save_model(self.model, self.run.file(BEST))
        else:
            self.state.epochs_without_improvement += 1
        if is_chief():  # checkpoints/epoch-NNN.keras and its index, before last.keras (see textlstm.checkpoints)
            save = lambda path: atomic_save_model(self.model, path)  # noqa: E731
            step, monitor = _step(self.model), self.schedule.monitor
            checkpoints.record_epoch(self.run, save, self.state.epoch, step, monitor, value, self.keep, improved)
        patience = self.schedule.patience
        if patience and self.state.epochs_without_improvement >= patience:
            print(f"early stopping: {self.schedule.monitor} has not improved for {patience} epochs")
            self.model.stop_training = True
            self.state.finished = True
        save_checkpoint(self.model, self.run, self.state)


def _naming_its_file(callback_class, attribute):
    """`callback_class` whose OS failures (a full disk, permission denied) name the file or
    directory it writes (`getattr(self, attribute)`), as every other write of a run does;
    Keras's own CSVLogger and TensorBoard raise an OSError without a file name."""

    def wrap(hook):
        def named(self, *args, **kwargs):
            with naming_path(getattr(self, attribute), "write"):
                return getattr(callback_class, hook)(self, *args, **kwargs)

        return named

    hooks = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_test_begin", "on_test_end")
    return type(callback_class.__name__, (callback_class,), {hook: wrap(hook) for hook in hooks})


MetricsLog = _naming_its_file(keras.callbacks.CSVLogger, "filename")  # metrics.csv
TensorBoardLog = _naming_its_file(keras.callbacks.TensorBoard, "log_dir")  # tensorboard/


def save_model(model, path):
    """Atomic save, by the chief only (other workers of a distributed run write nothing)."""
    if is_chief():
        atomic_save_model(model, path)


def save_checkpoint(model, run, state):
    """`last.keras` and `state.json`, each atomically, consistent even if killed between the two.

    state.json first records the new state as pending beside the old one; `load_checkpoint`
    picks whichever of the two belongs to the `last.keras` it finds (by the optimizer step).
    Nothing is written at step 0: before the first step the optimizer's variables may not
    exist yet (such a file does not load back), and the run's start is its checkpoint.
    """
    state.step = _step(model)
    if not is_chief() or state.step == 0:
        return
    current = run.file(STATE)
    if current.is_file() and run.file(LAST).is_file():
        try:
            previous = json.loads(current.read_text(encoding="utf-8"))
            previous.pop(PENDING, None)
            atomic_write_json(current, dict(previous, **{PENDING: dataclasses.asdict(state)}))
        except (OSError, ValueError, TypeError, AttributeError):
            pass  # unreadable: the new state below replaces it
    atomic_save_model(model, run.file(LAST))
    atomic_write_json(current, dataclasses.asdict(state))


def load_state(run):
    """The `TrainingState` of the run's last checkpoint (a `UserError` if it has none)."""
    if not has_checkpoint(run):
        raise UserError(f"cannot resume: {run.path} has no checkpoint yet (no {LAST})")
    return TrainingState.load(run.file(STATE))


def has_checkpoint(run):
    """True when the run holds a checkpoint to continue: `last.keras` and `state.json` after step 1 or later.

    A state at step 0 (written before step 0 checkpoints were refused) counts as none. A
    damaged state.json raises the `UserError` that names it.
    """
    if not run.file(LAST).is_file() or not run.file(STATE).is_file():
        return False
    return TrainingState.load(run.file(STATE)).step > 0


STARTED_FILES = (
    LAST,
    BEST,
    STATE,
    "metrics.csv",
    "tensorboard",
    checkpoints.DIRECTORY,
)  # what fit writes; see resume_or_restart


def resume_or_restart(run_path, kind, resume):
    """Whether a family continues the run in `run_path` from its checkpoint (`resume` and it has one).

    A run stopped before its first checkpoint (Ctrl-C while its data were read, its subword
    models trained or its first step compiled) is started again from the beginning, with one
    line saying so: what fit had begun there is removed (the chief does it) and False is
    returned, so the family trains it as a new run, from the recipe it is given. The result
    is the uninterrupted run's.
    Raises `UserError` when `run_path` is no run of `kind`, its state.json is damaged, or a
    file cannot be removed.
    """
    if not resume:
        return False
    run = RunDir.open(run_path, kind)
    if has_checkpoint(run):
        return True
    print(f"note: {run.path} stopped before its first checkpoint; training it from the beginning")
    if is_chief():
        remove_entries(run.path, STARTED_FILES)
    return False


def start_run(run_path, kind, recipe):
    """Create the run directory and save `recipe` in it: from here on, Ctrl-C leaves a run that
    `--resume` starts again from the beginning (see `resume_or_restart`). Returns the `RunDir`."""
    run = RunDir.create(run_path, kind)
    run.write_recipe(recipe)
    return run


def load_checkpoint(run, custom_objects=None):
    """`(model, state)` from the run's last checkpoint, optimizer included."""
    load_state(run)
    model = load_keras_model(run.file(LAST), custom_objects=custom_objects, compile=True)
    return model, TrainingState.load(run.file(STATE), step=_step(model))


class _LostCtrlC(keras.callbacks.Callback):
    """After every batch, the Ctrl-C that came and was lost on its way (`ctrl_c.ctrl_c_kept`)
    is raised, so `fit` saves a checkpoint and stops as it does for any Ctrl-C."""

    def on_train_batch_end(self, batch, logs=None):
        raise_if_interrupted()


class EpochLine(keras.callbacks.Callback):
    """One plain line per epoch when output is not a terminal (Keras's own line is turned off):

        epoch 3/10 - 12.4 s - loss: 1.2345 - bpc: 1.7810 - val_loss: 1.3012 - val_bpc: 1.8772 - dev ...

    Numbers with four decimals (never Keras's 0.0000e+00); a callback that reports its own
    measurement (`DevMetric`: attributes `epoch_line` and `covered`, the log keys that line
    stands for) has its words there instead of those keys.
    """

    def __init__(self, epochs, reporters=()):
        super().__init__()
        self.epochs, self.reporters, self.started = epochs, list(reporters), time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        print(epoch_line(epoch, self.epochs, time.monotonic() - self.started, logs or {}, self.reporters), flush=True)


def epoch_line(epoch, epochs, seconds, logs, reporters=()):
    """The text of `EpochLine` for the 0-based `epoch` of `epochs`."""
    covered = {key for reporter in reporters for key in getattr(reporter, "covered", ())}
    parts = [f"epoch {epoch + 1}/{epochs}", f"{seconds:.1f} s"]
    parts += [f"{key}: {_shown(value)}" for key, value in logs.items() if key not in covered]
    parts += [reporter.epoch_line for reporter in reporters if getattr(reporter, "epoch_line", None)]
    return " - ".join(parts)


def _shown(value):
    value = float(value)
    return f"{value:.4f}" if value == 0 or 1e-3 <= abs(value) < 1e6 or not math.isfinite(value) else f"{value:.4e}"


def progress_verbosity():
    """Keras's progress bar on a terminal; one plain line per epoch when output is redirected."""
    stream = sys.stdout
    return 1 if hasattr(stream, "isatty") and stream.isatty() else 2


def fit(model, run, make_batches, schedule, validation_data, state=None, callbacks=(), verbose="auto", seed=0):
    """Train `model` (compiled) until the schedule ends, early stopping, or Ctrl-C.

    `make_batches(start_step)` returns the batch stream from that global step on; `seed`
    (the recipe's `train.seed`) seeds every random draw in the model (`StepSeeds`).
    `callbacks` run before checkpointing, so metrics they add to the epoch logs
    (dev F1, dev BLEU) can be monitored. Returns the final `TrainingState`.
    When `schedule.max_steps` falls inside an epoch, training stops at exactly that step:
    the model is validated there (printed, not a metrics.csv row, best.keras or patience,
    which stay per whole epoch) and `last.keras` is saved as at Ctrl-C, so `--resume` with
    a larger cap continues bit for bit.
    Raises `Interrupted` on Ctrl-C (after saving a checkpoint at the current step, unless it
    is step 0) and `UserError` when the training loss stops being finite (saving nothing).
    """
    state = state or TrainingState()
    per_epoch, target = schedule.steps_per_epoch, schedule.total_steps
    done_in_epoch = state.step - state.epoch * per_epoch
    extended = state.finished and schedule.epochs > max(state.planned_epochs, state.epoch)
    if (
        state.epoch >= schedule.epochs
        or (state.finished and not extended)
        or (state.step >= target and done_in_epoch < per_epoch)
    ):
        print(
            f"training already finished ({state.epoch} epochs, {state.step} steps); nothing to do "
            f"(--resume with --epochs N or --max-steps N trains longer)"
        )
        return state
    if extended:  # it ended (as planned, or early); asked for more epochs now, patience starts again
        print(f"continuing after epoch {state.epoch}: training to epoch {schedule.epochs}")
        state.finished, state.epochs_without_improvement = False, 0
    state.steps_per_epoch, state.planned_epochs = schedule.steps_per_epoch, schedule.epochs
    checkpointer = _Checkpointer(run, schedule, state)
    if verbose == "auto":
        verbose = progress_verbosity()
    reporting = list(callbacks)
    if verbose == 2 and is_chief():  # plain output: our one line per epoch instead of Keras's two
        reporting.append(EpochLine(schedule.epochs, callbacks))
        verbose = 0
    shared = [StepSeeds(seed), FiniteLoss(run), _LostCtrlC()] + reporting + [checkpointer]
    if is_chief():
        shared += [
            MetricsLog(str(run.file("metrics.csv")), append=True),
            TensorBoardLog(str(run.file("tensorboard")), write_graph=False),
        ]
    trainer = trainer_for(model)  # Keras's fit, or our loop for the strategies Keras cannot drive
    validation_data = shard_by_slices(validation_data)
    batches_from = lambda step: shard_by_slices(make_batches(step))  # noqa: E731  (each worker: its slice)
    try:
        if done_in_epoch >= per_epoch:  # stopped after the last step, before the epoch's end
            print(f"resuming inside epoch {state.epoch + 1} after its last step {state.step}: validating it")
            _finish_epoch(model, trainer, state.epoch, validation_data, list(callbacks) + [checkpointer])
        elif 0 < done_in_epoch and state.step - done_in_epoch + per_epoch <= target:
            print(f"resuming inside epoch {state.epoch + 1} at step {state.step}")  # interrupted: finish it first
            trainer.fit(
                batches_from(state.step),
                steps_per_epoch=per_epoch - done_in_epoch,
                initial_epoch=state.epoch,
                epochs=state.epoch + 1,
                validation_data=validation_data,
                callbacks=shared,
                verbose=verbose,
                shuffle=False,
            )
        whole = min(schedule.epochs, target // per_epoch)  # epochs that end at or before the target
        if not state.finished and state.epoch < whole and _step(model) == state.epoch * per_epoch:
            trainer.fit(
                batches_from(state.epoch * per_epoch),
                steps_per_epoch=per_epoch,
                initial_epoch=state.epoch,
                epochs=whole,
                validation_data=validation_data,
                callbacks=shared,
                verbose=verbose,
                shuffle=False,
            )
        if not state.finished and _step(model) < target:  # max_steps falls inside this epoch
            _stop_inside_epoch(
                model, run, trainer, state, target, batches_from, validation_data, shared[:2], verbose, callbacks
            )
    except KeyboardInterrupt:
        state.step = _step(model)
        _check_finite(model, run)
        save_checkpoint(model, run, state)  # none at step 0: --resume then starts from the beginning
        raise interrupted_at(run.path, run.kind, state.step) from None
    if state.epoch >= schedule.epochs:  # a stop inside an epoch (max_steps) leaves the run unfinished
        state.finished = True
    if is_chief():
        atomic_write_json(run.file(STATE), dataclasses.asdict(state))
    return state


def _step(model):
    """The optimizer's step counter: global steps done."""
    return int(model.optimizer.iterations.numpy())


def _stop_inside_epoch(
    model, run, trainer, state, target, batches_from, validation_data, callbacks, verbose, reporters=()
):
    """Train from the current step to `target` inside one epoch, validate there, save as Ctrl-C does.

    Only the per-step callbacks run (seeds, finite loss): the epoch is not over, so no
    metrics.csv row, best.keras or patience count; `state.epoch` stays the epochs fully done.
    The validation is reported as an epoch's is: the family's callbacks (`reporters`) add what
    they add to the logs (bits per character, the dev metric) and the line shows it.
    """
    step = _step(model)
    trainer.fit(
        batches_from(step),
        steps_per_epoch=target - step,
        initial_epoch=state.epoch,
        epochs=state.epoch + 1,
        validation_data=None,
        callbacks=callbacks,
        verbose=verbose,
        shuffle=False,
    )
    _check_finite(model, run)
    logs = {
        f"val_{name}": value for name, value in trainer.evaluate(validation_data, return_dict=True, verbose=0).items()
    }
    for reporter in reporters:
        reporter.set_model(model)
        reporter.on_epoch_end(state.epoch, logs)
    covered = {key for reporter in reporters for key in getattr(reporter, "covered", ())}
    shown = ", ".join(f"{name}={_shown(value)}" for name, value in logs.items() if name not in covered)
    shown += "".join(f", {r.epoch_line}" for r in reporters if getattr(r, "epoch_line", None))
    save_checkpoint(model, run, state)
    print(
        f"stopped at step {state.step} (train.max_steps), {state.step - state.epoch * state.steps_per_epoch} "
        f"of {state.steps_per_epoch} steps into epoch {state.epoch + 1}; {shown}; last.keras saved there "
        f"(--resume with a larger --max-steps continues it)"
    )


def _finish_epoch(model, trainer, epoch, validation_data, callbacks):
    """The end-of-epoch work (validation, checkpoints) that an interruption cut off."""
    logs = trainer.evaluate(validation_data, return_dict=True, verbose=0)
    logs = {f"val_{name}": value for name, value in logs.items()}
    for callback in callbacks:
        callback.set_model(model)
        callback.on_epoch_end(epoch, logs)
