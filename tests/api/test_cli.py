"""The click group: help, version, usage errors, and that help does not load TensorFlow."""

import subprocess
import sys

from click.testing import CliRunner

from textlstm import __version__
from textlstm.cli import main


def test_help_lists_the_command_groups():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("train", "generate", "evaluate"):
        assert command in result.output


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(main, ["frobnicate"])
    assert result.exit_code == 2
    assert "No such command 'frobnicate'" in result.output
    assert "Traceback" not in result.output


def test_help_does_not_import_tensorflow():
    code = (
        "import sys\n"
        "from textlstm.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'heavy import at --help'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_another_keras_backend_is_refused_in_one_line(monkeypatch):
    import pytest

    from textlstm._backend import require_tensorflow_backend
    from textlstm.errors import UserError

    monkeypatch.setenv("KERAS_BACKEND", "jax")
    with pytest.raises(UserError, match="KERAS_BACKEND='jax'"):
        require_tensorflow_backend()


MISSING_INPUTS = [  # (train command, option); every one names an input path that must exist
    ("charlm", "--data"),
    ("charlm", "--valid"),
    ("tagger", "--train"),
    ("tagger", "--dev"),
    ("tagger", "--word-vectors"),
    ("seq2seq", "--src"),
    ("seq2seq", "--tgt"),
    ("seq2seq", "--tsv"),
    ("seq2seq", "--valid-src"),
    ("seq2seq", "--valid-tgt"),
    ("seq2seq", "--valid-tsv"),
]


def test_a_missing_train_input_stops_before_the_recipe_and_tensorflow(tmp_path):
    """One `Error: no such file: PATH` line, no recipe printed, TensorFlow never imported,
    no run directory made; a directory is refused where a file is expected (but --data takes one)."""
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from textlstm.cli import main\n"
        f"for kind, option in {MISSING_INPUTS!r}:\n"
        f"    missing = {str(tmp_path / 'nope.txt')!r}\n"
        f"    run_dir = {str(tmp_path / 'run')!r}\n"
        "    result = CliRunner().invoke(main, ['train', kind, option, missing, '--run-dir', run_dir])\n"
        "    assert result.exit_code == 1, (option, result.output)\n"
        "    assert result.stdout == '', (option, result.stdout)\n"
        "    assert result.stderr.strip() == 'Error: no such file: ' + missing, (option, result.stderr)\n"
        f"result = CliRunner().invoke(main, ['train', 'charlm', '--valid', {str(tmp_path)!r}])\n"
        "assert result.exit_code == 1 and 'is a directory, expected a text file' in result.stderr, result.output\n"
        "assert 'recipe' not in result.output, result.output\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "run").exists()
