"""How fast any GRU training step could be on this machine: the sum of its matrix products, each
timed alone, against what ours and Keras's GRU take for the whole step.

A GRU layer's training step (batch B x steps T, input width w -> u units, reset gate after the
product, Keras's default) must do these products, whatever the loop around them:

- forward: the input projection `[B*T, w] @ [w, 3u]` (one product), then T products
  `h @ U`, `[B, u] @ [u, 3u]`, each waiting for the one before;
- backward: T products `dz @ U^T`, `[B, 3u] @ [3u, u]`, each waiting for the one before; the
  weight gradients `x^T dz` `[w, B*T] @ [B*T, 3u]` and `h^T dz` `[u, B*T] @ [B*T, 3u]`; for
  every layer but the first, the input gradient `dz @ W^T`, `[B*T, 3u] @ [3u, w]`.

Each is timed on its own (the T-step chains as one loop of dependent products), with TensorFlow's
kernels and with XLA's, and the faster counts. Their sum leaves out every elementwise operation,
so no loop can beat it: `keras / bound` is the highest speed-up over Keras this machine allows
for the size, and `ours / bound` says how much of it ours reaches. Ours and Keras's are timed
as `bench_layers.py` times them (`train_on_batch`, Keras's default compile, interleaved medians).

    python benchmarks/gru_training_ceiling.py                # size a of bench_layers.py
    python benchmarks/gru_training_ceiling.py --sizes a,b --repeats 11
"""

import argparse
import time

import keras
import numpy as np
import tensorflow as tf
from bench_layers import SIZES, build, interleaved_medians, make_batch, matmul_peak_gflops

import textlstm  # noqa: F401  (TensorFlow backend)
from textlstm.layers import GRU


def _best_seconds(function, args, repeats):
    function(*args)  # trace, compile, warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        np.asarray(function(*args))
        times.append(time.perf_counter() - start)
    return min(times)


def _chain(steps, transposed):
    """T dependent products: `h @ U` (forward) or `dz @ U^T` (backward, the result tiled back to
    3u columns, a copy far cheaper than the product)."""

    def run(start, matrix):
        def body(t, x):
            if transposed:
                return t + 1, tf.tile(tf.matmul(x, matrix, transpose_b=True), [1, 3])
            return t + 1, tf.matmul(x, matrix)[:, : tf.shape(matrix)[0]]

        return tf.while_loop(lambda t, x: t < steps, body, (0, start), parallel_iterations=1)[1]

    return run


def _product(transpose_a):
    return lambda a, b: tf.matmul(a, b, transpose_a=transpose_a)


def product_bound(batch, steps, features, units, layers, repeats):
    """Seconds of the products of one training step of `layers` stacked GRU layers (see above),
    each the faster of TensorFlow's and XLA's kernels; and that sum's parts by name."""
    rng = np.random.default_rng(0)

    def array(*shape):
        return tf.constant(rng.standard_normal(shape).astype("float32") * 0.05)

    parts = {}
    for layer in range(layers):
        width = features if layer == 0 else units
        tokens, gates = batch * steps, 3 * units
        work = {
            "input projection": (_product(False), (array(tokens, width), array(width, gates))),
            "forward h @ U chain": (_chain(steps, False), (array(batch, units), array(units, gates))),
            "backward dz @ U^T chain": (_chain(steps, True), (array(batch, gates), array(units, gates))),
            "x^T dz": (_product(True), (array(tokens, width), array(tokens, gates))),
            "h^T dz": (_product(True), (array(tokens, units), array(tokens, gates))),
        }
        if layer > 0:
            work["dz @ W^T"] = (
                lambda a, b: tf.matmul(a, b, transpose_b=True),
                (array(tokens, gates), array(width, gates)),
            )
        for name, (function, args) in work.items():
            seconds = min(_best_seconds(tf.function(function, jit_compile=jit), args, repeats) for jit in (False, True))
            parts[name] = parts.get(name, 0.0) + seconds
    return sum(parts.values()), parts


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="a", help="comma-separated sizes of bench_layers.py (default a)")
    parser.add_argument("--repeats", type=int, default=11)
    args = parser.parse_args()

    peak = matmul_peak_gflops()
    print(f"float32 matmul peak (2048^3): {peak:.0f} GFLOP/s")
    for size_name in args.sizes.split(","):
        batch, steps, features, units, layers, masked = SIZES[size_name]
        if masked:
            raise SystemExit(f"size {size_name} is masked and bidirectional; this script covers plain stacks")
        bound, parts = product_bound(batch, steps, features, units, layers, args.repeats)
        size = SIZES[size_name]
        models = {"ours": build(GRU, *size, jit_compile="auto"), "keras": build(keras.layers.GRU, *size, "auto")}
        models["ours"].set_weights(models["keras"].get_weights())
        x, y = make_batch(*size)
        seconds = interleaved_medians(
            {n: (lambda m=m, x=x, y=y: m.train_on_batch(x, y)) for n, m in models.items()}, args.repeats
        )
        print(f"size {size_name} (batch {batch} x {steps}, {features} -> {units}, {layers} layers), GRU training step:")
        for name, part in parts.items():
            print(f"  {name:24s} {part * 1e3:8.1f} ms")
        print(f"  sum of the products      {bound * 1e3:8.1f} ms  (the bound)")
        print(
            f"  keras.layers.GRU         {seconds['keras'] * 1e3:8.1f} ms  "
            f"keras / bound = {seconds['keras'] / bound:.2f}x"
        )
        print(
            f"  textlstm GRU             {seconds['ours'] * 1e3:8.1f} ms  ours / keras = "
            f"{seconds['keras'] / seconds['ours']:.2f}x, ours at {bound / seconds['ours']:.0%} of the bound"
        )
        print(f"  the medians of {args.repeats} interleaved calls; the products' best of {args.repeats}")


if __name__ == "__main__":
    main()
