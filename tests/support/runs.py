"""Tiny trained run directories of every kind, shared by the API and export tests.

Each is trained once per test session through the CLI (a few seconds each) and kept in the
session's temporary directory, so every test module that asks for one reuses it.
"""

import random

from support.cli import invoke, prose
from support.tagger_data import TINY_RECIPE, conll_text

CHARLM_WORDS = "the a river stone light garden of and in runs sleeps green old small window".split()
CHARLM_TINY = [
    "--set",
    "model.units=16",
    "--set",
    "model.layers=1",
    "--set",
    "model.embedding_dim=8",
    "--set",
    "data.seq_len=16",
    "--set",
    "train.batch_size=4",
    "--set",
    "train.steps_per_epoch=5",
    "--epochs",
    "1",
]
# The tagger-vectors run's vectors file: training words (some only lowercased), words that are
# not in the training file, and a last row that data.max_vectors leaves unread.
VECTOR_WORDS = ["the", "anna", "Paris", "dog", "berlin", "carol", "london", "sees", "unread"]
SEQ2SEQ_WORDS = "alpha beta gamma delta eps zeta eta theta".split()
SEQ2SEQ_TINY = [
    "--set",
    "data.vocab_size=30",
    "--set",
    "model.units=16",
    "--set",
    "model.embedding_dim=8",
    "--set",
    "train.batch_size=8",
    "--set",
    "train.steps_per_epoch=4",
    "--set",
    "train.bleu_sentences=4",
    "--set",
    "decode.max_length=10",
    "--set",
    "decode.beam_size=2",
    "--set",
    "model.dropout=0.0",
    "--set",
    "data.max_length=24",
    "--epochs",
    "1",
]


def _lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _train(root, kind):
    run_dir = root / f"{kind}-run"
    if kind == "charlm":
        data = root / "charlm.txt"
        data.write_text(prose(CHARLM_WORDS, 1, 2500), encoding="utf-8")
        args = ["train", "charlm", "--data", data, "--set", "data.valid_fraction=0.2", *CHARLM_TINY]
    elif kind in ("tagger", "tagger-vectors"):
        (root / "ner-train.conll").write_text(conll_text(3, 16), encoding="utf-8")
        (root / "ner-dev.conll").write_text(conll_text(4, 6, docstart=False), encoding="utf-8")
        args = [
            "train",
            "tagger",
            "--train",
            root / "ner-train.conll",
            "--dev",
            root / "ner-dev.conll",
            "--scheme",
            "BIOES",
            *TINY_RECIPE,
            "--set",
            "data.max_len=4",
        ]
        if kind == "tagger-vectors":
            vectors = root / "vectors.txt"
            rng = random.Random(5)
            vectors.write_text(
                "".join(
                    f"{word} " + " ".join(f"{rng.uniform(-1, 1):.3f}" for _ in range(5)) + "\n" for word in VECTOR_WORDS
                ),
                encoding="utf-8",
            )
            args += [
                "--word-vectors",
                vectors,
                "--set",
                "data.max_vectors=" + str(len(VECTOR_WORDS) - 1),
                # as tagger-ner-vectors: casing features, SGD with momentum
                "--set",
                "model.casing=true",
                "--set",
                "train.optimizer=sgd",
                "--set",
                "train.learning_rate=0.05",
            ]
    else:
        rng = random.Random(1)
        sources = [" ".join(rng.choice(SEQ2SEQ_WORDS) for _ in range(rng.randint(1, 5))) for _ in range(120)]
        targets = [" ".join(reversed(s.split())).upper() for s in sources]
        _lines(root / "train.src", sources)
        _lines(root / "train.tgt", targets)
        _lines(root / "dev.tsv", [f"{s}\t{t}" for s, t in zip(sources[:8], targets[:8])])
        args = [
            "train",
            "seq2seq",
            "--src",
            root / "train.src",
            "--tgt",
            root / "train.tgt",
            "--valid-tsv",
            root / "dev.tsv",
            *SEQ2SEQ_TINY,
        ]
    result = invoke(*args, "--run-dir", run_dir)
    assert result.exit_code == 0, result.output
    return run_dir


def tiny_run(tmp_path_factory, kind):
    """The run directory of a tiny trained `kind` model ("charlm", "tagger", "tagger-vectors"
    (with the word vectors of VECTOR_WORDS, in the folder's vectors.txt), "seq2seq")."""
    root = tmp_path_factory.getbasetemp() / "api-tiny-runs"
    run_dir = root / f"{kind}-run"
    if not (run_dir / "best.keras").is_file() and not (run_dir / "last.keras").is_file():
        root.mkdir(exist_ok=True)
        _train(root, kind)
    return run_dir
