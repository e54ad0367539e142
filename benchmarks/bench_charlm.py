"""Char LM speed on this machine: training throughput (ours vs the same model on
keras.layers.LSTM) and generation speed (characters/second at batch 1, 8, 64 and 256, with
and without XLA, ours side by side with Keras's `LSTMCell` in the same sampling loop).

Model, window, batch, dropout and learning-rate schedule: the shipped `charlm-shakespeare`
recipe's (read from it, 65 characters), on our layers and on keras.layers.LSTM alike.

With `--int8`, a third loop runs our stepper over the same model quantized to int8
(`model.quantize("int8")`: int8 weights, a quarter of the bytes), printed as its speed over
float32 ours and, at batch 1, as a fraction of the float32 streaming limit.

At batch 1 generation is bound by reading the weights once a character: the benchmark
counts the bytes our step reads, measures in the same run how fast NumPy streams that many
bytes through a matrix-vector product (the faster of `v @ A` and `A @ v`), and prints that
limit in characters/s and the fraction of it each loop reaches. Repeats alternate ours and
Keras; figures are medians, with the ratio's range over the repeats.

    python benchmarks/bench_charlm.py
    python benchmarks/bench_charlm.py --no-training --repeats 5 --batches 1,64
    python benchmarks/bench_charlm.py --no-training --int8
"""

import argparse
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

import textlstm  # noqa: F401  (TensorFlow backend)
from textlstm.charlm.model import DEFAULTS, CharStepper, build_model, compile_model, recurrent_layers
from textlstm.decoding.samplers import get_sampler, sample_sequence
from textlstm.models import quantize_weights
from textlstm.recipes import resolve_recipe, shipped_recipe

RECIPE = resolve_recipe(DEFAULTS, str(shipped_recipe("charlm-shakespeare")))
VOCAB, BATCH, SEQ_LEN = 65, RECIPE["train"]["batch_size"], RECIPE["data"]["seq_len"]
MODEL, TRAIN = RECIPE["model"], RECIPE["train"]
PLANNED_STEPS = 1000  # the cosine schedule's length (any: it changes no cost)


def keras_lstm_model():
    """The same network (dropout included) on keras.layers.LSTM, for comparison."""
    inputs = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(VOCAB, MODEL["embedding_dim"])(inputs)
    for _ in range(MODEL["layers"]):
        x = keras.layers.LSTM(MODEL["units"], return_sequences=True)(x)
        x = keras.layers.Dropout(MODEL["dropout"])(x)
    model = keras.Model(inputs, keras.layers.Dense(VOCAB)(x))
    compile_model(model, TRAIN, PLANNED_STEPS)
    return model


def training_chars_per_second(model, steps):
    rng = np.random.default_rng(0)
    x = rng.integers(0, VOCAB, (BATCH, SEQ_LEN)).astype("int32")
    y = rng.integers(0, VOCAB, (BATCH, SEQ_LEN)).astype("int32")
    model.train_on_batch(x, y)  # compile
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    return BATCH * SEQ_LEN / statistics.median(times)


class KerasCellStepper:
    """The same step on keras.layers.LSTMCell with our model's weights: the reference."""

    def __init__(self, model):
        self.embedding = model.get_layer("embedding")
        self.output = model.get_layer("logits")
        self.cells = []
        for layer in recurrent_layers(model):
            cell = keras.layers.LSTMCell(MODEL["units"])
            cell.build((None, layer.cell.kernel.shape[0]))
            cell.set_weights(layer.cell.get_weights())
            self.cells.append(cell)

    def initial_state(self, batch_size):
        return [[tf.zeros((batch_size, MODEL["units"]))] * 2 for _ in self.cells]

    def __call__(self, char_ids, state):
        x = self.embedding(char_ids)
        new_state = []
        for cell, cell_state in zip(self.cells, state):
            x, cell_state = cell(x, cell_state)
            new_state.append(list(cell_state))
        return self.output(x), new_state


def python_loop_chars_per_second(stepper, chars):
    """One eager call per character from Python, batch 1 (the slow baseline)."""
    sampler = get_sampler("temperature", temperature=0.8)
    token, state = tf.zeros([1], tf.int32), stepper.initial_state(1)
    start = time.perf_counter()
    for i in range(chars):
        logits, state = stepper(token, state)
        token = sampler(logits, tf.constant([0, i]))
    return chars / (time.perf_counter() - start)


def generation_seconds(stepper, batch, chars, jit_compile, seed):
    sampler = get_sampler("temperature", temperature=0.8)
    tokens = tf.zeros([batch], tf.int32)
    state = stepper.initial_state(batch)
    start = time.perf_counter()
    out, _, _ = sample_sequence(stepper, tokens, state, sampler, chars, seed=seed, jit_compile=jit_compile)
    np.asarray(out)
    return time.perf_counter() - start


def compare_generation(steppers, batch, chars, jit_compile, repeats, matrix=None):
    """Median chars/s of each stepper and the ratios ours/keras of each repeat (alternating, each
    stepper first in turn, so that none always runs in the same place of a repeat); with
    `matrix`, also of NumPy streaming it once a character (`limit`)."""
    for step in steppers.values():
        generation_seconds(step, batch, chars, jit_compile, seed=0)  # trace and compile
    seconds = {name: [] for name in steppers}
    names = list(steppers)
    for repeat in range(repeats):
        for name in names[repeat % len(names) :] + names[: repeat % len(names)]:  # each goes first in turn
            seconds[name].append(generation_seconds(steppers[name], batch, chars, jit_compile, seed=repeat + 1))
        if matrix is not None:
            if repeat == 0:
                streaming_seconds(matrix, 1)  # compile
            seconds.setdefault("limit", []).append(streaming_seconds(matrix, chars))
    ours, keras_ = list(seconds.values())[:2]
    rates = {name: batch * chars / statistics.median(times) for name, times in seconds.items()}
    return rates, [k / o for o, k in zip(ours, keras_)]


