"""Packaging: pip's resolver gives the default install and the `[gpu]` install exactly one
TensorFlow distribution each (never `tensorflow-cpu` beside `tensorflow`).

Runs `pip install --dry-run --ignore-installed --report` on this checkout: nothing is installed,
but the package index is needed, so the test is marked `network` and skips where the index
cannot be reached. pip's `fast-deps` (HTTP range requests for wheel metadata) is used where pip
offers it, so the CUDA wheels are not downloaded: about 10-20 s for both installs.
"""

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TENSORFLOW_DISTRIBUTIONS = {"tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly", "tf-nightly-cpu"}


def _index_url():
    """The index pip would use: PIP_INDEX_URL, pip's configured index-url, or PyPI."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"].split()[0]
    configured = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", "global.index-url"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return configured or "https://pypi.org/simple"


@pytest.fixture(scope="module")
def package_index():
    """Skips unless pip and its package index answer within a few seconds."""
    if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True, check=False).returncode:
        pytest.skip("pip is not available")
    url = _index_url().rstrip("/") + "/tensorflow/"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=5):
            pass
    except Exception as error:  # no network, proxy refusal, DNS failure: all mean "cannot check here"
        pytest.skip(f"package index not reachable ({url}: {type(error).__name__})")


def _resolve(requirement, tmp_path):
    """`{name: version}` pip would install for `requirement` into an empty environment."""
    report = tmp_path / "report.json"
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--dry-run",
        "--ignore-installed",
        "--quiet",
        "--disable-pip-version-check",
        "--timeout",
        "30",
        "--report",
        str(report),
        requirement,
    ]
    result = subprocess.run(
        command[:4] + ["--use-feature=fast-deps"] + command[4:],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    if result.returncode and "fast-deps" in result.stderr:  # a pip without the feature
        result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    return {
        item["metadata"]["name"].lower().replace("_", "-"): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }


@pytest.mark.network
@pytest.mark.parametrize("extra", ["", "[gpu]"], ids=["default", "gpu"])
def test_one_tensorflow_per_install(package_index, extra, tmp_path):
    resolved = _resolve(f"{ROOT}{extra}", tmp_path)
    assert "textlstm" in resolved and "keras" in resolved
    tensorflows = sorted(name for name in resolved if name in TENSORFLOW_DISTRIBUTIONS)
    assert tensorflows == ["tensorflow"], tensorflows
    cuda = sorted(name for name in resolved if name.startswith("nvidia-cudnn"))
    assert bool(cuda) == (extra == "[gpu]"), cuda  # [gpu] brings cuDNN; the default install does not
