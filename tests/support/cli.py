"""What the CLI tests of every model family share: invoking `textlstm`, checking its errors,
and making a small text to train on."""

import random

from click.testing import CliRunner

from textlstm.cli import main


def invoke(*args, input=None):
    """Run `textlstm ARGS...` in-process; every argument is passed as a string."""
    return CliRunner().invoke(main, [str(arg) for arg in args], input=input)


def assert_one_error_line(result, *fragments):
    """Exit 1, exactly one `Error: ...` line on stderr, no traceback; returns that line."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def prose(words, seed, chars):
    """At least `chars` characters of capitalised lines of 5–11 random `words`, deterministic by `seed`."""
    rng = random.Random(seed)
    lines = []
    while sum(len(line) + 1 for line in lines) < chars:
        lines.append(" ".join(rng.choice(words) for _ in range(rng.randint(5, 11))).capitalize())
    return "\n".join(lines) + "\n"


def size_keys(kind):
    """Every size (an integer that must be at least 1 or more) among the recipe keys of `kind`."""
    from textlstm.schema import SCHEMAS

    return [name for name, spec in SCHEMAS[kind].items() if spec.type is int and spec.low is not None and spec.low >= 1]
