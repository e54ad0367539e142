"""Tagger speed on this machine: tagging throughput in sentences/second from a run directory.

Tags the file once to warm up (each padded batch shape compiles once), then times `repeats`
passes and reports the best, for each batch size. Without RUN_DIR an untrained model of the
default recipe's size tags synthetic sentences (same cost as a trained one).

    python benchmarks/bench_tagger.py runs/upos ../shared/data/ud-english-ewt/en_ewt-ud-dev.conllu
    python benchmarks/bench_tagger.py --batch-size 1 --batch-size 128
"""

import argparse
import copy
import random
import time

import textlstm  # noqa: F401  (TensorFlow backend)
from textlstm.tagger import conll, corpus
from textlstm.tagger.model import DEFAULTS, build_and_compile
from textlstm.tagger.tag import TaggerRun, make_predictor, predict_tags, read_input
from textlstm.tagger.vocab import Vocabulary


def synthetic(sentences=2000, seed=0):
    """Sentences with lengths like web text (5 to 40 tokens) over a 5,000-word vocabulary."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(5000)]
    sentences = [conll.Sentence(tokens=[rng.choice(words) for _ in range(rng.randint(5, 40))])
                 for _ in range(sentences)]
    vocabs = (Vocabulary(words), Vocabulary(list("w0123456789")), Vocabulary([f"T{i}" for i in range(17)], unknown=False))
    recipe = copy.deepcopy(DEFAULTS)
    model = build_and_compile(len(vocabs[0]), len(vocabs[1]), len(vocabs[2]), recipe)
    return sentences, vocabs, recipe, model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", help="a trained tagger (default: untrained, synthetic input)")
    parser.add_argument("data", nargs="?", help="a file to tag (default: the run's dev file)")
    parser.add_argument("--batch-size", type=int, action="append", help="repeatable (default: 1, 32, 128)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if args.run_dir:
        tagger = TaggerRun.load(args.run_dir)
        recipe, vocabs, model = tagger.recipe, tagger.vocabs, tagger.model
        path = args.data or recipe["data"]["dev"]
        text, _ = read_input(path)
        file_format = conll.detect_format(text)
        sentences = corpus.read_untagged(text, path, file_format, recipe["data"])
        described = f"{args.run_dir} ({recipe['model']['decoder']}, char {recipe['model']['char_features']}) on {path}"
    else:
        sentences, vocabs, recipe, model = synthetic()
        described = "untrained default-recipe model on synthetic sentences"
    predictor = make_predictor(model)
    tokens = sum(len(sentence.tokens) for sentence in sentences)
    print(f"{described}: {len(sentences):,} sentences, {tokens:,} tokens")
    for batch_size in args.batch_size or [1, 32, 128]:
        subset = sentences[:200] if batch_size == 1 else sentences
        predict_tags(predictor, subset, vocabs, recipe["data"], batch_size)  # warm-up: compile each shape
        best = float("inf")
        for _ in range(args.repeats):
            started = time.perf_counter()
            predict_tags(predictor, subset, vocabs, recipe["data"], batch_size)
            best = min(best, time.perf_counter() - started)
        print(f"batch {batch_size:>4}: {len(subset) / best:10,.0f} sentences/s  "
              f"({sum(len(s.tokens) for s in subset) / best:,.0f} tokens/s)")


if __name__ == "__main__":
    main()
