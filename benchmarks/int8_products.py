"""Why int8 weights do not make batch-1 generation faster on a CPU: one matrix-vector product of a
generation step, written each way XLA could run it, timed side by side.

Each variant runs 200 dependent products `h @ W` in one XLA-compiled loop (each product's first
`rows` outputs, through tanh, are the next `h`, as characters feed each other), `W` being
`rows x columns` (default 1024 x 2048, the char LM's second layer: 8 MB of float32, 2 MB of int8).
Printed: microseconds a product, median of the repeats, and the ratio to the float32 dot.

    python benchmarks/int8_products.py
    python benchmarks/int8_products.py --rows 512 --columns 2048 --repeats 11
"""

import argparse
import statistics
import time

import numpy as np
import tensorflow as tf

PRODUCTS = 200


def variants(matrix, quantized):
    """name -> (product(h [1, rows], stored) -> [1, columns], stored weights)."""
    return {
        "float32 dot": (lambda h, w: tf.matmul(h, w), matrix),
        "int8 cast, then dot": (lambda h, w: tf.matmul(h, tf.cast(w, tf.float32)), quantized),
        "bfloat16 cast, then dot": (lambda h, w: tf.matmul(h, tf.cast(w, tf.float32)), tf.cast(matrix, tf.bfloat16)),
        "int8 transposed, dot": (
            lambda h, w: tf.matmul(h, tf.cast(w, tf.float32), transpose_b=True),
            tf.transpose(quantized),
        ),
        "int8 multiply, sum rows": (
            lambda h, w: tf.reduce_sum(tf.cast(w, tf.float32) * tf.transpose(h), axis=0, keepdims=True),
            quantized,
        ),
        "int8 transposed, sum columns": (
            lambda h, w: tf.transpose(tf.reduce_sum(tf.cast(w, tf.float32) * h, axis=1, keepdims=True)),
            tf.transpose(quantized),
        ),
        "float32 multiply, sum rows": (
            lambda h, w: tf.reduce_sum(w * tf.transpose(h), axis=0, keepdims=True),
            matrix,
        ),
    }


def chained(product, rows):
    @tf.function(jit_compile=True)
    def run(h, weights):
        def body(i, h):
            return i + 1, tf.tanh(product(h, weights)[:, :rows])

        return tf.while_loop(lambda i, h: i < PRODUCTS, body, (0, h))[1]

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1024)
    parser.add_argument("--columns", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    if args.columns < args.rows:
        raise SystemExit("--columns must be at least --rows (each product's first rows outputs feed the next)")
    rng = np.random.default_rng(0)
    matrix = tf.constant(rng.standard_normal((args.rows, args.columns)).astype("float32"))
    quantized = tf.constant(rng.integers(-127, 128, (args.rows, args.columns)).astype("int8"))
    h = tf.constant(rng.standard_normal((1, args.rows)).astype("float32"))
    runs = {
        name: (chained(product, args.rows), stored) for name, (product, stored) in variants(matrix, quantized).items()
    }
    for run, stored in runs.values():
        run(h, stored).numpy()  # compile
    seconds = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, (run, stored) in runs.items():
            start = time.perf_counter()
            run(h, stored).numpy()
            seconds[name].append((time.perf_counter() - start) / PRODUCTS)
    base = statistics.median(seconds["float32 dot"])
    print(f"{args.rows} x {args.columns} matrix, batch 1, {PRODUCTS} dependent products in one XLA loop:")
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"  {name:30s} {median * 1e6:8.1f} us a product   {base / median:5.2f}x the float32 dot")


if __name__ == "__main__":
    main()
