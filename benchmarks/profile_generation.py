"""Where one character of batch-1 generation goes, on this machine (XLA on).

The shipped `charlm-shakespeare` sizes (2 x 512 LSTM, 65 characters), random weights. Times,
interleaved over the repeats (medians, microseconds a character), of:

- the whole sampling loop (`sample_sequence` with the temperature sampler, as `generate` runs it);
- our `CharStepper` with `argmax` instead of the sampler;
- the recurrent layers alone (no logits);
- their three matrix-vector products with a `tanh` and nothing else;
- one matrix-vector product over as many bytes as the step reads (XLA), and NumPy's `v @ M`.

The gap between the recurrent layers and their bare products is what the step's other work costs
(gates, biases, the lookup); the bare products against one product of the same bytes is what
splitting the weights into three products costs.

    python benchmarks/profile_generation.py
    python benchmarks/profile_generation.py --chars 4000 --repeats 9
"""

import argparse
import statistics
import time

import numpy as np
import tensorflow as tf

import textlstm  # noqa: F401  (TensorFlow backend)
from textlstm.charlm.model import DEFAULTS, CharStepper, build_model
from textlstm.decoding.samplers import get_sampler, sample_sequence
from textlstm.recipes import resolve_recipe, shipped_recipe

RECIPE = resolve_recipe(DEFAULTS, str(shipped_recipe("charlm-shakespeare")))
VOCAB = 65


def compiled_loop(body, initial, chars):
    """A function running `body(*state) -> state` `chars` times in one XLA-compiled while loop."""

    @tf.function(jit_compile=True)
    def run(*state):
        return tf.while_loop(lambda i, *_: i < chars, lambda i, *s: (i + 1, *body(*s)), (0, *state))[1]

    return lambda: np.asarray(tf.nest.flatten(run(*initial))[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chars", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    chars = args.chars

    model = build_model(VOCAB, RECIPE["model"], seed=0)
    stepper = CharStepper(model)
    sampler = get_sampler("temperature", temperature=0.8)
    start = (tf.zeros([1], tf.int32), stepper.initial_state(1))
    units = RECIPE["model"]["units"]

    def recurrent_layers(token, state):
        x, new_state = tf.gather(stepper.first_projection, token), []
        for i, (layer, weights, layer_state) in enumerate(zip(stepper.layers, stepper.step_weights, state)):
            gates = layer.cell.step(x, layer_state, weights, projected=i == 0)
            new_state.append(layer.cell.next_states(gates))
            x = gates["h"]
        return token + tf.cast(x[:, 0] > 9.0, tf.int32), new_state  # the next step depends on this one

    def stepper_argmax(token, state):
        logits, state = stepper(token, state)
        return tf.cast(tf.argmax(logits, -1), tf.int32), state

    matrices = [weights[name] for weights in stepper.step_weights for name in sorted(weights) if "kernel" in name]
    output = stepper.output.kernel

    def bare_products(*hs):
        new, x = [], None
        for i, h in enumerate(hs):  # slices added, not whole products: see layers.int8.split_sum
            z = tf.matmul(h, matrices[2 * i - 1 if i else 0])[:, :units]
            if i:
                z += tf.matmul(x, matrices[2 * i - 2])[:, :units]
            x = tf.tanh(z)
            new.append(x)
        new[0] += 1e-3 * tf.matmul(x, output)[:, :1]
        return new

    nbytes = sum(np.asarray(w).nbytes for w in matrices) + sum(np.asarray(w).nbytes for w in stepper.output.weights)
    rows = nbytes // 4 // 2048
    big = tf.constant(np.random.default_rng(0).standard_normal((rows, 2048)).astype("float32"))
    big_numpy, vector = big.numpy(), np.ones(rows, np.float32)
    loops = {
        "whole sampling loop": lambda: np.asarray(
            sample_sequence(stepper, start[0], start[1], sampler, chars, seed=1, jit_compile=True)[0]
        ),
        "stepper + argmax": compiled_loop(stepper_argmax, start, chars),
        "recurrent layers only": compiled_loop(recurrent_layers, start, chars),
        "their products + tanh": compiled_loop(bare_products, [tf.zeros([1, units])] * len(stepper.layers), chars),
        "1 product, same bytes": compiled_loop(
            lambda v: (tf.tanh(tf.matmul(v, big))[:, :rows],), (tf.zeros([1, rows]),), chars
        ),
        "NumPy v @ M, same bytes": lambda: [vector @ big_numpy for _ in range(chars)],
    }
    for run in loops.values():
        run()
    seconds = {name: [] for name in loops}
    for _ in range(args.repeats):
        for name, run in loops.items():
            begin = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - begin)
    print(f"batch 1, XLA on, {nbytes / 1e6:.1f} MB of weights a character; medians of {args.repeats}:")
    for name, times in seconds.items():
        us = statistics.median(times) / chars * 1e6
        print(
            f"  {name:25s} {us:7.1f} us/char  {1e6 / us:7.0f} chars/s  ({min(times) / chars * 1e6:.1f}-"
            f"{max(times) / chars * 1e6:.1f})"
        )


if __name__ == "__main__":
    main()
