"""Times our LSTM/GRU in float32 and mixed bfloat16 against Keras's, in one run, at the char LM's size.

Four models of the char LM's shape (embedding 64 → 2 stacked recurrent layers of 512 units →
logits over 65 characters, batch 64 × 100 steps), all with the same weights:

- ours-f32, ours-bf16 (`textlstm.layers`), keras-f32, keras-bf16 (`keras.layers.LSTM`/`GRU`);
- "bf16" is Keras's `mixed_bfloat16` policy given to each layer (weights float32, computation
  bfloat16), the logits layer and the loss staying float32, exactly as `train.precision =
  "mixed_bfloat16"` builds the char LM (`textlstm.charlm.model.build_model`).

Each is timed through Keras's entry points, `predict_on_batch` (inference) and
`train_on_batch` (one training step, Adam), interleaved call after call so that load on a
shared machine slows all four alike; medians are compared. Printed: the CPU model and
whether it has bfloat16 instructions (`avx512_bf16`/`amx_bf16`; without them TensorFlow
emulates bfloat16 and mixed precision is expected to be slower, not faster), the four
times, and the ratios ours-bf16/ours-f32 and ours-bf16/keras-bf16 as speed-ups (> 1: the
first is faster).

    python benchmarks/bench_precision.py                 # LSTM at the char LM's size
    python benchmarks/bench_precision.py --kind GRU --repeats 3
    python benchmarks/bench_precision.py --small         # 1 layer of 128, batch 16 x 25: a quick look
"""

import argparse
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

import textlstm  # noqa: F401  (TensorFlow backend)
from textlstm import precision as precision_lib
from textlstm.layers import GRU, LSTM

LAYERS = {"LSTM": (LSTM, keras.layers.LSTM), "GRU": (GRU, keras.layers.GRU)}
VOCAB, EMBEDDING = 65, 64  # tiny-shakespeare's characters; the char LM's default embedding
VARIANTS = (
    ("ours-f32", 0, "float32"),
    ("ours-bf16", 0, "mixed_bfloat16"),
    ("keras-f32", 1, "float32"),
    ("keras-bf16", 1, "mixed_bfloat16"),
)


def build(layer_cls, layers, units, precision):
    policy = precision_lib.policy(precision)
    inputs = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(VOCAB, EMBEDDING, dtype=policy)(inputs)
    for _ in range(layers):
        x = layer_cls(units, return_sequences=True, dtype=policy)(x)
    model = keras.Model(inputs, keras.layers.Dense(VOCAB, dtype="float32")(x))
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def interleaved_medians(calls, repeats):
    """Median seconds of each call, timing them in turn so load changes hit all alike."""
    for call in calls.values():  # trace and warm up
        call()
        call()
    times = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=sorted(LAYERS), default="LSTM", help="recurrent layer (default LSTM)")
    parser.add_argument("--layers", type=int, default=2, help="stacked recurrent layers (default 2)")
    parser.add_argument("--units", type=int, default=512, help="units per layer (default 512)")
    parser.add_argument("--batch", type=int, default=64, help="sequences per batch (default 64)")
    parser.add_argument("--steps", type=int, default=100, help="characters per sequence (default 100)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per variant and pass (median; default 5)")
    parser.add_argument("--small", action="store_true", help="1 layer of 128 units, batch 16 x 25 steps, 3 repeats")
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow threads (default 0: TensorFlow's choice)")
    args = parser.parse_args()
    if args.small:
        args.layers, args.units, args.batch, args.steps, args.repeats = 1, 128, 16, 25, 3
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    has_bf16 = precision_lib.cpu_has_bfloat16()
    gpu = bool(tf.config.list_logical_devices("GPU"))
    said = {
        True: "yes",
        False: "no (bfloat16 is emulated: expect mixed_bfloat16 slower than float32)",
        None: "unknown",
    }[has_bf16]
    print(
        f"CPU: {precision_lib.cpu_model()}; bfloat16 instructions ({'/'.join(precision_lib.BF16_CPU_FLAGS)}): "
        f"{said}; GPU: {gpu}; threads: {args.threads or 'default'}"
    )
    print(
        f"{args.kind}: {args.layers} x {args.units} units, batch {args.batch} x {args.steps} steps, "
        f"embedding {EMBEDDING}, vocabulary {VOCAB}; median of {args.repeats}"
    )

    models = {}
    for name, which, precision in VARIANTS:
        models[name] = build(LAYERS[args.kind][which], args.layers, args.units, precision)
    weights = models["keras-f32"].get_weights()
    for model in models.values():
        model.set_weights(weights)
    rng = np.random.default_rng(0)
    x = rng.integers(0, VOCAB, size=(args.batch, args.steps)).astype("int32")
    y = rng.integers(0, VOCAB, size=(args.batch, args.steps)).astype("int32")
    reference = models["keras-f32"].predict_on_batch(x)
    for name, model in models.items():
        print(f"  {name:10} max |logits - keras-f32 logits|: {np.abs(model.predict_on_batch(x) - reference).max():.1e}")

    rows = {}
    for pass_name in ("predict", "train"):
        if pass_name == "predict":
            calls = {name: (lambda m=m: m.predict_on_batch(x)) for name, m in models.items()}
        else:
            calls = {name: (lambda m=m: m.train_on_batch(x, y)) for name, m in models.items()}
        rows[pass_name] = interleaved_medians(calls, args.repeats)

    print(
        f"\n{'pass':8}"
        + "".join(f"{name + ' ms':>15}" for name, _, _ in VARIANTS)
        + f"{'ours-bf16 vs ours-f32':>24}{'ours-bf16 vs keras-bf16':>26}{'ours-f32 vs keras-f32':>24}"
    )
    for pass_name, seconds in rows.items():
        print(
            f"{pass_name:8}"
            + "".join(f"{seconds[name] * 1e3:15.1f}" for name, _, _ in VARIANTS)
            + f"{seconds['ours-f32'] / seconds['ours-bf16']:23.2f}x"
            + f"{seconds['keras-bf16'] / seconds['ours-bf16']:25.2f}x"
            + f"{seconds['keras-f32'] / seconds['ours-f32']:23.2f}x",
            flush=True,
        )
    print("(ratios are speed-ups: > 1 means the first of the pair is faster)")


if __name__ == "__main__":
    main()
