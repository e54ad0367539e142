"""The training loop every model family shares: Keras `fit` with checkpoints that resume exactly.

Data are a deterministic stream of batches indexed by the global step (each family
supplies `make_batches(start_step)`), so a run resumed from any step sees the same
batches an uninterrupted run would. The run directory receives, atomically:

    last.keras     model with optimizer state after the last finished epoch, or at Ctrl-C
    best.keras     model at the best value of the monitored metric
    state.json     epochs done, global step, best value, epochs without improvement
    metrics.csv    one row per epoch (CSVLogger); tensorboard/ for TensorBoard

Ctrl-C saves `last.keras` at the current step before exiting; `--resume` continues from it
with the optimizer state, so the final weights equal those of an uninterrupted run.

Under a `tf.distribute` strategy (`textlstm.distribute`) the model's strategy picks the
loop (Keras `fit`, or `StrategyLoop` for multi-worker), every worker keeps its slice of each
global batch, and only the chief writes.
"""

import dataclasses
import json
import math

import keras

from textlstm.distribute import shard_by_slices, trainer_for
from textlstm.errors import UserError
from textlstm.rundir import atomic_save_model, atomic_write_json, is_chief, load_keras_model, read_json_file

LAST, BEST, STATE = "last.keras", "best.keras", "state.json"


@dataclasses.dataclass
class TrainingState:
    """Where training stands; saved beside each checkpoint."""

    epoch: int = 0  # epochs fully done
    step: int = 0  # optimizer steps done (may be inside an epoch after Ctrl-C)
    best: float | None = None
    epochs_without_improvement: int = 0
    finished: bool = False

    @classmethod
    def load(cls, path):
        """The state saved in `path`; a damaged file is one `UserError` naming the bad field."""
        data = read_json_file(path, "training state")
        fields = {field.name: field.type for field in dataclasses.fields(cls)}
        if not isinstance(data, dict):
            raise UserError(f"training state {path} is damaged (expected a JSON object, found {type(data).__name__})")
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
                raise UserError(f"training state {path} is damaged ({name!r} is {json.dumps(value)}, expected "
                                f"{'a number or null' if name == 'best' else 'true/false' if name == 'finished' else 'a whole number >= 0'})")
        return cls(**data)


@dataclasses.dataclass
class Schedule:
    """How long to train and what to watch."""

    epochs: int
    steps_per_epoch: int
    monitor: str = "val_loss"
    mode: str = "min"  # "min" for losses, "max" for accuracy, F1, BLEU
    patience: int = 0  # epochs without improvement before stopping; 0 = never stop early


