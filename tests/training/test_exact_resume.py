"""Exact resume with the shipped recipes' regularisation on: dropout, recurrent dropout, word dropout.

For every model family, a run interrupted by Ctrl-C inside an epoch, or killed after a
checkpoint, then resumed, must end with every weight and every optimizer variable
bit-identical to the run that was never interrupted (`step_seeds.StepSeeds` makes each
random draw a function of seed, place in the model and global step). Ctrl-C is simulated
as in test_training_resume.py (KeyboardInterrupt from a batch hook); a kill is a real
SIGKILL of a training process for the char LM, and an exception after the checkpoint (no
Ctrl-C save) for the tagger and the translator. `mirrored` runs over two logical CPUs in a
fresh process (TensorFlow fixes its devices at start).
"""

import json
import os
import pathlib
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest

import textlstm.layers as tl
from support import weights as support_weights
from support.distributed_runs import HANGING_MARK, STEP_LOSSES_MARK
from support.interrupts import stop_at
from support.tagger_data import conllu_text
from textlstm import step_seeds, training
from textlstm.charlm.model import DEFAULTS as CHARLM_DEFAULTS
from textlstm.charlm.train import train_charlm
from textlstm.errors import Interrupted
from textlstm.recipes import resolve_recipe
from textlstm.rundir import RunDir, load_keras_model
from textlstm.seq2seq.model import DEFAULTS as SEQ2SEQ_DEFAULTS
from textlstm.seq2seq.train import train_seq2seq
from textlstm.tagger.model import DEFAULTS as TAGGER_DEFAULTS
from textlstm.tagger.train import train_tagger

ROOT = pathlib.Path(__file__).resolve().parents[2]
SPE, EPOCHS = 4, 2  # steps per epoch and epochs of every run here
MID_EPOCH_2 = SPE + 2  # Ctrl-C or the kill land here, after the first epoch's checkpoint
TIMEOUT = 600  # seconds for a subprocess; the machine may be shared


def assert_bit_identical(run_dir, reference_dir):
    support_weights.assert_bit_identical(run_dir, reference_dir, SPE * EPOCHS)


def _interrupt_and_resume(train, recipe, run_dir, monkeypatch, how):
    """Train until `how` stops it at MID_EPOCH_2, then resume in a fresh model; returns the state file."""
    if how == "sigint":
        stop_at(monkeypatch, MID_EPOCH_2, KeyboardInterrupt)
        with pytest.raises(Interrupted, match=rf"interrupted at step {MID_EPOCH_2}; continue with: .*--resume"):
            train(recipe(), run_dir)
        expected_step = MID_EPOCH_2
    else:  # killed after the first epoch's checkpoint: nothing is saved at the crash
        stop_at(monkeypatch, MID_EPOCH_2, RuntimeError("killed"))
        with pytest.raises(RuntimeError, match="killed"):
            train(recipe(), run_dir)
        expected_step = SPE
    assert json.loads((run_dir / "state.json").read_text())["step"] == expected_step
    monkeypatch.undo()
    train(recipe(), run_dir, resume=True)


# --- the char LM ----------------------------------------------------------------------------

CHARLM_TINY = {
    "data.seq_len": 12,
    "model.units": 12,
    "model.layers": 2,
    "model.embedding_dim": 8,
    "model.dropout": 0.3,
    "train.batch_size": 4,
    "train.steps_per_epoch": SPE,
    "train.epochs": EPOCHS,
    "train.seed": 7,
    "train.lr_schedule": "cosine",
    "train.min_learning_rate": 1e-4,
}  # charlm-shakespeare's


@pytest.fixture(scope="module")
def text(tmp_path_factory):
    words = "north wind sun cloud rain field barn lamp, the a of and slowly. quickly; again".split()
    rng = np.random.default_rng(3)
    body = "\n".join(" ".join(rng.choice(words, 9)) for _ in range(40)) + "\n"
    path = tmp_path_factory.mktemp("charlm") / "corpus.txt"
    path.write_text(body, encoding="utf-8")
    return path


