"""Tagger speed on this machine: tagging throughput in sentences/second from a run directory.

Tags the file once to warm up (each padded batch shape compiles once), then times `repeats`
passes and reports the best, for each batch size. Without RUN_DIR an untrained model of the
default recipe's size tags synthetic sentences (same cost as a trained one).

    python benchmarks/bench_tagger.py runs/upos ../shared/data/ud-english-ewt/en_ewt-ud-dev.conllu
    python benchmarks/bench_tagger.py --batch-size 1 --batch-size 128
    python benchmarks/bench_tagger.py --charlm-ratio [--lm-units 256 --lm-layers 1]
    python benchmarks/bench_tagger.py --vectors-ratio [--vector-rows 400000 --vector-dim 50]

`--charlm-ratio` tags the same synthetic sentences (batch 32 unless --batch-size) with the
default-recipe tagger without and with char-LM features from a forward and a backward LM
(untrained, of the `charlm-features` recipe's size unless --lm-units/--lm-layers say otherwise;
frozen, so computed while tagging, as `textlstm tag` does), side by side, and prints the ratio.

`--vectors-ratio` does the same without and with pretrained word vectors (`--word-vectors`: a
frozen table of `--vector-rows` x `--vector-dim`, GloVe 6B 50d's size by default, beside the
trainable rows of the training words; a third of the tokens are words only the table knows),
for tagging and for training steps (`train_on_batch` over the same batches), and prints both
ratios.
"""

import argparse
import copy
import random
import time

import numpy as np

import textlstm  # noqa: F401  (TensorFlow backend)
from textlstm.api import Tagger
from textlstm.tagger import conll, corpus
from textlstm.tagger import data as data_lib
from textlstm.tagger.model import DEFAULTS, build_and_compile
from textlstm.tagger.tag import make_predictor, predict_tags, read_input
from textlstm.tagger.vocab import Vocabulary


def synthetic(sentences=2000, seed=0, charlm=None, vectors=None):
    """Sentences with lengths like web text (5 to 40 tokens) over a vocabulary of 5,000 words
    of 1 to 8 letters (4.5 on average, about English's; a sentence's text is then about 5.5
    characters a token, as in WNUT-17's tweets); `charlm` (a `CharLMSet`) adds its features;
    `vectors` (rows, dim) adds a frozen random table of that size whose extra words make up a
    third of the tokens (random numbers cost what pretrained ones do)."""
    rng = random.Random(seed)
    letters = "etaoinshrdlucmfwypvbgkjqxz"
    words = sorted({"".join(rng.choice(letters) for _ in range(rng.randint(1, 8))) for _ in range(6000)})[:5000]
    extra_rng, known = random.Random(seed + 1), set(words)  # words only the vectors table knows, as long as the others
    extra = sorted(
        {"".join(extra_rng.choice(letters) for _ in range(extra_rng.randint(1, 8))) for _ in range(6000)} - known
    )[:5000]
    draw = (
        (lambda: rng.choice(extra) if rng.random() < 1 / 3 else rng.choice(words))
        if vectors
        else (lambda: rng.choice(words))
    )
    sentences = [
        conll.Sentence(tokens=[draw() for _ in range(rng.randint(5, 40))], tags=None) for _ in range(sentences)
    ]
    for sentence in sentences:
        sentence.tags = [f"T{rng.randrange(17)}" for _ in sentence.tokens]
    word_vocab, table = Vocabulary(words), None
    if vectors:
        rows, dim = vectors
        word_vocab = Vocabulary.from_dict(
            dict(
                word_vocab.to_dict(),
                items=words + extra + [f"w{i}" for i in range(max(0, rows - len(words) - len(extra) - 2))],
                trainable_rows=len(words) + 2,
                vector_dim=dim,
            )
        )
        table = np.random.default_rng(seed).uniform(-0.5, 0.5, (len(word_vocab), dim)).astype("float32")
    vocabs = (
        word_vocab,
        Vocabulary(list(letters + "0123456789")),
        Vocabulary([f"T{i}" for i in range(17)], unknown=False),
    )
    recipe = copy.deepcopy(DEFAULTS)
    model = build_and_compile(
        len(vocabs[0]),
        len(vocabs[1]),
        len(vocabs[2]),
        recipe,
        table,
        charlm=charlm,
        trainable_words=len(words) + 2 if vectors else None,
    )
    return sentences, vocabs, recipe, model


def untrained_lm_pair(units, layers):
    """A forward and a backward char LM of the `charlm-features` recipe's shape, untrained
    (tagging costs the same as with trained weights)."""
    from textlstm.charlm.corpus import CharVocabulary
    from textlstm.charlm.model import build_model
    from textlstm.recipes import find_recipe, load_recipe_file
    from textlstm.tagger.charlm_features import CharLMSet, LanguageModel

    recipe = load_recipe_file(find_recipe("charlm-features", "charlm"))
    model_recipe = dict(recipe["model"], units=units, layers=layers)
    vocab = CharVocabulary.from_text("etaoinshrdlucmfwypvbgkjqxz0123456789 .,ETAOINSHRDLU")
    lms = [
        LanguageModel(
            f"untrained-{direction}",
            vocab,
            {"data": {"direction": direction}, "model": model_recipe},
            build_model(len(vocab), model_recipe, seed=1),
        )
        for direction in ("forward", "backward")
    ]
    return CharLMSet(lms)


def rate(predictor, sentences, vocabs, recipe, batch_size, repeats, charlm=None):
    """Best-of-`repeats` sentences/second after one warm-up pass (every batch shape compiled)."""
    predict_tags(predictor, sentences, vocabs, recipe["data"], batch_size, charlm=charlm)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        predict_tags(predictor, sentences, vocabs, recipe["data"], batch_size, charlm=charlm)
        best = min(best, time.perf_counter() - started)
    return len(sentences) / best


