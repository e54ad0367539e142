"""Where inference time goes, per recurrent layer, in ours and in Keras's LSTM/GRU.

For each size of `bench_layers.py` (same models, weights and batches) this times, by
the same clock and interleaved:

- `predict_on_batch` of ours and of Keras's (the whole model, as `bench_layers.py`);
- ours in parts, for every recurrent layer (and direction): the input projection (one
  matmul over all steps), the loop the layer runs (XLA-compiled or graph, as chosen by
  size) from those projections, and the loop's recurrent matmuls alone (`h @ U` at each
  step, chained as in the loop), each less the cost of an empty `tf.function` call; the
  rest of the loop is the gate math and the loop's own cost, and what is left of
  `predict_on_batch` is plumbing (transposes, masks, `Bidirectional`'s reversal and
  concatenation, Keras's call overhead);
- Keras's matmuls alone: its loop computes `x_t @ W` and `h @ U` at every step, timed
  the same way; the rest of its time is its gate math and loop overhead.

From these it prints the ceiling: the ratio ours/Keras would reach if our gate math and
loop overhead cost nothing (Keras's time over our matmul and plumbing time). A target
above the ceiling cannot be met by changing the loop, only by less matmul work or
faster matmuls. Matmul GFLOP/s are against the large square matmul of the same run.

    python benchmarks/profile_layers.py --threads 1 --clock cpu     # load-insensitive
    python benchmarks/profile_layers.py --kinds GRU --sizes b,c
"""

import argparse

import bench_layers as bench
import numpy as np
import tensorflow as tf

from textlstm.layers import fused_gru, fused_lstm


def medians(calls, repeats):
    """Median milliseconds of each call, timed in turn (see `bench_layers.interleaved_medians`)."""
    return {name: 1e3 * seconds for name, seconds in bench.interleaved_medians(calls, repeats).items()}


def part_medians(calls, repeats):
    """As `medians`, less the cost of calling a `tf.function` at all (an empty one's median),
    which the parts pay once each but the whole model pays once in all."""
    empty = tf.function(lambda x: x)
    one = tf.ones(())
    times = medians({**calls, "empty call": lambda: empty(one).numpy()}, repeats)
    call = times.pop("empty call")
    return {name: value - call for name, value in times.items()}


def chained_matmuls(steps, batch, width, kernel):
    """`steps` matmuls `[batch, width] @ kernel`, each input depending on the last output."""

    @tf.function
    def run(start):
        def body(t, h):
            return t + 1, tf.matmul(h, kernel)[:, :width]

        return tf.while_loop(lambda t, _: t < steps, body, (0, start))[1]

    start = tf.random.normal((batch, width))
    return lambda: run(start).numpy()


def recurrent_layers(model):
    """`(layer, direction count)` of each recurrent layer of a `bench_layers.build` model."""
    found = []
    for layer in model.layers:
        if hasattr(layer, "forward_layer"):
            found.append((layer.forward_layer, 2))
        elif hasattr(layer, "cell"):
            found.append((layer, 1))
    return found


def our_parts(kind, layer, inputs, mask):
    """Calls timing one direction of our layer: projection, loop, and its recurrent matmuls."""
    cell = layer.cell
    units = cell.units
    steps, batch = inputs.shape[0], inputs.shape[1]
    h0 = tf.zeros((batch, units))
    if kind == "LSTM":
        bias = cell.bias
        recurrence = fused_lstm.lstm_recurrence
        extra = (h0, h0)
    else:
        bias, recurrent_bias = cell.split_bias()
        recurrence = fused_gru.gru_recurrence
        extra = (tf.convert_to_tensor(recurrent_bias), h0)
    kernel = tf.convert_to_tensor(cell.kernel)
    recurrent_kernel = tf.convert_to_tensor(cell.recurrent_kernel)
    project = tf.function(lambda x: layer._project(x, kernel, bias))
    projected = project(inputs)
    mask = None if mask is None else tf.constant(mask.T)
    loop = tf.function(lambda p: recurrence(p, recurrent_kernel, *extra, mask=mask, training=False))
    compiled = fused_lstm.use_compiled_loop(
        projected, recurrent_kernel, None if kind == "LSTM" else fused_gru.INFERENCE_MAX_STEP_MACS
    )
    calls = {
        "projection": lambda: project(inputs).numpy(),
        "loop": lambda: tf.nest.map_structure(np.asarray, loop(projected)),
        "recurrent matmuls": chained_matmuls(steps, batch, units, recurrent_kernel),
    }
    return calls, ("XLA-compiled" if compiled else "graph")


