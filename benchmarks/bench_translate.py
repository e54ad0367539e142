"""Translation speed on this machine: sentences/second at beam 1 (greedy) and beam 5.

With a trained run directory it translates real input (e.g. the Multi30k val set);
without one it builds the Multi30k recipe's network with random weights and random
sentences of about Multi30k's length, which measures the same computation, side by side
with the previous recipe's network (before tied embeddings: a separate output projection
of the same size). Each setting is translated once untimed first, so compilation is not
counted. Random weights rarely stop early, so their outputs run to `--max-length`: compare
the target subwords/s of the two networks, not sentences/s with a trained model's.

    python benchmarks/bench_translate.py RUN_DIR --input ../shared/data/multi30k/val.en
    python benchmarks/bench_translate.py --sentences 256
"""

import argparse
import time

import keras
import numpy as np

import textlstm  # noqa: F401  (TensorFlow backend)
from textlstm.api import Translator
from textlstm.recipes import find_recipe, resolve_recipe
from textlstm.seq2seq.model import DEFAULTS, Seq2Seq
from textlstm.seq2seq.translate import translate_ids
from textlstm.textio import read_lines


def random_setup(sentences, seed=0, **changes):
    """The multi30k recipe's network (random weights; `changes` to its [model]) and random
    8-24 subword sentences."""
    model_recipe = dict(resolve_recipe(DEFAULTS, find_recipe("seq2seq-multi30k"))["model"], **changes)
    keras.utils.set_random_seed(seed)
    model = Seq2Seq(
        4000,
        4000,
        cell=model_recipe["cell"],
        num_layers=model_recipe["layers"],
        units=model_recipe["units"],
        embedding_dim=model_recipe["embedding_dim"],
        attention=model_recipe["attention"],
        tie_embeddings=model_recipe["tie_embeddings"],
    )
    model.build()
    rng = np.random.default_rng(seed)
    return model, [rng.integers(4, 4000, rng.integers(8, 25)).tolist() for _ in range(sentences)]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", nargs="?", help="trained seq2seq run directory (default: random weights)")
    parser.add_argument("--input", help="source sentences, one per line (with RUN_DIR)")
    parser.add_argument("--sentences", type=int, default=256, help="sentences translated per setting")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=60)
    args = parser.parse_args()
    if args.run_dir:
        if not args.input:
            parser.error("RUN_DIR needs --input FILE (source sentences to translate)")
        translator = Translator(args.run_dir)
        lines = read_lines(args.input)[: args.sentences]
        setups = [(args.run_dir, translator.model, translator.subwords.encode_source(lines))]
    else:
        setups = [
            ("seq2seq-multi30k (tied embeddings)", *random_setup(args.sentences)),
            ("previous recipe (separate output projection)", *random_setup(args.sentences, tie_embeddings=False)),
        ]
    for name, model, sources in setups:
        print(
            f"{name}: {len(sources)} sentences, {sum(map(len, sources)) / len(sources):.1f} source subwords on "
            f"average, batch size {args.batch_size}, max length {args.max_length}"
        )
        measure(model, sources, args)


def measure(model, sources, args):
    """Prints sentences/s and target subwords/s at beam 1 and 5."""
    for beam in (1, 5):
        options = dict(beam_size=beam, length_penalty=0.6, max_length=args.max_length, batch_size=args.batch_size)
        translate_ids(model, sources[: args.batch_size * 2], **options)  # compile
        start, cpu_start = time.perf_counter(), time.process_time()
        results = translate_ids(model, sources, **options)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        tokens = sum(len(r[0][0]) + 1 for r in results)
        # CPU seconds too: on a shared machine wall-clock speed says more about the neighbours.
        print(
            f"beam {beam}: {len(sources) / seconds:8.1f} sentences/s  {tokens / seconds:8.1f} target subwords/s "
            f"({seconds:.1f} s wall, {len(sources) / cpu_seconds:.1f} sentences per CPU-second)"
        )


if __name__ == "__main__":
    main()