def charlm_ratio(args):
    """Tagging speed without and with char-LM features, side by side on the same sentences."""
    charlm = untrained_lm_pair(args.lm_units, args.lm_layers)
    plain = synthetic(args.sentences)
    with_lm = synthetic(args.sentences, charlm=charlm)
    sentences = plain[0]
    chars = sum(len(" ".join(s.tokens)) + 2 for s in sentences)
    print(
        f"{len(sentences):,} synthetic sentences ({sum(len(s.tokens) for s in sentences):,} tokens, "
        f"{chars:,} characters); LMs: {charlm.describe()}"
    )
    for batch_size in args.batch_size or [32]:
        without = rate(make_predictor(plain[3]), sentences, plain[1], plain[2], batch_size, args.repeats)
        lm = rate(
            make_predictor(with_lm[3], charlm), sentences, with_lm[1], with_lm[2], batch_size, args.repeats, charlm
        )
        print(
            f"batch {batch_size:>4}: without LM features {without:9,.0f} sentences/s, with {lm:9,.0f} "
            f"sentences/s; with/without = {lm / without:.2f}"
        )


def training_rate(model, sentences, vocabs, recipe, repeats, batch_size=32):
    """Best-of-`repeats` training sentences/second (`train_on_batch` over one pass, batches as
    training makes them), after one warm-up pass."""
    examples = data_lib.encode_sentences(
        sentences, *vocabs, max_len=recipe["data"]["max_len"], max_word_chars=recipe["data"]["max_word_chars"]
    )
    batches = [
        data_lib.pad_batch([examples[i] for i in batch]) for batch in data_lib.epoch_batches(examples, batch_size, 0, 0)
    ]
    best = float("inf")
    for attempt in range(repeats + 1):
        started = time.perf_counter()
        for inputs, tags in batches:
            model.train_on_batch(inputs, tags)
        if attempt:
            best = min(best, time.perf_counter() - started)
    return len(sentences) / best


def vectors_ratio(args):
    """Tagging and training speed without and with a frozen word-vector table, side by side."""
    plain = synthetic(args.sentences)
    with_vectors = synthetic(args.sentences, vectors=(args.vector_rows, args.vector_dim))
    print(
        f"{len(plain[0]):,} synthetic sentences; vectors table {len(with_vectors[1][0]):,} x {args.vector_dim} "
        f"(frozen) beside {with_vectors[1][0].trainable_rows:,} trainable rows of {plain[2]['model']['word_dim']}"
    )
    for batch_size in args.batch_size or [32]:
        without = rate(make_predictor(plain[3]), plain[0], plain[1], plain[2], batch_size, args.repeats)
        vectors = rate(
            make_predictor(with_vectors[3]), with_vectors[0], with_vectors[1], with_vectors[2], batch_size, args.repeats
        )
        print(
            f"tagging, batch {batch_size:>4}: without vectors {without:9,.0f} sentences/s, with {vectors:9,.0f}; "
            f"with/without = {vectors / without:.2f}"
        )
    without = training_rate(plain[3], *plain[:3], args.repeats)
    vectors = training_rate(with_vectors[3], *with_vectors[:3], args.repeats)
    print(
        f"training, batch 32: without vectors {without:9,.0f} sentences/s, with {vectors:9,.0f}; time per epoch "
        f"with/without = {without / vectors:.2f}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", help="a trained tagger (default: untrained, synthetic input)")
    parser.add_argument("data", nargs="?", help="a file to tag (default: the run's dev file)")
    parser.add_argument("--batch-size", type=int, action="append", help="repeatable (default: 1, 32, 128)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--charlm-ratio", action="store_true", help="without vs with char-LM features")
    parser.add_argument("--lm-units", type=int, default=256)
    parser.add_argument("--lm-layers", type=int, default=1)
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--vectors-ratio", action="store_true", help="without vs with a frozen word-vector table")
    parser.add_argument("--vector-rows", type=int, default=400_000)
    parser.add_argument("--vector-dim", type=int, default=50)
    args = parser.parse_args()
    if args.charlm_ratio:
        return charlm_ratio(args)
    if args.vectors_ratio:
        return vectors_ratio(args)
    if args.run_dir:
        tagger = Tagger(args.run_dir)
        recipe, vocabs, model, charlm = tagger.recipe, tagger.vocabs, tagger.model, tagger.charlm
        path = args.data or recipe["data"]["dev"]
        text, _ = read_input(path)
        file_format = conll.detect_format(text)
        sentences = corpus.read_untagged(text, path, file_format, recipe["data"])
        described = f"{args.run_dir} ({recipe['model']['decoder']}, char {recipe['model']['char_features']}) on {path}"
    else:
        sentences, vocabs, recipe, model = synthetic(args.sentences)
        charlm = None
        described = "untrained default-recipe model on synthetic sentences"
    predictor = make_predictor(model, charlm)
    tokens = sum(len(sentence.tokens) for sentence in sentences)
    print(f"{described}: {len(sentences):,} sentences, {tokens:,} tokens")
    for batch_size in args.batch_size or [1, 32, 128]:
        subset = sentences[:200] if batch_size == 1 else sentences
        per_second = rate(predictor, subset, vocabs, recipe, batch_size, args.repeats, charlm)
        tokens = sum(len(s.tokens) for s in subset) / len(subset)
        print(f"batch {batch_size:>4}: {per_second:10,.0f} sentences/s  ({per_second * tokens:,.0f} tokens/s)")


if __name__ == "__main__":
    main()
