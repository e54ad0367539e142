"""A battery of bad inputs, damaged run directories and failing machines, across every command.

Each case runs one command through the CLI and must end with the exit status it names, exactly
one line on stderr (an `Error: ...` line naming what is wrong, or for empty input a `note:`),
no traceback, and every file of the valid runs it was given unchanged: nothing half-written,
no temp file, no lock left behind. Tiny valid runs of each family (char LM, tagger, translator)
are trained once for the module; every case works on fresh copies of them.

Failures of the machine are simulated: a full disk, a read-only file system and a permission
error by making `os.replace` (the last step of every atomic write) raise, since chmod does not
stop root; running out of memory by making the model builder or the training step raise.
"""

import dataclasses
import errno
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from support.cli import invoke, prose
from support.tagger_data import TINY_RECIPE, conll_text, conllu_text

WORDS = "the a river stone light morning quiet garden of and in under over runs sleeps finds green old".split()
CHARLM_TINY = [
    "--set",
    "model.units=8",
    "--set",
    "model.layers=1",
    "--set",
    "model.embedding_dim=4",
    "--set",
    "data.seq_len=16",
    "--set",
    "train.batch_size=4",
    "--set",
    "train.steps_per_epoch=2",
    "--epochs",
    "1",
]
SEQ2SEQ_WORDS = "alpha beta gamma delta eps zeta eta theta".split()
SEQ2SEQ_TINY = [
    "--set",
    "data.vocab_size=30",
    "--set",
    "model.units=8",
    "--set",
    "model.embedding_dim=4",
    "--set",
    "train.batch_size=8",
    "--set",
    "train.steps_per_epoch=2",
    "--set",
    "train.bleu_sentences=4",
    "--set",
    "decode.max_length=6",
    "--set",
    "decode.beam_size=1",
    "--set",
    "data.max_length=16",
    "--epochs",
    "1",
]
FAMILIES = ("charlm", "tagger", "seq2seq")


def _lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    """One tiny trained run of each family, and the data they were trained on."""
    import random

    root = tmp_path_factory.mktemp("battery")
    data = {
        "text": root / "train.txt",
        "conll": root / "train.conll",
        "conll_dev": root / "dev.conll",
        "conllu": root / "train.conllu",
    }
    data["text"].write_text(prose(WORDS, 1, 2500), encoding="utf-8")
    data["conll"].write_text(conll_text(3, 12), encoding="utf-8")
    data["conll_dev"].write_text(conll_text(4, 4, docstart=False), encoding="utf-8")
    data["conllu"].write_text(conllu_text(1, 8), encoding="utf-8")
    rng = random.Random(5)
    sources = [" ".join(rng.choice(SEQ2SEQ_WORDS) for _ in range(rng.randint(1, 4))) for _ in range(80)]
    data["src"] = _lines(root / "train.src", sources)
    data["tgt"] = _lines(root / "train.tgt", [" ".join(reversed(s.split())).upper() for s in sources])
    runs = {family: root / "runs" / family for family in FAMILIES}
    commands = {
        "charlm": ["train", "charlm", "--data", data["text"], *CHARLM_TINY],
        "tagger": [
            "train",
            "tagger",
            "--train",
            data["conll"],
            "--dev",
            data["conll_dev"],
            *TINY_RECIPE,
            "--set",
            "train.steps_per_epoch=2",
            "--epochs",
            "1",
        ],
        "seq2seq": [
            "train",
            "seq2seq",
            "--src",
            data["src"],
            "--tgt",
            data["tgt"],
            "--valid-src",
            data["src"],
            "--valid-tgt",
            data["tgt"],
            *SEQ2SEQ_TINY,
        ],
    }
    for family, args in commands.items():
        result = invoke(*args, "--run-dir", runs[family])
        assert result.exit_code == 0, result.output
    return {"root": root, "data": data, "runs": runs, "commands": commands}


def snapshot(directory):
    """{relative path: sha256} of every file below `directory` (hidden files included)."""
    found = {}
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, directory)] = hashlib.sha256(handle.read()).hexdigest()
    return found


