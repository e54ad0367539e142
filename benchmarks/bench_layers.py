"""Times textlstm's LSTM/GRU against keras.layers.LSTM/GRU exactly as users run them.

Both models get identical weights and are compiled with Keras's defaults
(`model.compile(optimizer="adam", loss="mse")`, so `jit_compile="auto"`: no XLA on a
CPU-only machine, XLA where Keras enables it on a GPU). Each measurement goes through
Keras's own entry points: `predict_on_batch` (what `predict`, `tag`, `translate` and
`evaluate` run) and `train_on_batch` (what `fit` runs). Ours and Keras's are timed
interleaved in the same process, call after call, and the medians are compared, so a
loaded machine slows both alike; only the ratio ours/Keras (> 1: ours is faster) means
anything across machines.

Sizes (batch x steps, input features -> units):

- a: 64 x 100, 64 -> 512, two stacked layers (the char LM recipe);
- b: 32 x 50, 256 -> 256, one layer;
- c: 32 x 40, 100 -> 128, `Bidirectional` over right-padded sequences of random
  lengths behind `keras.layers.Masking` (the tagger's shape).

Also printed: GFLOP/s of the recurrent layers' matmuls (2 multiply-adds per weight per
token forward, 3x that for a training step) as a percentage of this machine's float32
matmul peak, measured in the same run (a 2048^3 matmul). `--xla` adds rows where both
models are compiled with `jit_compile=True`, labelled "forced XLA": Keras's `fit` and
`predict` never do that on a CPU, so those rows are not what a user gets there.

On a machine shared with other work, wall-clock times of multi-threaded code swing
with the load; `--threads 1 --clock cpu` times one thread's CPU time instead, which the
load barely changes (peak and layers alike), at the cost of leaving out what a second
core would add.

    python benchmarks/bench_layers.py                  # LSTM and GRU, sizes a, b, c
    python benchmarks/bench_layers.py --sizes b,c --kinds GRU --repeats 5
    python benchmarks/bench_layers.py --xla            # also the forced-XLA rows
    python benchmarks/bench_layers.py --threads 1 --clock cpu   # on a loaded machine

`--baseline-gru FILE` adds a third GRU model, ours with the loops of an older copy of
`textlstm/layers/fused_gru.py` (e.g. `git show main:textlstm/layers/fused_gru.py > old.py`),
timed interleaved with the other two: the columns "base ms" and "ours/base".
"""

import argparse
import contextlib
import importlib.util
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

import textlstm  # noqa: F401  (TensorFlow backend)
from textlstm.layers import GRU, LSTM, fused_gru
from textlstm.layers import gru as gru_module

SIZES = {
    # name: (batch, steps, input features, units, stacked layers, bidirectional and masked)
    "a": (64, 100, 64, 512, 2, False),
    "b": (32, 50, 256, 256, 1, False),
    "c": (32, 40, 100, 128, 1, True),
}
GATES = {"LSTM": 4, "GRU": 3}
LAYERS = {"LSTM": (LSTM, keras.layers.LSTM), "GRU": (GRU, keras.layers.GRU)}


def build(layer_cls, batch, steps, features, units, layers, masked, jit_compile):
    model = keras.Sequential([keras.Input((steps, features), batch_size=batch)])
    if masked:
        model.add(keras.layers.Masking(0.0))
    for _ in range(layers):
        layer = layer_cls(units, return_sequences=True)
        model.add(keras.layers.Bidirectional(layer) if masked else layer)
    model.compile(optimizer="adam", loss="mse", jit_compile=jit_compile)
    return model


def baseline_gru(path):
    """A GRU layer class that runs the loops of the module file at `path`: its `gru_recurrence`, and
    in training its `gru_training` in its `training_chunks` pieces of time, or, in a copy from
    before pieces of time, `gru_recurrence` in one piece."""
    spec = importlib.util.spec_from_file_location("baseline_fused_gru", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pieces = [(fused_gru, "training_chunks", getattr(module, "training_chunks", lambda *_: 1))]
    if hasattr(module, "gru_training"):
        pieces.append((fused_gru, "gru_training", module.gru_training))

    @keras.saving.register_keras_serializable(package="bench_layers")  # Bidirectional copies it by its config
    class BaselineGRU(GRU):
        def _fused_loop(self, *args):
            with contextlib.ExitStack() as stack:  # patched while the call is traced
                stack.enter_context(_patched(gru_module, "gru_recurrence", module.gru_recurrence))
                for owner, name, value in pieces:
                    stack.enter_context(_patched(owner, name, value))
                return super()._fused_loop(*args)

    return BaselineGRU


@contextlib.contextmanager
def _patched(owner, name, value):
    previous = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, previous)


def make_batch(batch, steps, features, units, layers, masked, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, steps, features)).astype("float32")
    if masked:
        lengths = rng.integers(1, steps + 1, size=batch)
        lengths[0] = steps
        x[np.arange(steps)[None, :] >= lengths[:, None]] = 0.0
    width = units * (2 if masked else 1)
    y = rng.normal(size=(batch, steps, width)).astype("float32")
    return x, y


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter


