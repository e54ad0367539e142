"""Run directories written before the family-contract refactor (main at a93766f) still load,
give the same outputs and resume.

The fixture was trained by `tests/support/runs._train` on main a93766f in /tmp/fx; its recipes
name the data there, so each test copies it and points the recipes at the copy.
"""

import json
import math
import shutil
from pathlib import Path

import pytest

import textlstm
from support.cli import invoke

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "runs-a93766f"
EXPECTED = json.loads((FIXTURE / "expected.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def old_runs(tmp_path_factory):
    """A copy of the fixture whose recipes name the copied data files."""
    root = tmp_path_factory.mktemp("old-runs")
    shutil.copytree(FIXTURE, root, dirs_exist_ok=True)
    for recipe in root.glob("*-run/recipe.toml"):
        recipe.write_text(recipe.read_text(encoding="utf-8").replace("/tmp/fx", str(root)), encoding="utf-8")
    return root


def test_old_charlm_run_loads_and_samples_the_same(old_runs):
    model = textlstm.load(old_runs / "charlm-run")
    assert model.generate("the ", 40, seed=7) == EXPECTED["generate"]
    scores = model.evaluate(old_runs / "charlm.txt")
    assert math.isclose(scores["bits_per_char"], EXPECTED["bits_per_char"]["bits_per_char"], rel_tol=1e-5)


def test_old_tagger_run_loads_and_tags_the_same(old_runs):
    assert textlstm.load(old_runs / "tagger-run").tag([["Anna", "sees", "the", "dog"]]) == EXPECTED["tag"]


def test_old_seq2seq_run_loads_and_translates_the_same(old_runs):
    assert textlstm.load(old_runs / "seq2seq-run").translate(["alpha beta", "gamma"]) == EXPECTED["translate"]


@pytest.mark.parametrize("kind", ["charlm", "tagger", "seq2seq"])
def test_old_run_resumes_for_one_more_epoch(old_runs, tmp_path, kind):
    run_dir = tmp_path / f"{kind}-run"
    shutil.copytree(old_runs / f"{kind}-run", run_dir)
    result = invoke("train", kind, "--run-dir", run_dir, "--resume", "--epochs", "2")
    assert result.exit_code == 0, result.output
    state = json.loads((run_dir / "state.json").read_text(encoding="utf-8"))
    assert state["epoch"] == 2 and state["finished"]