@dataclasses.dataclass
class Ctx:
    """What a case works with: copies of the valid runs, the training data, a scratch folder."""

    runs: dict
    data: dict
    commands: dict
    tmp: object
    monkeypatch: object

    def cut(self, family, name):
        """Truncate a run file to half its size (a copy cut short)."""
        path = self.runs[family] / name
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    def write(self, family, name, text):
        (self.runs[family] / name).write_text(text, encoding="utf-8")

    def file(self, name, content):
        path = self.tmp / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return path

    def fail_replace(self, code, only=None):
        """Make every atomic write (or those onto paths ending in `only`) fail with `code`."""
        real = os.replace

        def replace(source, target, *args, **kwargs):
            if only is None or str(target).endswith(only):
                raise OSError(code, os.strerror(code))
            return real(source, target, *args, **kwargs)

        self.monkeypatch.setattr(os, "replace", replace)

    def train(self, family, run_dir, *extra):
        """`train FAMILY` with the module's data and tiny recipe into `run_dir`."""
        return [*self.commands[family], "--run-dir", run_dir, *extra]


def _dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _oom_while_stepping(ctx):
    import tensorflow as tf

    from textlstm import training

    class Trainer:
        def fit(self, *args, **kwargs):
            raise tf.errors.ResourceExhaustedError(
                None,
                None,
                "OOM when allocating tensor with shape[64,100,1000000] and type float on "
                "/job:localhost/replica:0/task:0/device:CPU:0 by allocator cpu",
            )

    ctx.monkeypatch.setattr(training, "trainer_for", lambda model: Trainer())
    return ctx.train("charlm", ctx.tmp / "oom-run")


def _memory_error_while_building(ctx):
    from textlstm.charlm import train

    def build_model(*args, **kwargs):
        raise MemoryError(
            "Unable to allocate 14.9 TiB for an array with shape (1000000, 4000000) and data type float32"
        )

    ctx.monkeypatch.setattr(train, "build_model", build_model)
    return ctx.train("charlm", ctx.tmp / "big-run")


def _tagger_one_tag(ctx):
    train = ctx.data["conllu"]
    return [
        "train",
        "tagger",
        "--train",
        train,
        "--dev",
        train,
        "--format",
        "conllu",
        "--column",
        "feats:Nope",
        "--run-dir",
        ctx.tmp / "feats-run",
        *TINY_RECIPE,
    ]


def _live_lock(ctx):
    (ctx.runs["charlm"] / "train.lock").write_text(
        json.dumps({"pid": os.getpid(), "host": os.uname().nodename, "started": 0})
    )
    return ["train", "charlm", "--run-dir", ctx.runs["charlm"], "--resume"]


def _metrics_is_a_directory(ctx):
    run_dir = ctx.tmp / "eisdir-run"
    (run_dir / "metrics.csv").mkdir(parents=True)
    return ctx.train("charlm", run_dir)


