"""Where an LSTM inference loop's input projection should run, on a multi-core CPU.

Three forms of the same LSTM forward pass (Keras's gate order, no mask), timed as graph
`tf.function`s, interleaved, medians:

- `upfront`: textlstm's fused loop in training and, before this probe, in inference:
  `x @ W + b` for every timestep as one large matmul, then a loop of `h @ U` and the gates;
- `in_loop`: Keras's generic loop: each step computes `x_t @ W` and `h @ U`;
- `one_ahead`: each step computes the next step's `x_{t+1} @ W + b` beside its own
  `h @ U`, so the projection has no dependence on the recurrent chain and TensorFlow's
  executor can run it on another core while the chain waits on its small matmul.

The question it answers: does computing the projection up front, where it is one efficient
matmul, beat overlapping it with the chain? On one thread it does. With more threads the
chain (small matmuls, then elementwise work) leaves cores idle, which the in-loop forms fill.
Measured on 2 cores (205 GFLOP/s matmul peak, quiet), milliseconds:

    batch x steps, features -> units   upfront  in_loop  one_ahead
    32 x 50, 256 -> 256 (size b)         16.0     14.3     13.1
    64 x 100, 64 -> 512 (size a, 1st)    103.7    109.4    110.0
    64 x 100, 512 -> 512 (size a, 2nd)   155.4    154.3    152.4

so at size b the upfront projection is what put our `predict_on_batch` below Keras's
(0.95x in `bench_layers.py`); the graph loop's inference now runs `one_ahead`
(`textlstm/layers/overlap.py`), and `bench_layers.py` gives 1.10x (LSTM) and 1.20x (GRU) there.

    python benchmarks/probe_inference_overlap.py                 # sizes b and a
    python benchmarks/probe_inference_overlap.py --size 32,50,256,256 --threads 1
"""

import argparse
import statistics
import time

import numpy as np
import tensorflow as tf

SIZES = [(32, 50, 256, 256), (64, 100, 64, 512), (64, 100, 512, 512)]


def forms(batch, steps, features, units, seed=0):
    """The three loops over fixed random inputs and weights: name -> zero-argument function."""
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.standard_normal((steps, batch, features)).astype("float32"))
    kernel = tf.constant((rng.standard_normal((features, 4 * units)) * 0.05).astype("float32"))
    recurrent = tf.constant((rng.standard_normal((units, 4 * units)) * 0.05).astype("float32"))
    bias = tf.constant(np.zeros(4 * units, "float32"))
    zeros = tf.zeros((batch, units))

    def cell(z, h, c):
        i, f, g, o = tf.split(z, 4, axis=1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        return tf.sigmoid(o) * tf.tanh(c), c

    def loop(body, extra=()):
        states = tf.TensorArray(tf.float32, size=steps)
        result = tf.while_loop(lambda t, *_: t < steps, body, (0, zeros, zeros, *extra, states))
        return result[-1].stack()

    @tf.function
    def upfront():
        projected = tf.reshape(tf.matmul(tf.reshape(x, (-1, features)), kernel) + bias, (steps, batch, 4 * units))

        def body(t, h, c, states):
            h, c = cell(projected[t] + tf.matmul(h, recurrent), h, c)
            return t + 1, h, c, states.write(t, h)

        return loop(body)

    @tf.function
    def in_loop():
        def body(t, h, c, states):
            h, c = cell(tf.matmul(x[t], kernel) + tf.matmul(h, recurrent) + bias, h, c)
            return t + 1, h, c, states.write(t, h)

        return loop(body)

    @tf.function
    def one_ahead():
        def body(t, h, c, projected, states):
            following = tf.matmul(x[tf.minimum(t + 1, steps - 1)], kernel) + bias
            h, c = cell(projected + tf.matmul(h, recurrent), h, c)
            return t + 1, h, c, following, states.write(t, h)

        return loop(body, (tf.matmul(x[0], kernel) + bias,))

    return {"upfront": upfront, "in_loop": in_loop, "one_ahead": one_ahead}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", help="batch,steps,features,units (default: sizes b and a)")
    parser.add_argument("--repeats", type=int, default=15, help="timed calls per form (median; default 15)")
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow threads (default 0: TensorFlow's choice)")
    args = parser.parse_args()
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    sizes = [tuple(int(v) for v in args.size.split(","))] if args.size else SIZES
    print("batch x steps, features -> units   upfront  in_loop  one_ahead   (ms, medians)")
    for size in sizes:
        functions = forms(*size)
        reference = functions["upfront"]().numpy()
        for function in functions.values():  # trace, and check the three compute the same
            np.testing.assert_allclose(function().numpy(), reference, atol=1e-5)
        times = {name: [] for name in functions}
        for _ in range(args.repeats):
            for name, function in functions.items():
                start = time.perf_counter()
                function().numpy()
                times[name].append(time.perf_counter() - start)
        batch, steps, features, units = size
        label = f"{batch} x {steps}, {features} -> {units}"
        print(f"{label:<35}" + "".join(f"{statistics.median(times[name]) * 1000:9.1f}" for name in functions))


if __name__ == "__main__":
    main()