def matmul_peak_gflops(n=2048, repeats=5):
    """float32 GFLOP/s of a large square matmul: the practical peak of this machine."""
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    matmul = tf.function(tf.matmul)
    matmul(a, b).numpy()
    times = []
    for _ in range(repeats):
        start = clock()
        matmul(a, b).numpy()
        times.append(clock() - start)
    return 2 * n**3 / min(times) / 1e9


def flops(kind, batch, steps, features, units, layers, masked, training):
    directions = 2 if masked else 1
    forward = 0
    for layer in range(layers):
        width = features if layer == 0 else units * directions
        forward += directions * 2 * batch * steps * (width + units) * GATES[kind] * units
    return 3 * forward if training else forward


def interleaved_medians(calls, repeats):
    """Median seconds of each call, timing them in turn so load changes hit all alike."""
    for call in calls.values():  # compile and warm up
        call()
        call()
    times = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = clock()
            call()
            times[name].append(clock() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def measure(kind, size, repeats, jit_compile, baseline_cls=None):
    ours_cls, keras_cls = LAYERS[kind]
    keras_model = build(keras_cls, *size, jit_compile=jit_compile)
    models = {"ours": build(ours_cls, *size, jit_compile=jit_compile), "keras": keras_model}
    if baseline_cls is not None:
        models["base"] = build(baseline_cls, *size, jit_compile=jit_compile)
    for model in models.values():
        model.set_weights(keras_model.get_weights())
    x, y = make_batch(*size)
    difference = np.abs(models["ours"].predict_on_batch(x) - keras_model.predict_on_batch(x)).max()
    rows = {}
    for pass_name in ("predict", "train"):
        if pass_name == "predict":
            calls = {name: (lambda m=m: m.predict_on_batch(x)) for name, m in models.items()}
        else:
            calls = {name: (lambda m=m: m.train_on_batch(x, y)) for name, m in models.items()}
        rows[pass_name] = interleaved_medians(calls, repeats)
    return rows, difference


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per measurement (median; default 7)")
    parser.add_argument("--kinds", default="LSTM,GRU", help="comma-separated: LSTM,GRU")
    parser.add_argument("--sizes", default="a,b,c", help="comma-separated: a,b,c")
    parser.add_argument("--xla", action="store_true", help="also time both under forced jit_compile=True")
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow threads (default 0: TensorFlow's choice)")
    parser.add_argument(
        "--clock", choices=sorted(CLOCKS), default="wall", help="wall time (default) or process CPU time"
    )
    parser.add_argument(
        "--baseline-gru", metavar="FILE", help="also time ours with this older copy of fused_gru.py (GRU only)"
    )
    args = parser.parse_args()
    baseline_cls = baseline_gru(args.baseline_gru) if args.baseline_gru else None
    global clock
    clock = CLOCKS[args.clock]
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    peak = matmul_peak_gflops()
    print(
        f"float32 matmul peak (2048^3): {peak:.0f} GFLOP/s; clock: {args.clock}; threads: {args.threads or 'default'}; "
        f"GPU: {bool(tf.config.list_logical_devices('GPU'))}"
    )
    header = (
        f"{'layer':5} {'size':4} {'pass':8} {'compile':11} {'ours ms':>9} {'keras ms':>9} {'ours %pk':>8} "
        f"{'keras %pk':>9} {'ours/keras':>10}"
        + (f" {'base ms':>9} {'base %pk':>8} {'ours/base':>9}" if baseline_cls else "")
    )
    print(header)
    print("-" * len(header))
    ratios = []
    for kind in args.kinds.split(","):
        for size_name in args.sizes.split(","):
            size = SIZES[size_name]
            for jit_compile, label in [("auto", "default")] + ([(True, "forced XLA")] if args.xla else []):
                rows, difference = measure(
                    kind, size, args.repeats, jit_compile, baseline_cls if kind == "GRU" else None
                )
                for pass_name, seconds in rows.items():
                    work = flops(kind, *size, training=pass_name == "train") / 1e9
                    ratio = seconds["keras"] / seconds["ours"]
                    if label == "default":
                        ratios.append((kind, size_name, pass_name, ratio))
                    base = ""
                    if "base" in seconds:
                        base = (
                            f" {seconds['base'] * 1e3:9.1f} {100 * work / seconds['base'] / peak:7.1f}% "
                            f"{seconds['base'] / seconds['ours']:8.2f}x"
                        )
                    print(
                        f"{kind:5} {size_name:4} {pass_name:8} {label:11} {seconds['ours'] * 1e3:9.1f} "
                        f"{seconds['keras'] * 1e3:9.1f} {100 * work / seconds['ours'] / peak:7.1f}% "
                        f"{100 * work / seconds['keras'] / peak:8.1f}% {ratio:9.2f}x" + base,
                        flush=True,
                    )
                print(f"{'':5} {size_name:4} max |ours - keras| of predict_on_batch: {difference:.1e}", flush=True)
    print("\nours/keras at Keras's default compile settings (> 1: ours is faster)")
    print(f"{'':9}" + "".join(f"{s + ' ' + p:>12}" for s in args.sizes.split(",") for p in ("predict", "train")))
    for kind in args.kinds.split(","):
        cells = {(s, p): r for k, s, p, r in ratios if k == kind}
        print(
            f"{kind:9}"
            + "".join(f"{cells[(s, p)]:11.2f}x" for s in args.sizes.split(",") for p in ("predict", "train"))
        )


if __name__ == "__main__":
    main()