# (id, setup(ctx) -> (args, stdin or None), exit status, fragments of the one stderr line)
CASES = [
    # --- file-system and memory failures ----------------------------------------------------
    (
        "train-charlm-disk-full",
        lambda c: (c.fail_replace(errno.ENOSPC), c.train("charlm", c.tmp / "r"))[1],
        1,
        ["run.json", "No space left on device (ENOSPC)"],
    ),
    (
        "train-tagger-read-only",
        lambda c: (c.fail_replace(errno.EROFS), c.train("tagger", c.tmp / "r"))[1],
        1,
        ["cannot write", "Read-only file system (EROFS)"],
    ),
    (
        "train-seq2seq-permission",
        lambda c: (c.fail_replace(errno.EACCES), c.train("seq2seq", c.tmp / "r"))[1],
        1,
        ["Permission denied (EACCES)"],
    ),
    (
        "train-tagger-run-dir-under-a-file",
        lambda c: c.train("tagger", c.data["text"] / "run"),
        1,
        ["train.txt is a file, not a directory"],
    ),
    (
        "train-seq2seq-run-dir-is-a-file",
        lambda c: c.train("seq2seq", c.data["src"]),
        1,
        ["train.src is a file, not a directory"],
    ),
    ("train-charlm-metrics-is-a-directory", _metrics_is_a_directory, 1, ["metrics.csv", "Is a directory"]),
    ("train-charlm-out-of-memory-building", _memory_error_while_building, 1, ["out of memory allocating 14.9 TiB"]),
    (
        "train-charlm-out-of-memory-stepping",
        _oom_while_stepping,
        1,
        ["out of memory allocating a float tensor of shape [64, 100, 1000000] (23.8 GiB)"],
    ),
    (
        "inspect-out-is-a-directory",
        lambda c: ["inspect", c.runs["charlm"], "--prompt", "the river", "--out", c.tmp],
        1,
        ["is a directory"],
    ),
    (
        "inspect-out-under-a-file",
        lambda c: ["inspect", c.runs["charlm"], "--prompt", "the river", "--out", c.data["text"] / "report.html"],
        1,
        ["train.txt is a file"],
    ),
    (
        "inspect-out-disk-full",
        lambda c: (
            c.fail_replace(errno.ENOSPC),
            ["inspect", c.runs["charlm"], "--prompt", "the river", "--out", c.tmp / "r.json"],
        )[1],
        1,
        ["r.json", "ENOSPC"],
    ),
    # --- damaged run files -------------------------------------------------------------------
    (
        "resume-state-epoch-not-a-number",
        lambda c: (
            c.write("charlm", "state.json", json.dumps({"epoch": "x", "step": 2})),
            ["train", "charlm", "--run-dir", c.runs["charlm"], "--resume"],
        )[1],
        1,
        ["state.json is damaged", "'epoch' is \"x\""],
    ),
    (
        "generate-vocab-list-of-ints",
        lambda c: (c.write("charlm", "vocab.json", "[1, 2, 3]"), ["generate", c.runs["charlm"], "--length", "5"])[1],
        1,
        ["vocab.json is damaged", "a list of 3 numbers"],
    ),
    (
        "generate-best-keras-cut-in-half",
        lambda c: (c.cut("charlm", "best.keras"), ["generate", c.runs["charlm"], "--length", "5"])[1],
        1,
        ["best.keras is damaged"],
    ),
    (
        "evaluate-charlm-recipe-not-toml",
        lambda c: (
            c.write("charlm", "recipe.toml", "[model\nunits = "),
            ["evaluate", c.runs["charlm"], "--data", c.data["text"]],
        )[1],
        1,
        ["recipe.toml", "not valid TOML"],
    ),
    (
        "inspect-best-keras-cut",
        lambda c: (
            c.cut("charlm", "best.keras"),
            ["inspect", c.runs["charlm"], "--prompt", "ab", "--out", c.tmp / "r.json"],
        )[1],
        1,
        ["best.keras is damaged"],
    ),
    (
        "doctor-run-json-not-json",
        lambda c: (c.write("charlm", "run.json", "{kind: charlm"), ["doctor", c.runs["charlm"]])[1],
        1,
        ["run.json is corrupt"],
    ),
    (
        "resume-last-keras-cut",
        lambda c: (
            c.cut("tagger", "last.keras"),
            ["train", "tagger", "--run-dir", c.runs["tagger"], "--resume", "--epochs", "3"],
        )[1],
        1,
        ["last.keras is damaged"],
    ),
    (
        "tag-tagset-empty-list",
        lambda c: (c.write("tagger", "tagset.json", "[]"), (["tag", c.runs["tagger"]], "Anna sees Oslo\n"))[1],
        1,
        ["tagset.json is damaged", "expected a JSON object"],
    ),
    (
        "tag-words-json-list",
        lambda c: (c.write("tagger", "words.json", "[1, 2]"), (["tag", c.runs["tagger"]], "Anna sees Oslo\n"))[1],
        1,
        ["words.json", "not a textlstm vocabulary"],
    ),
    (
        "evaluate-tagger-best-keras-cut",
        lambda c: (c.cut("tagger", "best.keras"), ["evaluate", c.runs["tagger"], "--data", c.data["conll_dev"]])[1],
        1,
        ["best.keras is damaged"],
    ),
    (
        "translate-subword-model-empty",
        lambda c: (c.write("seq2seq", "subwords.model", ""), (["translate", c.runs["seq2seq"]], "alpha beta\n"))[1],
        1,
        ["subwords.model is damaged"],
    ),
    (
        "translate-best-keras-cut",
        lambda c: (c.cut("seq2seq", "best.keras"), (["translate", c.runs["seq2seq"]], "alpha beta\n"))[1],
        1,
        ["best.keras is damaged"],
    ),
    (
        "doctor-best-keras-cut",
        lambda c: (c.cut("seq2seq", "best.keras"), ["doctor", c.runs["seq2seq"]])[1],
        1,
        ["best.keras is damaged"],
    ),
    # --- run-directory safety ----------------------------------------------------------------
    (
        "train-charlm-into-existing-run",
        lambda c: c.train("charlm", c.runs["charlm"]),
        1,
        ["already holds a charlm run", "--resume", "--overwrite"],
    ),
    (
        "train-tagger-into-existing-run",
        lambda c: c.train("tagger", c.runs["tagger"]),
        1,
        ["already holds a tagger run"],
    ),
    (
        "train-seq2seq-into-existing-run",
        lambda c: c.train("seq2seq", c.runs["seq2seq"]),
        1,
        ["already holds a seq2seq run"],
    ),
    (
        "train-charlm-into-a-tagger-run",
        lambda c: c.train("charlm", c.runs["tagger"], "--overwrite"),
        1,
        ["already holds a 'tagger' model"],
    ),
    (
        "train-resume-and-overwrite",
        lambda c: ["train", "tagger", "--run-dir", c.runs["tagger"], "--resume", "--overwrite"],
        1,
        ["give one of them"],
    ),
    ("train-into-a-locked-run", _live_lock, 1, ["is in use", f"process {os.getpid()}", "train.lock"]),
    # --- text and tagger input ---------------------------------------------------------------
    (
        "train-charlm-corpus-shorter-than-a-batch",
        lambda c: [
            "train",
            "charlm",
            "--data",
            c.file("short.txt", prose(WORDS, 3, 352)[:352]),
            "--valid",
            c.data["text"],
            "--set",
            "data.seq_len=10",
            "--set",
            "train.batch_size=64",
            "--run-dir",
            c.tmp / "short-run",
        ],
        1,
        ["the training text has 352 characters: 35 windows of data.seq_len=10", "train.batch_size=64", "at most 35"],
    ),
    (
        "tag-nul-byte-on-stdin",
        lambda c: (["tag", c.runs["tagger"]], "Anna\x00 sees\n"),
        1,
        ["<stdin> looks like a binary file (NUL byte at offset 4)"],
    ),
    (
        "tag-nul-byte-in-file",
        lambda c: ["tag", c.runs["tagger"], c.file("b.txt", b"Anna sees\n\x00\x01")],
        1,
        ["b.txt looks like a binary file"],
    ),
    ("train-tagger-one-tag-column", _tagger_one_tag, 1, ["only the tag '_'", "feats:Nope", "two distinct tags"]),
    ("generate-not-a-run", lambda c: ["generate", c.tmp / "nothing"], 1, ["does not exist"]),
    ("translate-a-tagger-run", lambda c: (["translate", c.runs["tagger"]], "alpha\n"), 1, ["'tagger' model"]),
    (
        "evaluate-seq2seq-misaligned",
        lambda c: ["evaluate", c.runs["seq2seq"], "--src", c.data["src"], "--ref", c.file("ref.txt", "ONE\n")],
        1,
        ["line-aligned"],
    ),
    # --- empty input: empty output, a note, exit 0 ------------------------------------------
    ("tag-empty-stdin", lambda c: (["tag", c.runs["tagger"]], ""), 0, ["note: <stdin> is empty; nothing to tag"]),
    ("tag-empty-file", lambda c: ["tag", c.runs["tagger"], c.file("e.txt", "")], 0, ["e.txt is empty"]),
    (
        "translate-empty-stdin",
        lambda c: (["translate", c.runs["seq2seq"]], ""),
        0,
        ["note: <stdin> is empty; nothing to translate"],
    ),
    (
        "evaluate-charlm-empty",
        lambda c: ["evaluate", c.runs["charlm"], "--data", c.file("e.txt", "\ufeff\n")],
        0,
        ["e.txt is empty; nothing to evaluate"],
    ),
    (
        "evaluate-tagger-empty",
        lambda c: ["evaluate", c.runs["tagger"], "--data", c.file("e.conll", "")],
        0,
        ["e.conll is empty; nothing to evaluate"],
    ),
    (
        "evaluate-seq2seq-empty",
        lambda c: ["evaluate", c.runs["seq2seq"], "--src", c.file("e.src", ""), "--ref", c.file("e.ref", "")],
        0,
        ["e.src is empty; nothing to evaluate"],
    ),
]