def plan_schedule(batches_in_data, epochs, steps_per_epoch=0, max_steps=0, **watch):
    """Steps per epoch from the data unless given; `max_steps` caps epochs × steps."""
    steps = steps_per_epoch or batches_in_data
    if steps <= 0:
        raise UserError("the training data are too small for one batch; lower train.batch_size (or the window length)")
    if max_steps:
        steps = min(steps, max_steps)
        epochs = max(1, min(epochs, max_steps // steps))
    return Schedule(epochs=epochs, steps_per_epoch=steps, **watch)


def batches_from_step(start_step, per_epoch, epoch_batches):
    """Every batch of every epoch from global step `start_step` on, endlessly.

    `epoch_batches(epoch)` lists one epoch's batches in a fixed order; this is the
    `make_batches(start_step)` contract of `fit` for families that batch in Python.
    """
    epoch, skip = divmod(start_step, per_epoch)
    while True:
        yield from epoch_batches(epoch)[skip:]
        epoch, skip = epoch + 1, 0


class _Checkpointer(keras.callbacks.Callback):
    """Saves last/best checkpoints and state each epoch, and stops early."""

    def __init__(self, run, schedule, state):
        super().__init__()
        self.run, self.schedule, self.state = run, schedule, state

    def _improved(self, value):
        if self.state.best is None:
            return True
        return value < self.state.best if self.schedule.mode == "min" else value > self.state.best

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get(self.schedule.monitor)
        if value is None:
            raise UserError(f"metric {self.schedule.monitor!r} was not computed; known: {', '.join(sorted(logs))}")
        self.state.epoch = epoch + 1
        if self._improved(value):
            self.state.best = float(value)
            self.state.epochs_without_improvement = 0
            save_model(self.model, self.run.file(BEST))
        else:
            self.state.epochs_without_improvement += 1
        patience = self.schedule.patience
        if patience and self.state.epochs_without_improvement >= patience:
            print(f"early stopping: {self.schedule.monitor} has not improved for {patience} epochs")
            self.model.stop_training = True
            self.state.finished = True
        save_checkpoint(self.model, self.run, self.state)


def save_model(model, path):
    """Atomic save, by the chief only (other workers of a distributed run write nothing)."""
    if is_chief():
        atomic_save_model(model, path)


def save_checkpoint(model, run, state):
    state.step = int(model.optimizer.iterations.numpy())
    save_model(model, run.file(LAST))
    if is_chief():
        atomic_write_json(run.file(STATE), dataclasses.asdict(state))


def load_checkpoint(run, custom_objects=None):
    """`(model, state)` from the run's last checkpoint, optimizer included."""
    if not run.file(LAST).is_file() or not run.file(STATE).is_file():
        raise UserError(f"cannot resume: {run.path} has no checkpoint yet (no {LAST})")
    model = load_keras_model(run.file(LAST), custom_objects=custom_objects, compile=True)
    return model, TrainingState.load(run.file(STATE))


def fit(model, run, make_batches, schedule, validation_data, state=None, callbacks=(), verbose="auto"):
    """Train `model` (compiled) until the schedule ends, early stopping, or Ctrl-C.

    `make_batches(start_step)` returns the batch stream from that global step on.
    `callbacks` run before checkpointing, so metrics they add to the epoch logs
    (dev F1, dev BLEU) can be monitored. Returns the final `TrainingState`.
    """
    state = state or TrainingState()
    if state.finished or state.epoch >= schedule.epochs:
        print(f"training already finished ({state.epoch} epochs); nothing to do")
        return state
    checkpointer = _Checkpointer(run, schedule, state)
    shared = list(callbacks) + [checkpointer]
    if is_chief():
        shared += [
            keras.callbacks.CSVLogger(str(run.file("metrics.csv")), append=True),
            keras.callbacks.TensorBoard(str(run.file("tensorboard")), write_graph=False),
        ]
    trainer = trainer_for(model)  # Keras's fit, or our loop for the strategies Keras cannot drive
    validation_data = shard_by_slices(validation_data)
    batches_from = lambda step: shard_by_slices(make_batches(step))  # noqa: E731  (each worker: its slice)
    try:
        done_in_epoch = state.step - state.epoch * schedule.steps_per_epoch
        if 0 < done_in_epoch < schedule.steps_per_epoch:  # interrupted inside an epoch: finish it first
            print(f"resuming inside epoch {state.epoch + 1} at step {state.step}")
            trainer.fit(
                batches_from(state.step), steps_per_epoch=schedule.steps_per_epoch - done_in_epoch,
                initial_epoch=state.epoch, epochs=state.epoch + 1, validation_data=validation_data,
                callbacks=shared, verbose=verbose, shuffle=False,
            )
        elif done_in_epoch >= schedule.steps_per_epoch:  # stopped after the last step, before the epoch's end
            print(f"resuming inside epoch {state.epoch + 1} after its last step {state.step}: validating it")
            _finish_epoch(model, trainer, state.epoch, validation_data, list(callbacks) + [checkpointer])
        if not state.finished and state.epoch < schedule.epochs:
            trainer.fit(
                batches_from(state.epoch * schedule.steps_per_epoch), steps_per_epoch=schedule.steps_per_epoch,
                initial_epoch=state.epoch, epochs=schedule.epochs, validation_data=validation_data,
                callbacks=shared, verbose=verbose, shuffle=False,
            )
    except KeyboardInterrupt:
        save_checkpoint(model, run, state)
        raise UserError(
            f"interrupted at step {state.step}; checkpoint saved in {run.path} (continue with --resume)"
        ) from None
    state.finished = True
    if is_chief():
        atomic_write_json(run.file(STATE), dataclasses.asdict(state))
    return state


def _finish_epoch(model, trainer, epoch, validation_data, callbacks):
    """The end-of-epoch work (validation, checkpoints) that an interruption cut off."""
    logs = trainer.evaluate(validation_data, return_dict=True, verbose=0)
    logs = {f"val_{name}": value for name, value in logs.items()}
    for callback in callbacks:
        callback.set_model(model)
        callback.on_epoch_end(epoch, logs)


def load_best_or_last(run, custom_objects=None):
    """The best checkpoint for inference (the last one if no epoch finished yet)."""
    path = run.file(BEST) if run.file(BEST).is_file() else run.file(LAST)
    if not path.is_file():
        raise UserError(f"{run.path} holds no trained model yet (no {BEST} or {LAST}); train it first")
    model = load_keras_model(path, custom_objects=custom_objects)
    return model
