"""Ctrl-C and `--resume` for the tagger: an interrupted run ends with the weights of one that never
was, because the length-bucketed batch stream is a function of the global step.

Ctrl-C is simulated as in test_training_resume.py: KeyboardInterrupt from a batch hook patched
onto the checkpointing callback. No dropout, so the uninterrupted run is an exact reference.
"""

import json

import numpy as np
import pytest
from tagger_helpers import conllu_text

from textlstm import training
from textlstm.errors import UserError
from textlstm.recipes import resolve_recipe
from textlstm.rundir import load_keras_model
from textlstm.tagger.model import DEFAULTS
from textlstm.tagger.train import train_tagger

BATCH, SENTENCES, EPOCHS = 4, 16, 2
STEPS_PER_EPOCH = SENTENCES // BATCH


def _recipe(root):
    return resolve_recipe(DEFAULTS, None, [
        f"data.train={json.dumps(str(root / 'train.conllu'))}", f"data.dev={json.dumps(str(root / 'dev.conllu'))}",
        "model.units=8", "model.word_dim=8", "model.char_dim=4", "model.char_units=6", "model.dropout=0.0",
        "model.word_dropout=0.0", f"train.batch_size={BATCH}", f"train.epochs={EPOCHS}", "train.seed=5",
    ])


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("tagger-resume")
    (root / "train.conllu").write_text(conllu_text(1, SENTENCES), encoding="utf-8")
    (root / "dev.conllu").write_text(conllu_text(2, 5), encoding="utf-8")
    return root


def test_resume_inside_an_epoch_gives_the_uninterrupted_weights(root, monkeypatch, capsys):
    train_tagger(_recipe(root), root / "reference")
    fired = []

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) == STEPS_PER_EPOCH + 2 and not fired:
            fired.append(True)
            raise KeyboardInterrupt

    monkeypatch.setattr(training._Checkpointer, "on_train_batch_end", on_train_batch_end, raising=False)
    with pytest.raises(UserError, match="interrupted at step 6"):
        train_tagger(_recipe(root), root / "run")
    capsys.readouterr()
    train_tagger(_recipe(root), root / "run", resume=True)
    assert "resuming inside epoch 2" in capsys.readouterr().out
    ours = load_keras_model(root / "run" / "last.keras", compile=True)
    theirs = load_keras_model(root / "reference" / "last.keras", compile=True)
    for mine, expected in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(mine, expected, rtol=0, atol=1e-6)
    for name in ("words.json", "tags.json", "tagset.json"):
        assert (root / "run" / name).read_text() == (root / "reference" / name).read_text()