def _charlm_recipe(text, strategy="one-device", direction="forward", precision="float32"):
    settings = [f"{key}={json.dumps(value)}" for key, value in CHARLM_TINY.items()]
    return resolve_recipe(
        CHARLM_DEFAULTS,
        None,
        settings
        + [
            f"data.paths={json.dumps([str(text)])}",
            f"train.strategy={json.dumps(strategy)}",
            f"data.direction={json.dumps(direction)}",
            f"train.precision={json.dumps(precision)}",
        ],
    )


@pytest.fixture(scope="module")
def charlm_reference(text, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("charlm-reference") / "run"
    train_charlm(_charlm_recipe(text), run_dir)
    return run_dir


@pytest.mark.parametrize("how", ["sigint", "crash"])
def test_charlm_with_dropout_resumes_bit_for_bit(text, charlm_reference, tmp_path, monkeypatch, how):
    _interrupt_and_resume(train_charlm, lambda: _charlm_recipe(text), tmp_path / "run", monkeypatch, how)
    assert_bit_identical(tmp_path / "run", charlm_reference)


def test_backward_charlm_resumes_bit_for_bit(text, tmp_path, monkeypatch, capsys):
    """A backward run (its token file reversed) resumed after Ctrl-C reuses that file and ends
    bit-identical to its uninterrupted twin."""
    recipe = lambda: _charlm_recipe(text, direction="backward")  # noqa: E731
    train_charlm(recipe(), tmp_path / "reference")
    _interrupt_and_resume(train_charlm, recipe, tmp_path / "run", monkeypatch, "sigint")
    assert "encoding the corpus again" not in capsys.readouterr().out
    assert_bit_identical(tmp_path / "run", tmp_path / "reference")
    info = json.loads((tmp_path / "run" / "tokens.json").read_text())
    assert info["direction"] == "backward" and info["data"]["direction"] == "backward"


def test_mixed_bfloat16_charlm_resumes_bit_for_bit(text, tmp_path, monkeypatch):
    """Under train.precision = "mixed_bfloat16" (bfloat16 computation, float32 weights and optimizer)
    a run stopped by Ctrl-C and resumed ends bit-identical to its uninterrupted twin."""
    recipe = lambda: _charlm_recipe(text, precision="mixed_bfloat16")  # noqa: E731
    train_charlm(recipe(), tmp_path / "reference")
    _interrupt_and_resume(train_charlm, recipe, tmp_path / "run", monkeypatch, "sigint")
    assert_bit_identical(tmp_path / "run", tmp_path / "reference")
    model = load_keras_model(tmp_path / "run" / "last.keras", compile=True)
    assert model.get_layer("rnn_0").dtype_policy.name == "mixed_bfloat16"
    assert {w.dtype for w in model.weights} == {"float32"}


def _environment():
    env = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    return dict(env, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")


@pytest.mark.slow  # a second process; test_charlm_with_dropout_...[crash] is the fast in-process version
def test_charlm_killed_with_sigkill_after_a_checkpoint_resumes_bit_for_bit(text, charlm_reference, tmp_path):
    """A real training process, killed with SIGKILL inside epoch 2, then resumed here."""
    run_dir = tmp_path / "run"
    spec = {"recipe": _charlm_recipe(text), "runs": [{"run_dir": str(run_dir), "hang_at": MID_EPOCH_2}]}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.distributed_runs", json.dumps(spec)],
        cwd=ROOT,
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        for line in process.stdout:
            if line.startswith(HANGING_MARK):
                break
        else:
            pytest.fail("the training process ended before reaching the step to kill it at")
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=TIMEOUT) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
    assert json.loads((run_dir / "state.json").read_text())["step"] == SPE  # the epoch-1 checkpoint
    train_charlm(_charlm_recipe(text), run_dir, resume=True)
    assert_bit_identical(run_dir, charlm_reference)


def test_mirrored_resume_with_dropout_is_bit_for_bit(text, tmp_path):
    """Under `mirrored` (two logical CPUs), Ctrl-C inside epoch 2 and resume: the uninterrupted run's bits."""
    full, interrupted = tmp_path / "full", tmp_path / "interrupted"
    spec = {
        "logical_cpus": 2,
        "recipe": _charlm_recipe(text, "mirrored"),
        "runs": [
            {"run_dir": str(full)},
            {"run_dir": str(interrupted), "interrupt_at": MID_EPOCH_2},
            {"run_dir": str(interrupted), "resume": True},
        ],
    }
    result = subprocess.run(
        [sys.executable, "-m", "tests.support.distributed_runs", json.dumps(spec)],
        cwd=ROOT,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "strategy: mirrored over 2 devices" in result.stdout
    assert f"resuming inside epoch 2 at step {MID_EPOCH_2}" in result.stdout
    losses = json.loads(
        next(line for line in result.stdout.splitlines() if line.startswith(STEP_LOSSES_MARK))[len(STEP_LOSSES_MARK) :]
    )
    assert len(losses[0]) == SPE * EPOCHS and len(losses[1]) == MID_EPOCH_2
    assert losses[1] == losses[0][:MID_EPOCH_2]  # the running epoch losses agree until the interruption
    assert_bit_identical(interrupted, full)


# --- the tagger -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def conllu(tmp_path_factory):
    root = tmp_path_factory.mktemp("tagger-data")
    (root / "train.conllu").write_text(conllu_text(1, 16), encoding="utf-8")
    (root / "dev.conllu").write_text(conllu_text(2, 4), encoding="utf-8")
    return root


def _tagger_recipe(root):
    return resolve_recipe(
        TAGGER_DEFAULTS,
        None,
        [
            f"data.train={json.dumps(str(root / 'train.conllu'))}",
            f"data.dev={json.dumps(str(root / 'dev.conllu'))}",
            "model.units=6",
            "model.word_dim=6",
            "model.char_dim=4",
            "model.char_units=4",
            'model.char_features="lstm"',
            "model.dropout=0.5",
            "model.word_dropout=0.1",
            "train.batch_size=4",
            f"train.epochs={EPOCHS}",
            f"train.steps_per_epoch={SPE}",
            "train.seed=5",  # the shipped tagger recipes' regularisation
        ],
    )


@pytest.fixture(scope="module")
def tagger_reference(conllu, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("tagger-reference") / "run"
    train_tagger(_tagger_recipe(conllu), run_dir)
    return run_dir


# The default run covers Ctrl-C (the shipped recipe's word dropout and dropout on); the crash
# variant shares the char LM's crash mechanism, so it runs with -m slow.
@pytest.mark.parametrize("how", ["sigint", pytest.param("crash", marks=pytest.mark.slow)])
def test_tagger_with_word_dropout_resumes_bit_for_bit(conllu, tagger_reference, tmp_path, monkeypatch, how):
    _interrupt_and_resume(train_tagger, lambda: _tagger_recipe(conllu), tmp_path / "run", monkeypatch, how)
    assert_bit_identical(tmp_path / "run", tagger_reference)


# --- the translator -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def parallel(tmp_path_factory):
    root = tmp_path_factory.mktemp("seq2seq-data")
    rng = np.random.default_rng(4)
    words = "alpha beta gamma delta eps zeta eta theta".split()
    sources = [" ".join(rng.choice(words, rng.integers(1, 6))) for _ in range(80)]
    (root / "train.tsv").write_text("".join(f"{s}\t{' '.join(reversed(s.split())).upper()}\n" for s in sources))
    (root / "dev.tsv").write_text("".join(f"{s}\t{' '.join(reversed(s.split())).upper()}\n" for s in sources[:6]))
    return root


def _seq2seq_recipe(root):
    return resolve_recipe(
        SEQ2SEQ_DEFAULTS,
        None,
        [
            f"data.tsv={json.dumps(str(root / 'train.tsv'))}",
            f"data.valid_tsv={json.dumps(str(root / 'dev.tsv'))}",
            "data.vocab_size=30",
            "model.units=8",
            "model.embedding_dim=6",
            "model.dropout=0.3",
            "train.batch_size=8",
            f"train.epochs={EPOCHS}",
            f"train.steps_per_epoch={SPE}",
            "train.bleu_sentences=4",
            "decode.max_length=8",
            "train.seed=3",
            'train.lr_schedule="cosine"',
            "train.min_learning_rate=1e-4",
            "train.warmup_steps=3",  # as seq2seq-multi30k
        ],
    )


@pytest.fixture(scope="module")
def seq2seq_reference(parallel, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("seq2seq-reference") / "run"
    train_seq2seq(_seq2seq_recipe(parallel), run_dir)
    return run_dir


@pytest.mark.parametrize("how", ["sigint", pytest.param("crash", marks=pytest.mark.slow)])  # as for the tagger
def test_seq2seq_with_dropout_resumes_bit_for_bit(parallel, seq2seq_reference, tmp_path, monkeypatch, how):
    _interrupt_and_resume(train_seq2seq, lambda: _seq2seq_recipe(parallel), tmp_path / "run", monkeypatch, how)
    assert_bit_identical(tmp_path / "run", seq2seq_reference)


# --- the mechanism itself -------------------------------------------------------------------


def _layered_model():
    """Every kind of random draw our layers make: input and recurrent dropout (portable loop),
    input dropout (fused loop), inside Bidirectional, and Keras's Dropout."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((5, 3))
    x = keras.layers.Bidirectional(tl.LSTM(4, dropout=0.2, recurrent_dropout=0.3, return_sequences=True))(inputs)
    x = keras.layers.Dropout(0.4)(x)
    x = tl.GRU(4, dropout=0.25)(x)
    model = keras.Model(inputs, keras.layers.Dense(1)(x))
    model.compile(optimizer="adam", loss="mse")
    return model


def _batches(start):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 5, 3)).astype("float32"), rng.normal(size=(64, 1)).astype("float32")
    return tf.data.Dataset.range(start, 10**6).map(
        lambda i: (
            tf.gather(x, tf.range(4, dtype=tf.int64) + i % 60),
            tf.gather(y, tf.range(4, dtype=tf.int64) + i % 60),
        )
    )


def _validation():
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((np.zeros((4, 5, 3), "float32"), np.zeros((4, 1), "float32"))).batch(4)


def test_step_seeds_give_every_generator_its_own_stream_per_step():
    model = _layered_model()
    places = [place for place, _ in step_seeds.seed_generators(model)]
    assert len(places) == len(set(places)) == 4  # two directions, Keras's Dropout, the GRU
    seeds = step_seeds.StepSeeds(7)
    seeds.set_model(model)
    states = []
    for step in (0, 1, 0):
        model.optimizer.iterations.assign(step)
        seeds.on_train_batch_begin(0)
        states.append([tuple(np.asarray(g.state)) for _, g in step_seeds.seed_generators(model)])
    assert states[0] == states[2]  # a function of the step...
    assert len(set(states[0] + states[1])) == 8  # ...distinct per generator and per step
    assert all(state[1] == 0 for state in states[0])


@pytest.mark.parametrize("how", ["sigint", pytest.param("crash", marks=pytest.mark.slow)])
def test_any_model_with_our_dropout_resumes_bit_for_bit_through_fit(tmp_path, monkeypatch, how):
    """`training.fit` itself: recurrent dropout, Bidirectional and Keras's Dropout, saved and loaded."""
    schedule = training.Schedule(epochs=EPOCHS, steps_per_epoch=SPE)

    def train(_recipe, run_dir, resume=False, seed=11):
        run = RunDir(run_dir, "test") if resume else RunDir.create(run_dir, "test")
        model, state = training.load_checkpoint(run) if resume else (_layered_model(), None)
        training.fit(model, run, _batches, schedule, _validation(), state=state, seed=seed)

    train(None, tmp_path / "reference")
    _interrupt_and_resume(train, lambda: None, tmp_path / "run", monkeypatch, how)
    assert_bit_identical(tmp_path / "run", tmp_path / "reference")
    train(None, tmp_path / "other", seed=12)
    with pytest.raises(AssertionError):  # the check can fail: another seed draws other masks
        assert_bit_identical(tmp_path / "other", tmp_path / "reference")
