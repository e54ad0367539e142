"""The one training driver: every model family trains through `train_family`, in one order.

    check the recipe → strategy → absolute paths → resume or restart → read the data →
    memory check → start the run (a new one) → prepare the data (artefacts into a new run) →
    schedule → restore, or build and compile → write the recipe (resumed) → fit → report (chief)

A family declares only what differs, as a `FamilyTraining` subclass in its `train.py` (found
through `textlstm.families.trainer(kind)`): how its data are read, checked and prepared,
what it writes into a new run, its model, its batches, its dev metric and how it reports.
The optimizer comes from the one factory (`textlstm.optim.optimizer`) for every family, and
a dev metric reaches the epoch logs through the one callback (`DevMetric`).

The memory check follows the data: two of the three estimates need the vocabulary sizes
the data give (`memory.charlm_bytes`, `memory.tagger_bytes`); it still comes before any
run directory is written.
"""

import keras

from textlstm import distribute, families, memory, optim, training
from textlstm.interrupts import interruptible
from textlstm.recipes import recipe_to_toml
from textlstm.rundir import RunDir
from textlstm.schema import check_recipe


class FamilyTraining:
    """What a model family supplies to the driver; one instance per training.

    Class attributes: `kind` (the registry's kind), `path_keys` (the recipe keys that name
    input files: made absolute so the saved recipe works from any directory), `monitor` and
    `mode` (the epoch metric that picks best.keras: "min" or "max").
    The driver sets `run_path`, `resume` and, before `build`, `schedule` on the instance.
    """

    kind = None
    path_keys = ()
    monitor, mode = "val_loss", "min"

    def __init__(self, recipe):
        self.recipe = recipe
        self.run_path, self.resume, self.schedule = None, False, None

    def read(self, run):
        """Read and check the data (`run`: the run being resumed, else None); write nothing.
        Raises `UserError` for unusable data."""
        raise NotImplementedError

    def memory_estimate(self):
        """`(bytes, sizes)`: the memory training needs and the recipe values that set it (`memory.check_fits`)."""
        raise NotImplementedError

    def prepare(self, run):
        """Once the run exists: write what a new run keeps beside its model (vocabularies, subword
        models), encode the data and print what they hold."""
        raise NotImplementedError

    def batches_per_epoch(self):
        raise NotImplementedError

    def build(self):
        """A new, uncompiled model (inside the strategy's scope)."""
        raise NotImplementedError

    def compile_settings(self):
        """`model.compile` arguments other than the optimizer (loss, jit_compile)."""
        return {}

    def training_batches(self, start_step):
        raise NotImplementedError

    def evaluation_batches(self):
        raise NotImplementedError

    def callbacks(self, run):
        """Callbacks of the family's own (shown metrics); the dev metric is `dev_metric`'s."""
        return []

    def dev_metric(self, model, epoch):
        """{name: value} of the dev metric after `epoch` (0-based), or None where it is not measured
        then (the last value is reported again). The driver's `DevMetric` adds them as val_NAME."""
        return None

    def dev_line(self, scores):
        """The words printed after "epoch N: " for freshly measured `scores`."""
        return ""

    def previous_dev_scores(self, run):
        """The dev scores reported until they are first measured (a resumed run: its last ones; {} for none)."""
        return {}

    def has_dev_metric(self):
        return type(self).dev_metric is not FamilyTraining.dev_metric

    def after_build(self):
        """Free what only building needed (the model keeps its own copy)."""

    def report(self, run, state):
        """Chief only, after fit: print the result; returns the metrics `train_family` returns."""
        raise NotImplementedError


