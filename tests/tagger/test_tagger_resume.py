"""Ctrl-C and `--resume` for the tagger: an interrupted run ends with the weights of one that never
was, because the length-bucketed batch stream is a function of the global step.

Ctrl-C is simulated as in test_training_resume.py: KeyboardInterrupt from a batch hook patched
onto the checkpointing callback. No dropout, so the uninterrupted run is an exact reference.
"""

import json

import numpy as np
import pytest

from support.tagger_data import conllu_text
from textlstm import training
from textlstm.errors import UserError
from textlstm.recipes import resolve_recipe
from textlstm.rundir import load_keras_model
from textlstm.tagger.model import DEFAULTS
from textlstm.tagger.train import train_tagger

BATCH, SENTENCES, EPOCHS = 4, 16, 2
STEPS_PER_EPOCH = SENTENCES // BATCH


def _recipe(root, vectors=False):
    return resolve_recipe(
        DEFAULTS,
        None,
        [
            f"data.train={json.dumps(str(root / 'train.conllu'))}",
            f"data.dev={json.dumps(str(root / 'dev.conllu'))}",
            "model.units=8",
            "model.word_dim=8",
            "model.char_dim=4",
            "model.char_units=6",
            "model.dropout=0.0",
            "model.word_dropout=0.0",
            f"train.batch_size={BATCH}",
            f"train.epochs={EPOCHS}",
            "train.seed=5",
        ]
        + (
            [
                f"data.word_vectors={json.dumps(str(root / 'vectors.txt'))}",
                "data.lowercase=true",  # as tagger-ner-vectors:
                "model.casing=true",
                'train.optimizer="sgd"',
                "train.learning_rate=0.015",
            ]  # casing, SGD's momentum
            if vectors
            else []
        ),
    )


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("tagger-resume")
    (root / "train.conllu").write_text(conllu_text(1, SENTENCES), encoding="utf-8")
    (root / "dev.conllu").write_text(conllu_text(2, 5), encoding="utf-8")
    return root


def _write_vectors(root):
    """Vectors for some training words and for words training never saw (frozen, looked up)."""
    rng = np.random.default_rng(0)
    words = ["the", "dog", "Garden", "runs", "lake", "meadow", "swims"]
    lines = [f"{word} " + " ".join(f"{v:.4f}" for v in rng.uniform(-1, 1, 4)) for word in words]
    (root / "vectors.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize("vectors", [False, True], ids=["plain", "word-vectors"])
def test_resume_inside_an_epoch_gives_the_uninterrupted_weights(root, monkeypatch, capsys, vectors):
    if vectors:
        _write_vectors(root)
        root = root / "vectors"
        root.mkdir()
        for name in ("train.conllu", "dev.conllu", "vectors.txt"):
            (root / name).write_bytes((root.parent / name).read_bytes())
    train_tagger(_recipe(root, vectors), root / "reference")
    fired = []

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) == STEPS_PER_EPOCH + 2 and not fired:
            fired.append(True)
            raise KeyboardInterrupt

    monkeypatch.setattr(training._Checkpointer, "on_train_batch_end", on_train_batch_end, raising=False)
    with pytest.raises(UserError, match="interrupted at step 6"):
        train_tagger(_recipe(root, vectors), root / "run")
    capsys.readouterr()
    if vectors:
        (root / "vectors.txt").unlink()  # the run holds its frozen table: resuming never reads the file
    train_tagger(_recipe(root, vectors), root / "run", resume=True)
    assert "resuming inside epoch 2" in capsys.readouterr().out
    ours = load_keras_model(root / "run" / "last.keras", compile=True)
    theirs = load_keras_model(root / "reference" / "last.keras", compile=True)
    for mine, expected in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(mine, expected, rtol=0, atol=1e-6)
    for name in ("words.json", "tags.json", "tagset.json"):
        assert (root / "run" / name).read_text() == (root / "reference" / name).read_text()
    if vectors:
        assert "trainable_rows" in (root / "run" / "words.json").read_text()
        assert len(ours.get_layer("word_embedding").non_trainable_weights) == 1
