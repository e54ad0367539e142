"""The contract every model family keeps, checked once for all three through `textlstm.train`.

Train tiny; stop after the first epoch (`max_steps`) and resume to the end: the weights and
optimizer variables equal an uninterrupted run's bit for bit. Then the run loads, evaluates,
exports (`textlstm.export`) and serves (one server for the three runs).
"""

import pytest

import textlstm
from support import weights as support_weights
from support.corpora import write_tiny_corpora
from support.server import Server
from textlstm.export import export

SPE, EPOCHS = 2, 2
KINDS = ("charlm", "tagger", "seq2seq")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    return write_tiny_corpora(root, 5, 30, 10, 3, pairs=50, dev_pairs=4, max_words=5, target=str.upper)


def overrides(kind, root):
    """A tiny model of `kind` with dropout on (resuming must draw the same masks), 2 epochs of 2 steps."""
    schedule = {"train.steps_per_epoch": SPE, "train.epochs": EPOCHS, "train.batch_size": 4, "train.seed": 3}
    return {
        "charlm": {
            "data.paths": [str(root / "corpus.txt")],
            "data.seq_len": 10,
            "model.units": 8,
            "model.layers": 1,
            "model.embedding_dim": 4,
            "model.dropout": 0.3,
        },
        "tagger": {
            "data.train": str(root / "train.conllu"),
            "data.dev": str(root / "dev.conllu"),
            "model.units": 6,
            "model.word_dim": 6,
            "model.char_dim": 4,
            "model.char_units": 4,
            "model.dropout": 0.5,
        },
        "seq2seq": {
            "data.tsv": str(root / "train.tsv"),
            "data.valid_tsv": str(root / "dev.tsv"),
            "data.vocab_size": 30,
            "model.units": 8,
            "model.embedding_dim": 6,
            "model.dropout": 0.3,
            "train.bleu_sentences": 4,
            "decode.max_length": 6,
        },
    }[kind] | schedule


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    """{kind: run_dir}: each family's run, stopped after its first epoch and resumed (filled by the tests)."""
    return {}


def assert_bit_identical(run_dir, reference_dir):
    support_weights.assert_bit_identical(run_dir, reference_dir, SPE * EPOCHS)


def evaluate(model, kind, root):
    if kind == "charlm":
        return model.evaluate(root / "corpus.txt")
    if kind == "tagger":
        return model.evaluate(root / "dev.conllu")
    return model.evaluate(root / "dev.src", root / "dev.tgt")


@pytest.mark.parametrize("kind", KINDS)
def test_a_family_trains_resumes_exactly_loads_evaluates_and_exports(kind, data, trained, tmp_path):
    settings = overrides(kind, data)
    reference = textlstm.train(kind, tmp_path / "reference", overrides=settings)
    run_dir = tmp_path / "run"
    textlstm.train(kind, run_dir, overrides=settings, max_steps=SPE)  # stops after the first epoch
    model = textlstm.train(kind, run_dir, resume=True, max_steps=0)  # the cap lifted: on to the end
    assert_bit_identical(run_dir, tmp_path / "reference")
    assert type(model) is type(reference) is type(textlstm.load(run_dir))
    assert evaluate(model, kind, data) == evaluate(reference, kind, data)
    described = export(run_dir, tmp_path / "export")
    assert (tmp_path / "export").is_dir() and described
    trained[kind] = run_dir


def test_the_three_runs_serve(trained, data):
    if set(trained) != set(KINDS):
        pytest.skip("needs the three runs of the test above")
    with Server([f"{kind}={run_dir}" for kind, run_dir in trained.items()]) as server:
        assert server.get("/health") == (200, {"status": "ok", "models": 3})
        status, answer = server.post("/models/tagger/tag", {"sentences": ["the a of"]})
        assert status == 200 and answer == {"tags": textlstm.load(trained["tagger"]).tag(["the a of"])}
        status, answer = server.post("/models/seq2seq/translate", {"sentences": ["alpha beta"]})
        assert status == 200 and answer == {"translations": textlstm.load(trained["seq2seq"]).translate(["alpha beta"])}
        status, answer = server.post("/models/charlm/generate", {"prompt": "a", "length": 5, "seed": 1})
        assert status == 200 and answer["text"]