@pytest.mark.parametrize("name, setup, status, fragments", CASES, ids=[case[0] for case in CASES])
def test_battery(valid, tmp_path, monkeypatch, name, setup, status, fragments):
    runs = {family: shutil.copytree(path, tmp_path / "runs" / family) for family, path in valid["runs"].items()}
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    ctx = Ctx(runs, valid["data"], valid["commands"], scratch, monkeypatch)
    prepared = setup(ctx)
    args, stdin = prepared if isinstance(prepared, tuple) else (prepared, None)
    before = {family: snapshot(path) for family, path in runs.items()}
    data_before = snapshot(valid["root"] / "runs"), {key: path.read_bytes() for key, path in valid["data"].items()}
    result = invoke(*args, input=stdin)
    monkeypatch.undo()
    assert result.exit_code == status, result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: " if status else "note: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    if status == 0:
        assert result.stdout == ""
    for family, path in runs.items():  # the valid runs: byte for byte as they were, no temp file or lock added
        assert snapshot(path) == before[family], family
    assert (snapshot(valid["root"] / "runs"), {k: p.read_bytes() for k, p in valid["data"].items()}) == data_before
    for path in scratch.rglob("*"):  # a failed training leaves no lock and no temp file
        assert path.name != "train.lock" and ".partial" not in path.name, path


