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