class DevMetric(keras.callbacks.Callback):
    """Adds the family's dev metric to the epoch logs as val_NAME (so the checkpointer keeps
    best.keras by it and metrics.csv records it).

    The epoch's one line shows it: with plain output `training.EpochLine` prints `epoch_line` (the
    family's `dev_line`, set when measured) in place of the val_NAME numbers it covers; on a
    terminal, where Keras's progress bar ends the epoch, it is printed below the bar.
    `previous`: the scores reported on epochs where the family measures nothing.
    """

    def __init__(self, family, previous=None):
        super().__init__()
        self.family, self.scores = family, dict(previous or {})
        self.epoch_line, self.covered = None, ()

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        scores = self.family.dev_metric(self.model, epoch)
        self.epoch_line = None
        if scores is not None:
            self.scores = scores
            self.epoch_line = self.family.dev_line(scores) or None
            if self.epoch_line and training.progress_verbosity() == 1:  # below the terminal's bar
                print(f"\nepoch {epoch + 1}: {self.epoch_line}", flush=True)
        self.covered = tuple(f"val_{name}" for name in self.scores)
        logs.update({f"val_{name}": value for name, value in self.scores.items()})


def _train(kind, recipe, run_path, resume=False):
    family = families.trainer(kind)(recipe)
    train = recipe["train"]
    check_recipe(recipe, kind)  # every key in its declared range, before any work
    strategy = distribute.make_strategy(train["strategy"], train["batch_size"])  # first: multi-worker runtime
    training.absolute_paths(recipe, *family.path_keys)  # the saved recipe works from any directory
    resume = training.resume_or_restart(run_path, kind, resume)  # no checkpoint yet: from the beginning
    family.run_path, family.resume = run_path, resume
    run = previous = None
    if resume:
        run = RunDir.open(run_path, kind)
        previous = training.load_state(run)
    family.read(run)
    memory.check_fits(*family.memory_estimate())
    # once the data are read and the model fits: a refusal before this point is its one line alone
    print(f"run directory: {run_path}\nrecipe:\n" + recipe_to_toml(recipe), flush=True)
    if not resume:
        run = training.start_run(run_path, kind, recipe)  # only once the data are known to be usable
    family.prepare(run)
    schedule = training.plan_schedule(
        family.batches_per_epoch(),
        train["epochs"],
        train["steps_per_epoch"],
        train["max_steps"],
        previous=previous,
        monitor=family.monitor,
        mode=family.mode,
        patience=train["patience"],
    )
    family.schedule = schedule
    with strategy.scope():
        if resume:
            model, state = training.load_checkpoint(run)
        else:
            model, state = family.build(), None
            model.compile(
                optimizer=optim.optimizer(  # the schedule's length: max_steps only stops early
                    train, train["epochs"] * schedule.steps_per_epoch, schedule.steps_per_epoch
                ),
                **family.compile_settings(),
            )
            family.after_build()
    if resume:
        optim.check_schedule_covers(model.optimizer, schedule.total_steps)  # before the recipe is rewritten
        if distribute.is_chief():
            run.write_recipe(recipe)  # --epochs/--max-steps may have extended it
    callbacks = family.callbacks(run)
    if family.has_dev_metric():
        callbacks.append(DevMetric(family, family.previous_dev_scores(run)))
    state = training.fit(
        model,
        run,
        family.training_batches,
        schedule,
        family.evaluation_batches(),
        state=state,
        callbacks=callbacks,
        seed=train["seed"],
    )
    if not distribute.is_chief():  # the chief reports; this worker's part is done
        return run, None
    return run, family.report(run, state)


def train_family(kind, recipe, run_path, resume=False):
    """Train (or resume) a model of `kind` from a resolved `recipe` into `run_path`; returns `(run, metrics)`.

    `recipe` is changed in place (absolute paths). Under a multi-worker strategy, workers other
    than the chief return `(run, None)`. `resume` on a run stopped before its first checkpoint
    trains it from the beginning. No lock is taken (`textlstm.api.training` takes it).
    Raises `UserError` for unusable data or settings, and `Interrupted` on Ctrl-C at any moment
    (`textlstm.interrupts`: the line says how to continue).
    """
    return interruptible(kind)(lambda recipe, run_path, resume=False: _train(kind, recipe, run_path, resume))(
        recipe, run_path, resume=resume
    )