def test_the_battery_spans_every_command():
    assert len(CASES) >= 35 and len({case[0] for case in CASES}) == len(CASES)
    names = " ".join(case[0] for case in CASES)
    for command in (
        "train-charlm",
        "train-tagger",
        "train-seq2seq",
        "generate",
        "tag",
        "translate",
        "evaluate",
        "inspect",
        "doctor",
    ):
        assert command in names, command


# --- the behaviour behind the battery, where a command succeeds ------------------------------


def test_disk_full_at_a_later_checkpoint_keeps_the_last_good_one(valid, tmp_path, monkeypatch):
    """ENOSPC while saving epoch 2's checkpoint: one line, epoch 1's last.keras intact, no temp file."""
    run_dir = tmp_path / "run"
    calls = {"n": 0}
    real = os.replace

    def replace(source, target, *args, **kwargs):
        if str(target).endswith("last.keras"):
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    args = [a if a != "1" else "2" for a in valid["commands"]["charlm"]]  # --epochs 2
    result = invoke(*args, "--run-dir", run_dir)
    monkeypatch.undo()
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: cannot write {run_dir / 'last.keras'}: No space left on device (ENOSPC); free some disk space"
    )
    assert not [p for p in os.listdir(run_dir) if ".partial" in p or p == "train.lock"]
    state = json.loads((run_dir / "state.json").read_text())
    assert state["epoch"] == 1 and state["step"] == 2  # the state of the checkpoint that was kept
    assert invoke("generate", run_dir, "--length", "5").exit_code == 0


