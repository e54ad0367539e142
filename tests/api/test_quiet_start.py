"""The CLI keeps TensorFlow's native start-up lines off stderr, so an error is one line."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args, **env):
    environment = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    environment.update(env, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "textlstm", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_an_error_is_the_only_line_on_stderr(tmp_path):
    result = _run("evaluate", str(tmp_path), "--data", str(tmp_path / "missing.txt"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"Error: {tmp_path} is not a textlstm run directory (no run.json)"]


def test_doctor_reports_without_tensorflows_start_up_lines():
    quiet = _run("doctor")
    assert quiet.returncode in (0, 1), quiet.stderr
    assert "All log messages before absl::InitializeLog()" not in quiet.stderr
    assert "TensorFlow:" in quiet.stdout
