"""The tagger and the translator under `--strategy mirrored` follow one device.

Their losses are means over what a batch holds (sentences for the CRF, target tokens for the
translator) while each replica holds part of the batch, padding included, so each replica
returns its share of the whole batch's mean (`textlstm.distribute.summed_over_replicas`).
A mean over each part alone (what these losses did before) doubles the tagger's reported
loss and gradients on two replicas and weighs the translator's tokens by the part they fell
in. One fresh process (TensorFlow fixes its devices when it starts) trains each family twice
on two logical CPUs, mirrored and on one device, with dropout off and a clip norm never
reached as in tests/training/test_distributed_training.py; the weights and the reported losses agree
up to float rounding (the replicas' gradients are summed in another order).
"""

import csv
import json
import random
import subprocess
import sys

import numpy as np
import pytest

from support.processes import ROOT, WORKER_TIMEOUT, environment
from support.tagger_data import conll_text
from textlstm.rundir import load_keras_model

TAGGER = [
    "model.units=6",
    "model.word_dim=6",
    "model.char_dim=4",
    "model.char_units=4",
    "model.dropout=0.0",
    "model.word_dropout=0.0",
    "train.batch_size=4",
    "train.epochs=2",
    "train.steps_per_epoch=3",
    "train.clipnorm=1000.0",
    "train.seed=5",
]
SEQ2SEQ = [
    "data.vocab_size=30",
    "model.units=8",
    "model.embedding_dim=6",
    "model.dropout=0.0",
    "train.batch_size=8",
    "train.epochs=2",
    "train.steps_per_epoch=3",
    "train.bleu_sentences=4",
    "train.clipnorm=1000.0",
    "decode.max_length=8",
    "train.seed=3",
]


def _sets(settings):
    return [arg for setting in settings for arg in ("--set", setting)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    (root / "train.conll").write_text(conll_text(1, 16), encoding="utf-8")
    (root / "dev.conll").write_text(conll_text(2, 6), encoding="utf-8")
    rng = random.Random(4)
    words = "alpha beta gamma delta eps zeta eta theta".split()
    sources = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 6))) for _ in range(80)]
    pairs = "".join(f"{s}\t{' '.join(reversed(s.split())).upper()}\n" for s in sources)
    (root / "train.tsv").write_text(pairs, encoding="utf-8")
    (root / "dev.tsv").write_text("".join(pairs.splitlines(keepends=True)[:6]), encoding="utf-8")
    commands = []
    for strategy in ("mirrored", "one-device"):
        commands.append(
            [
                "train",
                "tagger",
                "--train",
                str(root / "train.conll"),
                "--dev",
                str(root / "dev.conll"),
                "--run-dir",
                str(root / f"tagger-{strategy}"),
                "--strategy",
                strategy,
                *_sets(TAGGER),
            ]
        )
        commands.append(
            [
                "train",
                "seq2seq",
                "--tsv",
                str(root / "train.tsv"),
                "--valid-tsv",
                str(root / "dev.tsv"),
                "--run-dir",
                str(root / f"seq2seq-{strategy}"),
                "--strategy",
                strategy,
                *_sets(SEQ2SEQ),
            ]
        )
    spec = {"logical_cpus": 2, "commands": commands}
    result = subprocess.run(
        [sys.executable, "-m", "tests.support.distributed_runs", json.dumps(spec)],
        cwd=ROOT,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=WORKER_TIMEOUT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.count("strategy: mirrored over 2 devices") == 2
    return root


@pytest.mark.parametrize("family", ["tagger", "seq2seq"])
def test_mirrored_follows_one_device(runs, family):
    mirrored, single = (runs / f"{family}-{strategy}" for strategy in ("mirrored", "one-device"))
    ours, theirs = (load_keras_model(path / "last.keras") for path in (mirrored, single))
    assert len(ours.weights) == len(theirs.weights)
    for mine, expected in zip(ours.weights, theirs.weights, strict=True):
        np.testing.assert_allclose(np.asarray(mine), np.asarray(expected), atol=1e-5, err_msg=mine.path)
    losses = [[float(row["loss"]) for row in csv.DictReader(open(path / "metrics.csv"))] for path in (mirrored, single)]
    assert len(losses[0]) == 2
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)  # the batch's mean, not the replicas' sum