def test_overwrite_after_a_killed_training(valid, tmp_path):
    """--overwrite replaces the run's own files (not others), clears the stale lock and temp files."""
    run_dir = shutil.copytree(valid["runs"]["charlm"], tmp_path / "run")
    (run_dir / "train.lock").write_text(json.dumps({"pid": _dead_pid(), "host": os.uname().nodename}))
    (run_dir / ".last.keras.x1y2.partial.keras").write_bytes(b"half")
    (run_dir / ".state.json.abc.partial").write_bytes(b"{")
    (run_dir / "notes.txt").write_text("mine")
    old_rows = (run_dir / "metrics.csv").read_text().splitlines()
    result = invoke(*valid["commands"]["charlm"], "--run-dir", run_dir, "--overwrite")
    assert result.exit_code == 0, result.output
    assert "removed a stale lock" in result.stderr and "removed 2 temp file(s)" in result.stderr
    assert [p for p in os.listdir(run_dir) if p.startswith(".") or p == "train.lock"] == []
    assert len((run_dir / "metrics.csv").read_text().splitlines()) == len(old_rows)  # replaced, not appended
    assert (run_dir / "notes.txt").read_text() == "mine"  # only files a run writes are replaced


def test_tag_output_is_line_aligned_with_its_input(valid, tmp_path):
    text = "-DOCSTART-\tO\n\n\nAnna\tO\nsees\tO\n\t\n\nOslo\tO\n\n-DOCSTART-\tO\n\nBob\tO\n\n\n"
    source = tmp_path / "in.conll"
    source.write_text(text, encoding="utf-8")
    result = invoke("tag", valid["runs"]["tagger"], source)
    assert result.exit_code == 0, result.output
    out, given = result.stdout.split("\n"), text.split("\n")
    assert len(out) == len(given)
    for written, line in zip(out, given):
        if line.strip() and not line.startswith("-DOCSTART-"):
            assert written.split("\t")[0] == line.split("\t")[0]
        else:
            assert written == line


def test_evaluate_scores_unseen_tags_as_errors_like_dev_scoring(valid, tmp_path):
    gold = re.sub(r"-(PER|LOC|ORG)\b", "-EVENT", valid["data"]["conll_dev"].read_text())
    path = tmp_path / "test.conll"
    path.write_text(gold, encoding="utf-8")
    result = invoke("evaluate", valid["runs"]["tagger"], "--data", path)
    assert result.exit_code == 0, result.output
    assert "tags never seen in training ('B-EVENT'" in result.stderr and "count as errors" in result.stderr
    from textlstm.api import Tagger
    from textlstm.tagger import metrics

    scores = Tagger(valid["runs"]["tagger"]).evaluate(path, warn=lambda message: None)
    event = scores["spans"]["per_type"]["EVENT"]
    assert event["support"] > 0 and event["recall"] == 0.0  # never predicted: every EVENT span is missed
    gold_tags = [
        [line.split("\t")[1] for line in block.splitlines() if line.strip()]
        for block in re.split(r"\n\s*\n", gold.strip())
    ]
    expected = metrics.span_scores(gold_tags, scores["predicted"], "IOB2")  # the dev-scoring function
    assert scores["spans"]["micro"] == expected["micro"]


def test_unknown_characters_are_named(valid, tmp_path):
    path = tmp_path / "held-out.txt"
    path.write_text("the river \u2603 runs \u00e9 again\n" * 3, encoding="utf-8")
    result = invoke("evaluate", valid["runs"]["charlm"], "--data", path)
    assert result.exit_code == 0, result.output
    assert (
        "note: 2 distinct characters were not in the vocabulary and read as unknown: '\u00e9' '\u2603'" in result.stderr
    )


def test_byte_order_marks_never_reach_the_vocabulary(tmp_path):
    from textlstm.charlm import tokens

    first = tmp_path / "a.txt"
    first.write_bytes(b"\xef\xbb\xbf" + prose(WORDS, 7, 300).encode())
    joined = tmp_path / "b.txt"  # `cat a.txt a.txt`: a BOM in the middle too
    joined.write_bytes(first.read_bytes() * 2)
    scan = tokens.scan_sources([str(first), str(joined)])  # what `train charlm --data` reads
    assert "\ufeff" not in tokens.vocabulary_of(scan, scan.chars).chars
