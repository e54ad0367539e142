"""Per-epoch checkpoints (`train.keep_checkpoints`, `textlstm.checkpoints`): what training keeps,
`textlstm checkpoints RUN_DIR`, and `--checkpoint` / `textlstm.load(checkpoint=...)` choosing one."""

import json
import shutil

import numpy as np
import pytest

import textlstm
from support.cli import assert_one_error_line, invoke, prose
from support.runs import SEQ2SEQ_TINY, _lines
from support.tagger_data import TINY_RECIPE, conll_text
from textlstm.api import CharLM
from textlstm.checkpoints import list_checkpoints, read_index

WORDS = "the a river stone light garden of and in runs sleeps green old small window".split()
OTHER_WORDS = "ZAP QUUX VEX JOLT WYRM FJORD".split()  # another alphabet: another vocabulary
TINY = [
    *("--set", "model.units=16", "--set", "model.layers=1", "--set", "model.embedding_dim=8"),
    *("--set", "data.seq_len=16", "--set", "train.batch_size=4", "--set", "train.steps_per_epoch=5"),
    *("--set", "data.valid_fraction=0.2", "--set", "train.patience=0", "--set", "train.learning_rate=0.01"),
]


def _train_charlm(run_dir, data, epochs, keep, *extra):
    result = invoke(
        "train", "charlm", "--data", data, *TINY, "--set", f"train.keep_checkpoints={keep}", "--epochs", epochs,
        "--run-dir", run_dir, *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return run_dir


def _weights(model):
    return [np.asarray(weight) for weight in model.weights]


def _same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(_weights(a), _weights(b), strict=True))


@pytest.fixture(scope="module")
def charlm_run(tmp_path_factory):
    """A tiny char LM trained 4 epochs keeping 2 epoch checkpoints."""
    root = tmp_path_factory.mktemp("checkpoints")
    data = root / "data.txt"
    data.write_text(prose(WORDS, 1, 2500), encoding="utf-8")
    return _train_charlm(root / "run", data, 4, 2)


def test_training_keeps_the_last_epochs_and_indexes_them(charlm_run):
    folder = charlm_run / "checkpoints"
    assert sorted(path.name for path in folder.iterdir()) == ["epoch-003.keras", "epoch-004.keras", "index.json"]
    index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    entries = index["checkpoints"]
    assert [entry["epoch"] for entry in entries] == [3, 4]
    assert [entry["step"] for entry in entries] == [15, 20]
    for entry in entries:
        assert entry["monitor"] == "val_loss" and np.isfinite(entry["value"])
        assert entry["bytes"] == (folder / entry["file"]).stat().st_size
    metrics = (charlm_run / "metrics.csv").read_text(encoding="utf-8").splitlines()
    val_loss = [float(row.split(",")[metrics[0].split(",").index("val_loss")]) for row in metrics[1:]]
    assert [entry["value"] for entry in entries] == pytest.approx(val_loss[2:])
    assert index["best"]["value"] == pytest.approx(min(val_loss))
    assert index["best"]["epoch"] == 1 + val_loss.index(min(val_loss))


def test_checkpoints_command_lists_best_last_and_each_kept_epoch(charlm_run):
    result = invoke("checkpoints", charlm_run)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["name", "epoch", "step", "dev", "metric", "size"]
    rows = [line.split() for line in lines[1:]]
    assert [row[0] for row in rows] == ["best", "last", "epoch-3", "epoch-4"]
    assert rows[1][1:3] == ["4", "20"] and rows[2][1:3] == ["3", "15"] and rows[3][1:3] == ["4", "20"]
    assert all(row[3] == "val_loss" for row in rows)


def test_generate_from_an_epoch_checkpoint(charlm_run):
    def generate(checkpoint):
        result = invoke("generate", charlm_run, "--checkpoint", checkpoint, "--seed", 1, "--length", 200)
        assert result.exit_code == 0, result.output
        return result.stdout

    best_epoch = read_index(charlm_run)["best"]["epoch"]
    assert generate(3) != generate(4)
    assert generate("best") == generate(best_epoch)
    assert generate("last") == generate(4) == generate("epoch-4")


def test_an_epoch_that_is_not_kept_is_one_error_naming_the_kept_ones(charlm_run):
    result = invoke("generate", charlm_run, "--checkpoint", 1, "--length", 5)
    assert_one_error_line(result, "epoch 1", "3, 4")
    result = invoke("generate", charlm_run, "--checkpoint", charlm_run / "nothing.keras", "--length", 5)
    assert_one_error_line(result, "no checkpoint file at")


def test_load_takes_last_an_epoch_or_a_path(charlm_run):
    import keras

    last = keras.saving.load_model(charlm_run / "last.keras", compile=False)
    epoch3 = keras.saving.load_model(charlm_run / "checkpoints" / "epoch-003.keras", compile=False)
    assert _same(textlstm.load(charlm_run, checkpoint="last").model, last)
    assert _same(textlstm.load(charlm_run, checkpoint=3).model, epoch3)
    assert _same(
        textlstm.load(charlm_run, checkpoint=str(charlm_run / "checkpoints" / "epoch-003.keras")).model, epoch3
    )
    assert _same(CharLM(charlm_run, checkpoint="3").model, epoch3)
    assert not _same(epoch3, last)
    with pytest.raises(textlstm.TextlstmError, match="the epochs kept are 3, 4"):
        textlstm.load(charlm_run, checkpoint=2)
    with pytest.raises(textlstm.TextlstmError, match="checkpoint must be"):
        textlstm.load(charlm_run, checkpoint=3.0)