def step_bytes(stepper):
    """Bytes of weights our step reads for one character at batch 1: every layer's step weights,
    the logits layer, one row of the first layer's projection table."""
    arrays = [w for weights in stepper.step_weights for w in weights.values()] + stepper.output.weights
    return sum(np.asarray(a).nbytes for a in arrays) + np.asarray(stepper.first_projection[0]).nbytes


def streaming_seconds(matrix, chars):
    """Seconds to read `matrix` `chars` times, one matrix-vector product a character, the faster of
    NumPy and an XLA loop on TensorFlow's threads (run like the sampling loops: the limit is
    measured over the same stretch of time, under the same load, as they are)."""
    vector = np.ones(matrix.shape[1], np.float32)
    start = time.perf_counter()
    for _ in range(chars):
        matrix @ vector
    numpy_seconds = time.perf_counter() - start
    start = time.perf_counter()
    np.asarray(_xla_stream(tf.constant(matrix), tf.constant(chars)))
    return min(numpy_seconds, time.perf_counter() - start)


@tf.function(jit_compile=True)
def _xla_stream(matrix, chars):
    def body(i, vector):  # each product feeds the next, as characters do
        return i + 1, vector + 1e-30 * tf.linalg.matvec(matrix, vector, transpose_a=True)[: tf.shape(vector)[0]]

    return tf.while_loop(lambda i, _: i < chars, body, (0, tf.ones(tf.shape(matrix)[:1])))[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-steps", type=int, default=5)
    parser.add_argument(
        "--generate-chars", type=int, default=2000, help="per sample at batch <= 8; 8x that in all above"
    )
    parser.add_argument("--batches", type=lambda text: [int(b) for b in text.split(",")], default=[1, 8, 64, 256])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-training", action="store_true", help="generation only")
    parser.add_argument("--int8", action="store_true", help="also our stepper over the model quantized to int8")
    args = parser.parse_args()

    ours = build_model(VOCAB, MODEL, seed=0)
    compile_model(ours, TRAIN, PLANNED_STEPS)
    if not args.no_training:
        reference = keras_lstm_model()
        reference.set_weights(ours.get_weights())
        ours_rate = training_chars_per_second(ours, args.train_steps)
        keras_rate = training_chars_per_second(reference, args.train_steps)
        size = f"{MODEL['layers']} x {MODEL['units']} LSTM, dropout {MODEL['dropout']}"
        print(f"training, batch {BATCH} x {SEQ_LEN} chars, {size} (Keras fit's train step, Keras's default compile):")
        print(f"  textlstm LSTM     {ours_rate:9.0f} chars/s")
        print(f"  keras.layers.LSTM {keras_rate:9.0f} chars/s   ours/keras = {ours_rate / keras_rate:.2f}x")

    steppers = {"textlstm CharStepper": CharStepper(ours), "keras LSTMCell": KerasCellStepper(ours)}
    nbytes = step_bytes(steppers["textlstm CharStepper"])
    if args.int8:
        quantized = build_model(VOCAB, MODEL, seed=0)
        quantized.set_weights(ours.get_weights())
        steppers["textlstm int8"] = CharStepper(quantize_weights(quantized, "int8"))
        print(f"int8: our step reads {step_bytes(steppers['textlstm int8']) / 1e6:.1f} MB of weights a character")
    matrix = np.random.default_rng(0).standard_normal((nbytes // 4 // 2048, 2048), dtype=np.float32)
    print(
        f"generation, whole sampling loop in one tf.function, median of {args.repeats} alternating repeats; "
        f"batch-1 limit: our step reads {nbytes / 1e6:.1f} MB of weights a character, streamed by a "
        "matrix-vector product (NumPy or XLA, the faster) in the same repeats:"
    )
    for batch in args.batches:
        chars = max(args.generate_chars * 8 // max(batch, 8), 32)
        for jit in (True, False):
            rates, ratios = compare_generation(
                steppers, batch, chars, jit, args.repeats, matrix if batch == 1 else None
            )
            ours_rate, keras_rate = list(rates.values())[:2]
            limit = rates.get("limit")
            limit_note = (
                f"   limit {limit:.0f} chars/s ({limit * nbytes / 1e9:.0f} GB/s): ours at {ours_rate / limit:.0%}"
                if limit
                else ""
            )
            int8 = rates.get("textlstm int8")
            int8_note = ""
            if int8:
                int8_note = f"   int8 {int8:8.0f} chars/s = {int8 / ours_rate:.2f}x ours float32"
                int8_note += f", {int8 / limit:.0%} of the float32 limit" if limit else ""
            print(
                f"  batch {batch:3d} x {chars:4d} chars  XLA={'on ' if jit else 'off'}"
                f"  textlstm {ours_rate:8.0f} chars/s"
                f"   keras cell {keras_rate:8.0f} chars/s   ours/keras = {ours_rate / keras_rate:.2f}x"
                f" ({min(ratios):.2f}-{max(ratios):.2f}){limit_note}{int8_note}",
                flush=True,
            )
    for name, step in list(steppers.items())[:2]:
        rate = python_loop_chars_per_second(step, args.generate_chars // 10)
        print(f"  batch   1  eager Python loop over {name}: {rate:9.0f} chars/s")


if __name__ == "__main__":
    main()
