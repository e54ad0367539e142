"""Char LM corpora larger than memory: peak memory, time to the first training step and
encoding speed for synthetic corpora of 10 MB, 100 MB (and 1 GB with --large).

Each corpus is written on the fly into a temporary directory (deleted afterwards) and trained
on for one step of a tiny model in a fresh process, so its peak RSS is that run's alone:
reading and checking every byte, the vocabulary, the token file, the model, one step, the
first validation (capped by data.max_valid_chars) and the checkpoint.

    python benchmarks/bench_corpus.py              # 10 MB and 100 MB
    python benchmarks/bench_corpus.py --large      # and 1 GB (about 2 GB of temporary disk)
    python benchmarks/bench_corpus.py --sizes 5    # other sizes, in MB
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BLOCK_CHARS = 1 << 20

# Run in the child process: train one step and print timings as one JSON line.
CHILD = r"""
import json, sys, time
start = time.perf_counter()
import keras
from textlstm.charlm import tokens, train
from textlstm.charlm.model import DEFAULTS
timings = {}

def timed(name, function):
    def wrapper(*args, **kwargs):
        began = time.perf_counter()
        result = function(*args, **kwargs)
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - began
        return result
    return wrapper

class FirstStep(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        timings.setdefault("first_step", time.perf_counter() - start)

train.tokens_lib.scan_corpus = timed("scan", tokens.scan_corpus)
train.tokens_lib.build_token_file = timed("encode", tokens.build_token_file)
fit = train.training.fit
train.training.fit = lambda *a, **k: fit(*a, **{**k, "callbacks": list(k.get("callbacks", [])) + [FirstStep()]})
recipe = json.loads(sys.argv[1])
recipe = {section: {**DEFAULTS[section], **recipe.get(section, {})} for section in DEFAULTS}
train.train_charlm(recipe, sys.argv[2])
print("TIMINGS " + json.dumps(timings))
"""


def write_corpus(path, megabytes, seed=0):
    """`megabytes` MB of prose-like UTF-8 lines (a few accented letters and dashes among them),
    from 8 different 1 MB blocks in random order, so writing 1 GB takes seconds."""
    rng = np.random.default_rng(seed)
    letters = list("etaoinshrdlucmfwypvbgkjqxz") + ["é", "ö", "—"]
    weights = np.array(
        [
            12,
            9,
            8,
            7.5,
            7,
            6.3,
            6,
            6,
            4.3,
            4,
            2.8,
            2.8,
            2.4,
            2.2,
            2,
            2,
            1.9,
            1.5,
            1,
            1,
            0.8,
            0.1,
            0.15,
            0.1,
            0.1,
            0.07,
            0.05,
            0.05,
            0.05,
        ]
    )
    words = ["".join(rng.choice(letters, size=rng.integers(1, 9), p=weights / weights.sum())) for _ in range(5000)]
    blocks = []
    for _ in range(8):
        picks = rng.integers(0, len(words), BLOCK_CHARS // 5)
        text = " ".join(words[i] for i in picks)
        text = "\n".join(text[i : i + 70] for i in range(0, len(text), 70))
        blocks.append(text.encode("utf-8")[:BLOCK_CHARS].decode("utf-8", "ignore").encode("utf-8"))
    written = 0
    with open(path, "wb") as handle:
        while written < megabytes * 1e6:
            block = blocks[rng.integers(0, len(blocks))]
            handle.write(block + b"\n")
            written += len(block) + 1
    return written


def run_one(corpus, run_dir):
    recipe = {
        "data": {"paths": [str(corpus)]},
        "model": {"layers": 1, "units": 32, "embedding_dim": 16, "dropout": 0.0},
        "train": {"epochs": 1, "steps_per_epoch": 1, "max_steps": 1, "batch_size": 64},
    }
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(recipe), str(run_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"training on {corpus} failed:\n{output[-2000:]}")
    timings = json.loads(next(line for line in output.splitlines() if line.startswith("TIMINGS "))[8:])
    return {"peak_rss_mb": usage.ru_maxrss / 1024, "wall_s": wall, **timings}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[10, 100], help="corpus sizes in MB")
    parser.add_argument("--large", action="store_true", help="also 1 GB (1000 MB)")
    args = parser.parse_args()
    sizes = list(args.sizes) + ([1000] if args.large else [])
    print(
        f"char LM corpus streaming, one step of a 1 x 32 LSTM (batch 64 x 100), load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(
        f"{'corpus':>10} {'peak RSS':>10} {'above 0.1 MB':>12} {'scan':>7} {'encode':>7} {'MB/s':>6} "
        f"{'first step':>10} {'token file':>10}"
    )
    baseline = None
    for megabytes in [0.1] + sizes:
        with tempfile.TemporaryDirectory(prefix="bench-corpus-") as scratch:
            corpus = Path(scratch) / "corpus.txt"
            size = write_corpus(corpus, megabytes)
            result = run_one(corpus, Path(scratch) / "run")
            token_file = (Path(scratch) / "run" / "tokens.bin").stat().st_size
            passes = result["scan"] + result["encode"]
            baseline = result["peak_rss_mb"] if baseline is None else baseline
            print(
                f"{size / 1e6:8.1f}MB {result['peak_rss_mb']:8.0f}MB {result['peak_rss_mb'] - baseline:10.0f}MB "
                f"{result['scan']:6.1f}s {result['encode']:6.1f}s {size / 1e6 / passes:6.0f} "
                f"{result['first_step']:9.1f}s {token_file / 1e6:8.1f}MB",
                flush=True,
            )
    print(
        "MB/s: corpus bytes over both passes (check + count, then encode); first step: seconds from the "
        "child's start (imports included) to the end of the first training step"
    )


if __name__ == "__main__":
    main()
