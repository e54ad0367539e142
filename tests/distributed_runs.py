"""Tiny char LM runs for the tf.distribute tests, in this process or in a fresh one.

TensorFlow fixes its devices and its cluster when it starts, so distributed runs need new
processes: `python -m tests.distributed_runs SPEC` with SPEC a JSON object, either
{"logical_cpus": N, "recipe": {...}, "runs": [{"run_dir", "strategy", "resume", "interrupt_at", "hang_at"}]},
which prints one JSON line, the running training loss after every optimizer step per run,
or {"commands": [[arg, ...], ...]}: `textlstm` commands run one after the other in this
process (a multi-worker strategy can be set up only once per process).
"""

import json
import sys

STEP_LOSSES_MARK = "step losses: "
HANGING_MARK = "hanging at step "


def train_recording_losses(recipe, run_dir, resume=False, interrupt_at=None, hang_at=None):
    """Train with `train_charlm`, returning the running loss after each step.

    `interrupt_at` simulates Ctrl-C when the optimizer reaches that step (as
    tests/test_training_resume.py does), so the run stops with a checkpoint there.
    `hang_at` prints HANGING_MARK and the step, then waits to be killed (SIGKILL tests).
    """
    import time

    from textlstm import training
    from textlstm.charlm.train import train_charlm
    from textlstm.errors import UserError

    losses = []

    def on_train_batch_end(self, batch, logs=None):
        losses.append(float(logs["loss"]))
        if interrupt_at is not None and int(self.model.optimizer.iterations.numpy()) == interrupt_at:
            raise KeyboardInterrupt
        if hang_at is not None and int(self.model.optimizer.iterations.numpy()) == hang_at:
            print(f"{HANGING_MARK}{hang_at}", flush=True)
            time.sleep(3600)

    training._Checkpointer.on_train_batch_end = on_train_batch_end
    try:
        train_charlm(recipe, run_dir, resume=resume)
    except UserError as error:
        if interrupt_at is None or "interrupted" not in str(error):
            raise
    finally:
        del training._Checkpointer.on_train_batch_end
    return losses


def main(spec):
    if "commands" in spec:
        from textlstm.cli import main as textlstm

        for args in spec["commands"]:
            textlstm.main(args, prog_name="textlstm", standalone_mode=False)
        return
    import tensorflow as tf

    if spec.get("logical_cpus", 1) > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * spec["logical_cpus"])
    losses = []
    for run in spec["runs"]:
        recipe = json.loads(json.dumps(spec["recipe"]))
        recipe["train"]["strategy"] = run.get("strategy", recipe["train"]["strategy"])
        losses.append(train_recording_losses(recipe, run["run_dir"], run.get("resume", False), run.get("interrupt_at"),
                                             run.get("hang_at")))
    print(STEP_LOSSES_MARK + json.dumps(losses))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
