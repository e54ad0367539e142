"""Training on several devices or hosts with TensorFlow's own engine, `tf.distribute`.

Strategies (recipe key `train.strategy`, option `--strategy`):

    auto          multi-worker when TF_CONFIG describes a cluster of several tasks, else
                  mirrored when this machine has several GPUs, else one-device
    one-device    no distribution: TensorFlow's default placement (the first GPU, else the CPU)
    mirrored      `MirroredStrategy` over every local GPU (every logical CPU device if no GPU)
    multi-worker  `MultiWorkerMirroredStrategy` over the tasks that TF_CONFIG lists

`train.batch_size` is the global batch: one optimizer step consumes that many examples in
all, split evenly over the replicas, and its gradient is the mean over all of them (each
replica's loss is scaled by 1/replicas and the gradients are summed). So a step means the
same on one device or on sixteen, the learning rate needs no change, and a run resumes
under another strategy. Every worker builds the same batch stream; each takes its own
slice of every global batch (`shard_by_slices`).

A model family wires this in three places: `make_strategy` first thing in its training
function (multi-worker must configure TensorFlow's runtime before anything runs), build,
compile or load the model inside `strategy.scope()`, and return right after
`training.fit` on workers other than the chief (`is_chief`): only the chief writes the run
directory. `training.fit` picks the loop itself (`trainer_for`).
"""

from textlstm.errors import UserError
from textlstm.rundir import is_chief, tf_config

STRATEGIES = ("auto", "one-device", "mirrored", "multi-worker")

_created = {}  # one strategy of each kind per process: multi-worker can configure TensorFlow once


def make_strategy(name, batch_size=None):
    """The `tf.distribute.Strategy` for a `train.strategy` name; call it before TensorFlow runs anything.

    `batch_size` (the recipe's global `train.batch_size`) is checked against the replicas: each
    global batch is cut into one piece per replica, so a batch smaller than the replica count
    leaves a replica nothing to compute (TensorFlow fails inside the first step), and uneven
    pieces would weigh the char LM's windows unequally (its loss is each piece's mean).

    Raises:
        UserError: `batch_size` not a multiple of the strategy's replica count (one line, before any work).
    """
    name = resolve_name(name)
    if name not in _created:
        _created[name] = _create(name)
    strategy = _created[name]
    print(f"strategy: {describe(strategy)}")
    replicas = strategy.num_replicas_in_sync
    if batch_size is not None and batch_size % replicas:
        raise UserError(
            f"train.batch_size={batch_size} is not a multiple of the {replicas} replicas of this strategy "
            f"(each takes an equal part of every batch); use --set train.batch_size="
            f"{max(replicas, batch_size // replicas * replicas)} or another multiple of {replicas}"
        )
    return strategy


def summed_over_replicas(count):
    """`(count summed over the replicas in sync, their number)`, inside a replica's step; `(count, 1)`
    with one replica or outside a strategy's step.

    For a loss that is a mean over what a batch holds (tokens, sentences) while each replica holds
    only part of the batch: dividing a replica's sum by the count of all replicas together gives
    its share of the whole batch's mean, however padding fell between the parts, so the summed
    gradients are those of one device. A mean over each part alone would weigh a part's items
    by how many the part holds.
    """
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return count, 1
    return context.all_reduce(tf.distribute.ReduceOp.SUM, count), context.num_replicas_in_sync


def resolve_name(name):
    """The concrete strategy that `name` means here ("auto" decided), after checking it fits TF_CONFIG."""
    if name not in STRATEGIES:
        raise UserError(f"train.strategy must be one of {', '.join(STRATEGIES)}; got {name!r}")
    tasks = cluster_size()
    if name == "auto":
        return "multi-worker" if tasks > 1 else "mirrored" if len(_physical_gpus()) > 1 else "one-device"
    if tasks > 1 and name != "multi-worker":
        raise UserError(
            f"TF_CONFIG describes a cluster of {tasks} tasks, but train.strategy is {name!r}; "
            f"use --strategy multi-worker (or auto), or unset TF_CONFIG"
        )
    return name


def _create(name):
    import tensorflow as tf

    if name == "one-device":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [device.name for device in gpus or tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as error:
        if "program startup" in str(error):
            raise RuntimeError(
                "the multi-worker strategy must be created before TensorFlow runs anything: "
                "call textlstm.distribute.make_strategy first in the training function"
            ) from error
        raise
    except ValueError as error:  # a malformed cluster in TF_CONFIG
        raise UserError(f"TF_CONFIG cannot start a multi-worker run ({error})") from None


def _physical_gpus():
    import tensorflow as tf

    return tf.config.list_physical_devices("GPU")  # does not start TensorFlow's runtime


def describe(strategy):
    """One line: which strategy, over how many replicas, and this task's role."""
    import tensorflow as tf

    replicas = strategy.num_replicas_in_sync
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        role = "the chief, writes the run directory" if is_chief() else "not the chief, writes nothing"
        task = tf_config().get("task") or {}
        return (
            f"multi-worker, {cluster_size() or 1} workers, {replicas} replicas in all; this task is "
            f"{task.get('type', 'worker')} {task.get('index', 0)} ({role})"
        )
    if isinstance(strategy, tf.distribute.MirroredStrategy):
        devices = ", ".join(
            name.split("/")[-1].lower().replace("device:", "") for name in strategy.extended.worker_devices
        )
        return f"mirrored over {replicas} device{'s' if replicas > 1 else ''} ({devices})"
    return "one device (TensorFlow's default placement)"


def cluster_size():
    """Training tasks (chief and workers) that TF_CONFIG lists; 0 without TF_CONFIG."""
    cluster = tf_config().get("cluster") or {}
    if not isinstance(cluster, dict):
        raise UserError(f'TF_CONFIG "cluster" must be an object of task lists, got {cluster!r}')
    return sum(len(cluster.get(kind) or ()) for kind in ("chief", "worker"))


def shard_by_slices(dataset):
    """Tell tf.distribute to give each worker its slice of every global batch.

    Our batch streams are made in memory (no files to divide among workers), and every
    worker builds the same one; with this policy each global batch is cut into one piece
    per replica and each worker keeps its own pieces, so together they see exactly the
    batches one process would. Without it TensorFlow tries to shard by file and warns.
    """
    import tensorflow as tf

    if not isinstance(dataset, tf.data.Dataset):
        return dataset
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def trainer_for(model):
    """What runs `fit` and `evaluate` for `model`: Keras itself, or our loop where Keras cannot.

    Keras 3's `fit` and `evaluate` fail under `MultiWorkerMirroredStrategy`
    (keras-team/keras#20585: building the model reduces a batch with `strategy.reduce`, and
    scalar step outputs are reduced along an axis they lack), so a model made under that
    strategy is driven by `StrategyLoop`, which runs the same compiled steps.
    """
    import tensorflow as tf

    strategy = model.distribute_strategy
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        from textlstm.strategy_loop import StrategyLoop

        return StrategyLoop(model, strategy)
    return model
