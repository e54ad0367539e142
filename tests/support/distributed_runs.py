"""Tiny char LM runs for the tf.distribute tests, in this process or in a fresh one.

TensorFlow fixes its devices and its cluster when it starts, so distributed runs need new
processes: `python -m tests.distributed_runs SPEC` with SPEC a JSON object, either
{"replicas": N, "recipe": {...}, "runs": [{"run_dir", "strategy", "resume", "interrupt_at", "hang_at"}]},
which splits the first GPU (or, without one, the CPU) into N logical devices ("logical_cpus": N
splits the CPU alone) and prints one JSON line, the running training loss after every
optimizer step per run, or
{"commands": [[arg, ...], ...], "logical_cpus": N}: `textlstm` commands run one after the other
in this process, over N logical CPU devices, or
{"commands": [[arg, ...], ...], "rendezvous": DIR, "index": I}: `textlstm` commands run one
after the other in this process as worker I of a cluster on 127.0.0.1 (a multi-worker
strategy can be set up only once per process). The worker picks its own port: it binds a
free one and keeps it, writes it to DIR/port-I, waits for DIR/cluster.json (every worker's
address, written by the test once all have reported), and lets go of the port only just
before TensorFlow's server binds it, so no other process can take it in between in practice.
"""

import json
import os
import pathlib
import socket
import sys
import time

STEP_LOSSES_MARK = "step losses: "
HANGING_MARK = "hanging at step "


def train_recording_losses(recipe, run_dir, resume=False, interrupt_at=None, hang_at=None):
    """Train with `train_charlm`, returning the running loss after each step.

    `interrupt_at` simulates Ctrl-C when the optimizer reaches that step (as
    tests/training/test_training_resume.py does), so the run stops with a checkpoint there.
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


def join_cluster(rendezvous, index, timeout=600):
    """Report a port of our own in `rendezvous`, wait for the cluster, and set TF_CONFIG.

    Returns the socket that holds the port; close it right before TensorFlow starts its server.
    """
    rendezvous = pathlib.Path(rendezvous)
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    partial = rendezvous / f".port-{index}"
    partial.write_text(str(holder.getsockname()[1]))
    partial.rename(rendezvous / f"port-{index}")  # appears whole
    cluster_file = rendezvous / "cluster.json"
    deadline = time.monotonic() + timeout
    while not cluster_file.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {cluster_file} after {timeout} s")
        time.sleep(0.05)
    cluster = json.loads(cluster_file.read_text())
    os.environ["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
    return holder


def split_devices(replicas, cpu_only=False):
    """`replicas` logical devices of the first GPU, or of the CPU where there is no GPU (or `cpu_only`)."""
    import tensorflow as tf

    gpus = [] if cpu_only else tf.config.list_physical_devices("GPU")
    if gpus:  # a few GB each: the runs are tiny
        config = [tf.config.LogicalDeviceConfiguration(memory_limit=2048)] * replicas
        tf.config.set_logical_device_configuration(gpus[0], config)
    else:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)


def main(spec):
    if "commands" in spec and "rendezvous" in spec:
        holder = join_cluster(spec["rendezvous"], spec["index"])
        import tensorflow  # noqa: F401  (imported while the port is still held: the gap stays short)

        from textlstm.cli import main as textlstm

        holder.close()  # the first command's strategy binds the port at once
        for args in spec["commands"]:
            textlstm.main(args, prog_name="textlstm", standalone_mode=False)
        return
    if "commands" in spec:  # on one machine, over "logical_cpus" CPU devices
        split_devices(spec.get("logical_cpus", 1), cpu_only=True)
        from textlstm.cli import main as textlstm

        for args in spec["commands"]:
            textlstm.main(args, prog_name="textlstm", standalone_mode=False)
        return
    if spec.get("replicas", 1) > 1:
        split_devices(spec["replicas"])
    elif spec.get("logical_cpus", 1) > 1:
        split_devices(spec["logical_cpus"], cpu_only=True)
    losses = []
    for run in spec["runs"]:
        recipe = json.loads(json.dumps(spec["recipe"]))
        recipe["train"]["strategy"] = run.get("strategy", recipe["train"]["strategy"])
        losses.append(
            train_recording_losses(
                recipe, run["run_dir"], run.get("resume", False), run.get("interrupt_at"), run.get("hang_at")
            )
        )
    print(STEP_LOSSES_MARK + json.dumps(losses))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
