"""Char LM speed on this machine: training throughput (ours vs the same model on
keras.layers.LSTM) and generation speed (characters/second at batch 1 and 64).

Model, window, batch, dropout and learning-rate schedule: the shipped `charlm-shakespeare`
recipe's (read from it, 65 characters), on our layers and on keras.layers.LSTM alike.

    python benchmarks/bench_charlm.py
    python benchmarks/bench_charlm.py --train-steps 5 --generate-chars 500
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


def generation_chars_per_second(stepper, batch, chars, jit_compile):
    sampler = get_sampler("temperature", temperature=0.8)
    tokens = tf.zeros([batch], tf.int32)
    state = stepper.initial_state(batch)
    sample_sequence(stepper, tokens, state, sampler, chars, seed=0, jit_compile=jit_compile)  # compile
    start = time.perf_counter()
    out, _, _ = sample_sequence(stepper, tokens, state, sampler, chars, seed=1, jit_compile=jit_compile)
    np.asarray(out)
    return batch * chars / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-steps", type=int, default=5)
    parser.add_argument("--generate-chars", type=int, default=2000)
    args = parser.parse_args()

    ours = build_model(VOCAB, MODEL, seed=0)
    compile_model(ours, TRAIN, PLANNED_STEPS)
    reference = keras_lstm_model()
    reference.set_weights(ours.get_weights())
    ours_rate = training_chars_per_second(ours, args.train_steps)
    keras_rate = training_chars_per_second(reference, args.train_steps)
    size = f"{MODEL['layers']} x {MODEL['units']} LSTM, dropout {MODEL['dropout']}"
    print(f"training, batch {BATCH} x {SEQ_LEN} chars, {size} (Keras fit's train step, Keras's default compile):")
    print(f"  textlstm LSTM     {ours_rate:9.0f} chars/s")
    print(f"  keras.layers.LSTM {keras_rate:9.0f} chars/s   ours/keras = {ours_rate / keras_rate:.2f}x")

    steppers = {"textlstm CharStepper": CharStepper(ours), "keras LSTMCell": KerasCellStepper(ours)}
    print(f"generation, {args.generate_chars} chars per sample, whole sampling loop in one tf.function:")
    for batch in (1, 64):
        chars = args.generate_chars if batch == 1 else args.generate_chars // 4
        for jit in (False, True):
            rates = {name: generation_chars_per_second(step, batch, chars, jit) for name, step in steppers.items()}
            ours_rate, keras_rate = rates.values()
            print(
                f"  batch {batch:3d}  XLA={'on ' if jit else 'off'}  textlstm {ours_rate:9.0f} chars/s   "
                f"keras cell {keras_rate:9.0f} chars/s   ours/keras = {ours_rate / keras_rate:.2f}x",
                flush=True,
            )
    for name, step in steppers.items():
        rate = python_loop_chars_per_second(step, args.generate_chars // 10)
        print(f"  batch   1  eager Python loop over {name}: {rate:9.0f} chars/s")


if __name__ == "__main__":
    main()