def keras_matmuls(kind, steps, batch, features, units):
    """Keras's loop's matmuls alone: `x_t @ W` and `h @ U` at every step."""
    width = bench.GATES[kind] * units
    input_matmuls = chained_matmuls(steps, batch, features, tf.random.normal((features, width)))
    state_matmuls = chained_matmuls(steps, batch, units, tf.random.normal((units, width)))
    return lambda: (input_matmuls(), state_matmuls())


def profile(kind, size_name, repeats, peak):
    batch, steps, features, units, layers, masked = size = bench.SIZES[size_name]
    ours_cls, keras_cls = bench.LAYERS[kind]
    keras_model = bench.build(keras_cls, *size, jit_compile="auto")
    ours_model = bench.build(ours_cls, *size, jit_compile="auto")
    ours_model.set_weights(keras_model.get_weights())
    x, _ = bench.make_batch(*size)
    mask = np.any(x != 0.0, axis=-1) if masked else None
    whole = medians(
        {"ours": lambda: ours_model.predict_on_batch(x), "keras": lambda: keras_model.predict_on_batch(x)}, repeats
    )

    ours = {"projection": 0.0, "loop": 0.0, "recurrent matmuls": 0.0}
    keras_mm = 0.0
    inputs = tf.constant(np.transpose(x, (1, 0, 2)))
    forms = []
    for layer, directions in recurrent_layers(ours_model):
        calls, form = our_parts(kind, layer, inputs, mask)
        forms.append(form)
        layer_features = inputs.shape[-1]
        calls["keras matmuls"] = keras_matmuls(kind, steps, batch, layer_features, units)
        times = part_medians(calls, repeats)
        for part in ours:
            ours[part] += directions * times[part]
        keras_mm += directions * times["keras matmuls"]
        inputs = tf.random.normal((steps, batch, units * directions))  # the next layer's input width
    gate_math = ours["loop"] - ours["recurrent matmuls"]
    plumbing = whole["ours"] - ours["projection"] - ours["loop"]
    ceiling = whole["keras"] / (ours["projection"] + ours["recurrent matmuls"] + plumbing)
    flops = bench.flops(kind, *size, training=False) / 1e9
    print(f"\n{kind} size {size_name} (batch {batch} x {steps} steps, {features} -> {units}, loop: {', '.join(forms)})")
    print(f"  ours  {whole['ours']:8.1f} ms  ({100 * flops / whole['ours'] * 1e3 / peak:5.1f}% of peak)")
    rows = [
        ("input projection", ours["projection"]),
        ("recurrent matmuls", ours["recurrent matmuls"]),
        ("gate math + loop", gate_math),
        ("plumbing", plumbing),
    ]
    for name, value in rows:
        print(f"    {name:20} {value:8.1f} ms  {100 * value / whole['ours']:5.1f}%")
    print(f"  keras {whole['keras']:8.1f} ms  ({100 * flops / whole['keras'] * 1e3 / peak:5.1f}% of peak)")
    print(f"    {'matmuls':20} {keras_mm:8.1f} ms  {100 * keras_mm / whole['keras']:5.1f}%")
    print(
        f"    {'gate math + rest':20} {whole['keras'] - keras_mm:8.1f} ms  "
        f"{100 * (1 - keras_mm / whole['keras']):5.1f}%"
    )
    print(f"  ours/keras {whole['keras'] / whole['ours']:.2f}x; ceiling with free gate math: {ceiling:.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per measurement (median; default 7)")
    parser.add_argument("--kinds", default="LSTM,GRU", help="comma-separated: LSTM,GRU")
    parser.add_argument("--sizes", default="a,b,c", help="comma-separated: a,b,c")
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow threads (default 0: TensorFlow's choice)")
    parser.add_argument(
        "--clock", choices=sorted(bench.CLOCKS), default="wall", help="wall time (default) or process CPU time"
    )
    args = parser.parse_args()
    bench.clock = bench.CLOCKS[args.clock]
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    peak = bench.matmul_peak_gflops()
    print(
        f"float32 matmul peak (2048^3): {peak:.0f} GFLOP/s; clock: {args.clock}; threads: {args.threads or 'default'}"
    )
    for kind in args.kinds.split(","):
        for size_name in args.sizes.split(","):
            profile(kind, size_name, args.repeats, peak)


if __name__ == "__main__":
    main()
