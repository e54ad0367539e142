"""Times textlstm's LSTM/GRU against keras.layers.LSTM/GRU on this machine, side by side.

For each size, both implementations get identical weights and run the same compiled
functions (XLA, as Keras's `fit` compiles by default on the CPU): the forward pass alone,
and a training step (forward + backward). Prints time per step, tokens/s, the ratio
ours / Keras in throughput (>1 means we are faster) and the achieved GFLOP/s against
this machine's float32 matmul peak, measured in the same run.

    python benchmarks/bench_layers.py              # sizes (a) and (b), LSTM and GRU
    python benchmarks/bench_layers.py --repeats 3  # quicker, noisier
"""

import argparse
import statistics
import time

import textlstm  # noqa: F401  (TensorFlow backend)
import keras
import numpy as np
import tensorflow as tf

from textlstm.layers import GRU, LSTM

SIZES = {
    # name: (batch, steps, input features, units, stacked layers)
    "a (char-LM)": (64, 100, 64, 512, 2),
    "b": (32, 50, 256, 256, 1),
}
GATES = {"LSTM": 4, "GRU": 3}


def build(layer_cls, batch, steps, features, units, layers):
    model = keras.Sequential(
        [keras.Input((steps, features), batch_size=batch)]
        + [layer_cls(units, return_sequences=True) for _ in range(layers)]
    )
    return model


def compiled_functions(model):
    @tf.function(jit_compile=True)
    def forward(x):
        return model(x, training=False)

    @tf.function(jit_compile=True)
    def train_step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True)))
        return tape.gradient(loss, model.trainable_weights)

    return forward, train_step


def time_call(function, x, repeats):
    function(x)  # compile
    function(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function(x)
        tf.nest.map_structure(lambda t: t.numpy(), result)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_peak_gflops(n=2048, repeats=10):
    """float32 GFLOP/s of a large square matmul: the practical peak of this CPU."""
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    matmul = tf.function(lambda a, b: tf.matmul(a, b), jit_compile=True)
    seconds = time_call(lambda _: matmul(a, b), None, repeats)
    return 2 * n**3 / seconds / 1e9


def flops(kind, batch, steps, features, units, layers, training):
    gates = GATES[kind]
    forward = 0
    for layer in range(layers):
        width = features if layer == 0 else units
        forward += 2 * batch * steps * (width + units) * gates * units
    return 3 * forward if training else forward


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per measurement (median)")
    parser.add_argument("--kinds", default="LSTM,GRU", help="comma-separated: LSTM,GRU")
    args = parser.parse_args()

    peak = matmul_peak_gflops()
    print(f"float32 matmul peak (2048^3, XLA): {peak:.1f} GFLOP/s; threads: {tf.config.threading.get_intra_op_parallelism_threads() or 'default'}")
    header = f"{'layer':5} {'size':12} {'pass':8} {'impl':6} {'ms/step':>9} {'tokens/s':>10} {'GFLOP/s':>8} {'%peak':>6} {'ours/keras':>10}"
    print(header)
    print("-" * len(header))
    for kind in args.kinds.split(","):
        ours_cls = {"LSTM": LSTM, "GRU": GRU}[kind]
        keras_cls = {"LSTM": keras.layers.LSTM, "GRU": keras.layers.GRU}[kind]
        for size_name, size in SIZES.items():
            batch, steps, features, units, layers = size
            x = tf.random.normal((batch, steps, features))
            keras_model = build(keras_cls, *size)
            ours_model = build(ours_cls, *size)
            ours_model.set_weights(keras_model.get_weights())
            functions = {"keras": compiled_functions(keras_model), "ours": compiled_functions(ours_model)}
            for pass_index, pass_name in enumerate(("forward", "train")):
                seconds = {}
                for impl in ("keras", "ours"):
                    seconds[impl] = time_call(functions[impl][pass_index], x, args.repeats)
                for impl in ("keras", "ours"):
                    gflops = flops(kind, *size, training=pass_name == "train") / seconds[impl] / 1e9
                    ratio = f"{seconds['keras'] / seconds['ours']:.2f}x" if impl == "ours" else ""
                    print(
                        f"{kind:5} {size_name:12} {pass_name:8} {impl:6} {seconds[impl] * 1e3:9.1f} "
                        f"{batch * steps / seconds[impl]:10.0f} {gflops:8.1f} {100 * gflops / peak:5.0f}% {ratio:>10}",
                        flush=True,
                    )
            check = np.abs(np.asarray(ours_model(x)) - np.asarray(keras_model(x))).max()
            print(f"{'':5} {size_name:12} max |ours - keras| forward difference: {check:.1e}")


if __name__ == "__main__":
    main()