def test_resume_continues_numbering_and_cleans_stray_files(charlm_run, tmp_path):
    run_dir = tmp_path / "run"
    data = tmp_path / "data.txt"
    data.write_text(prose(WORDS, 1, 2500), encoding="utf-8")
    _train_charlm(run_dir, data, 2, 2)
    folder = run_dir / "checkpoints"
    # as if killed between an epoch file and the index: files the index does not list
    shutil.copy(folder / "epoch-002.keras", folder / "epoch-003.keras")
    shutil.copy(folder / "epoch-002.keras", folder / "epoch-009.keras")
    assert [row["name"] for row in list_checkpoints(run_dir)] == ["best", "last", "epoch-1", "epoch-2"]
    assert_one_error_line(invoke("generate", run_dir, "--checkpoint", 9), "the epochs kept are 1, 2")
    result = invoke("train", "charlm", "--run-dir", run_dir, "--resume", "--epochs", 3)
    assert result.exit_code == 0, result.output
    assert sorted(path.name for path in folder.iterdir()) == ["epoch-002.keras", "epoch-003.keras", "index.json"]
    assert [(entry["epoch"], entry["step"]) for entry in read_index(run_dir)["checkpoints"]] == [(2, 10), (3, 15)]


def test_keep_zero_writes_none_and_a_foreign_file_is_refused(charlm_run, tmp_path):
    data = tmp_path / "other.txt"
    data.write_text(prose(OTHER_WORDS, 2, 1500), encoding="utf-8")
    run_dir = _train_charlm(tmp_path / "run", data, 1, 0)
    assert not (run_dir / "checkpoints").exists()
    assert [row["name"] for row in list_checkpoints(run_dir)] == ["best", "last"]
    assert_one_error_line(invoke("generate", run_dir, "--checkpoint", 1), "keeps no epoch checkpoints")
    foreign = charlm_run / "checkpoints" / "epoch-003.keras"
    result = invoke("generate", run_dir, "--checkpoint", foreign, "--length", 5)
    assert_one_error_line(result, "the number of characters", str(foreign), "do not belong together")


def test_old_recipe_without_the_key_takes_the_default(charlm_run, tmp_path):
    from textlstm.checkpoints import KEEP_DEFAULT, keep_count

    run_dir = tmp_path / "run"
    shutil.copytree(charlm_run, run_dir)
    recipe = run_dir / "recipe.toml"
    recipe.write_text(
        "".join(line for line in recipe.read_text().splitlines(True) if "keep_checkpoints" not in line),
        encoding="utf-8",
    )
    assert keep_count(run_dir) == KEEP_DEFAULT == 3
    assert textlstm.load(run_dir, checkpoint=4).generate("the", 5, seed=1)


def test_tagger_keeps_its_epoch_checkpoints(tmp_path):
    (tmp_path / "train.conll").write_text(conll_text(3, 16), encoding="utf-8")
    (tmp_path / "dev.conll").write_text(conll_text(4, 6, docstart=False), encoding="utf-8")
    run_dir = tmp_path / "tagger"
    result = invoke(
        "train", "tagger", "--train", tmp_path / "train.conll", "--dev", tmp_path / "dev.conll", *TINY_RECIPE,
        "--set", "train.keep_checkpoints=1", "--set", "train.steps_per_epoch=2", "--run-dir", run_dir,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    entries = read_index(run_dir)["checkpoints"]
    assert [(entry["epoch"], entry["step"]) for entry in entries] == [(2, 4)]
    assert entries[0]["monitor"] == "val_f1"
    assert textlstm.load(run_dir, checkpoint=2).tag(["Anna sees the dog"])
    result = invoke("tag", run_dir, "--checkpoint", 1, input="Anna sees\n")
    assert_one_error_line(result, "the epochs kept are 2")


def test_seq2seq_keeps_its_epoch_checkpoints(tmp_path):
    sources = [" ".join(["alpha", "beta", "gamma"][: 1 + i % 3]) for i in range(40)]
    targets = [source.upper() for source in sources]
    _lines(tmp_path / "train.src", sources)
    _lines(tmp_path / "train.tgt", targets)
    _lines(tmp_path / "dev.tsv", [f"{s}\t{t}" for s, t in zip(sources[:4], targets[:4])])
    run_dir = tmp_path / "seq2seq"
    tiny = [value for value in SEQ2SEQ_TINY if value not in ("--epochs", "1")]
    result = invoke(
        "train", "seq2seq", "--src", tmp_path / "train.src", "--tgt", tmp_path / "train.tgt",
        "--valid-tsv", tmp_path / "dev.tsv", *tiny, "--set", "train.steps_per_epoch=2", "--epochs", 2,
        "--run-dir", run_dir,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [entry["epoch"] for entry in read_index(run_dir)["checkpoints"]] == [1, 2]
    assert read_index(run_dir)["checkpoints"][0]["monitor"] == "val_bleu"
    assert isinstance(textlstm.load(run_dir, checkpoint=1).translate(["alpha"])[0], str)
