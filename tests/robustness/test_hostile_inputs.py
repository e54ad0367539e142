"""Hostile inputs at every entry: run files that do not fit together, text that is not valid
Unicode, and Python API arguments beyond the CLI's caps and choices.

Each case must end in one `TextlstmError` line (the CLI: one `Error: ...` line, exit 1; the
server: 400) that names the culprit, never a traceback. Tiny runs of every family are trained
once per session (`api_helpers.tiny_run`, plus a subword LM here); each damaging case works on
a copy.
"""

import asyncio
import json
import re
import shutil
import subprocess
import sys

import pytest

import textlstm
from support.cli import assert_one_error_line, invoke, prose
from support.runs import CHARLM_TINY, tiny_run
from textlstm.errors import TextlstmError

LONE = "ab\ud800c"  # a lone surrogate, as JSON "\ud800" or a Python escape makes one
FROM_ARGV = "ab\udcffc"  # what Python makes of the argument bytes b"ab\xffc" (surrogateescape)
FAMILY_RUNS = ("charlm", "charlm-subword", "tagger", "tagger-vectors", "seq2seq")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{name: run directory} of one tiny run of each family and variant, and a file to tag/translate."""
    found = {kind: tiny_run(tmp_path_factory, kind) for kind in ("charlm", "tagger", "tagger-vectors", "seq2seq")}
    root = tmp_path_factory.mktemp("hostile")
    text = root / "subword.txt"
    text.write_text(
        prose("the a river stone light garden of and in runs sleeps green old".split(), 3, 6000), encoding="utf-8"
    )
    found["charlm-subword"] = root / "subword-run"
    result = invoke(
        "train",
        "charlm",
        "--data",
        text,
        *CHARLM_TINY,
        "--set",
        "data.unit=subword",
        "--set",
        "data.vocab_size=300",
        "--run-dir",
        found["charlm-subword"],
    )
    assert result.exit_code == 0, result.output
    (root / "input.txt").write_text("alpha beta\n", encoding="utf-8")
    found["input"] = root / "input.txt"
    return found


@pytest.fixture(scope="module")
def loaded(runs):
    return {name: textlstm.load(runs[name]) for name in ("charlm", "charlm-subword", "tagger", "seq2seq")}


def one_line(error):
    text = str(error)
    assert "\n" not in text and "Traceback" not in text, text
    return text


# --- run files that do not fit together ---------------------------------------------------------


def _edit_json(name, change):
    def edit(run_dir):
        data = json.loads((run_dir / name).read_text(encoding="utf-8"))
        change(data)
        (run_dir / name).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")

    return edit


def _edit_recipe(key, value):
    def edit(run_dir):
        text = (run_dir / "recipe.toml").read_text(encoding="utf-8")
        changed = re.sub(rf"^{key} = .*$", f"{key} = {value}", text, count=1, flags=re.M)
        assert changed != text, key
        (run_dir / "recipe.toml").write_text(changed, encoding="utf-8")

    return edit


def _other_subwords(name, vocab_size=40):
    def edit(run_dir):
        from textlstm.seq2seq.subwords import train_model

        lines = [f"word{i} other{i % 7} thing{i % 3}" for i in range(200)]
        (run_dir / name).write_bytes(train_model(lines, vocab_size, "unigram"))

    return edit


CORRUPTIONS = [  # (run, edit, fragments of the one error line)
    (
        "charlm",
        _edit_json("vocab.json", lambda d: d["chars"].pop()),
        ["vocab.json: the number of characters is", "layer 'embedding', input_dim"],
    ),
    (
        "charlm",
        _edit_json("vocab.json", lambda d: d["chars"].append("\u2603")),
        ["vocab.json: the number of characters is", "built for"],
    ),
    ("charlm", _edit_recipe("seq_len", 0), ["recipe.toml: data.seq_len must be an integer >= 1", "got 0"]),
    (
        "charlm",
        _edit_recipe("direction", '"sideways"'),
        ["recipe.toml: data.direction must be one of forward, backward, got 'sideways'"],
    ),
    ("charlm", _edit_recipe("eval_window", -1), ["data.eval_window must be", "got -1"]),
    ("charlm", _edit_recipe("units", 12), ["recipe.toml: model.units is 12", "layer 'rnn_0', units"]),
    ("charlm", _edit_recipe("layers", 2), ["recipe.toml: model.layers is 2", "built for 1"]),
    ("charlm", _edit_recipe("temperature", 0.0), ["decode.temperature must be"]),
    (
        "charlm-subword",
        _other_subwords("subwords.model", 200),
        ["subwords.model: the number of pieces is", "layer 'embedding', input_dim"],
    ),
    (
        "tagger",
        _edit_json("tags.json", lambda d: d["items"].pop()),
        ["tags.json: the number of tags is", "layer 'tag_scores', units"],
    ),
    (
        "tagger",
        _edit_json("words.json", lambda d: d["items"].append("zzz")),
        ["words.json: the number of words is", "layer 'word_embedding', input_dim"],
    ),
    (
        "tagger",
        _edit_json("chars.json", lambda d: d["items"].append("\u2603")),
        ["chars.json: the number of characters is", "layer 'char_features', vocab_size"],
    ),
    ("tagger", _edit_recipe("max_len", 0), ["recipe.toml: data.max_len must be an integer >= 1", "got 0"]),
    ("tagger", _edit_recipe("decoder", '"hmm"'), ["model.decoder must be one of crf, softmax, got 'hmm'"]),
    (
        "tagger-vectors",
        _edit_json("words.json", lambda d: d["items"].pop()),
        ["words.json: the number of words is", "layer 'word_embedding', vocab_size"],
    ),
    (
        "tagger-vectors",
        _edit_json("words.json", lambda d: d.update(trainable_rows=d["trainable_rows"] - 1)),
        ["words.json: trainable_rows is", "layer 'word_embedding', trainable_rows"],
    ),
    (
        "tagger-vectors",
        _edit_json("words.json", lambda d: d.update(vector_dim=7)),
        ["words.json: vector_dim is 7", "vectors_dim"],
    ),
    (
        "seq2seq",
        _other_subwords("source.model"),
        ["source.model: the number of pieces is", "layer 'seq2seq', source_vocab_size"],
    ),
    ("seq2seq", _other_subwords("target.model"), ["target.model: the number of pieces is", "target_vocab_size"]),
    ("seq2seq", _edit_recipe("beam_size", 0), ["decode.beam_size must be an integer >= 1", "got 0"]),
    ("seq2seq", _edit_recipe("n_best", 3), ["decode.n_best (3) cannot exceed decode.beam_size"]),
]
COMMANDS = {  # a command that uses each kind of run, RUN and INPUT filled in
    "charlm": ["generate", "RUN", "-n", "3", "--seed", "1"],
    "tagger": ["tag", "RUN", "INPUT"],
    "seq2seq": ["translate", "RUN", "INPUT"],
}


def _damaged(runs, tmp_path, name, edit):
    copy = tmp_path / name
    shutil.copytree(runs[name], copy)
    edit(copy)
    return copy


@pytest.mark.parametrize(
    "name, edit, fragments",
    CORRUPTIONS,
    ids=[f"{c[0]}-{'-'.join(re.findall(r'[a-z_.]+', c[2][0])[:2])}" for c in CORRUPTIONS],
)
def test_run_files_that_do_not_fit_are_one_line_for_load_and_the_cli(runs, tmp_path, name, edit, fragments):
    copy = _damaged(runs, tmp_path, name, edit)
    with pytest.raises(TextlstmError) as caught:
        textlstm.load(copy)
    message = one_line(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    kind = json.loads((copy / "run.json").read_text())["kind"]
    args = [copy if a == "RUN" else runs["input"] if a == "INPUT" else a for a in COMMANDS[kind]]
    assert_one_error_line(invoke(*args), *fragments)


@pytest.mark.parametrize(
    "command",
    [
        ["evaluate", "RUN", "--data", "INPUT"],
        ["export", "RUN", "OUT"],
        ["train", "charlm", "--run-dir", "RUN", "--resume"],
        ["inspect", "RUN", "--prompt", "abc", "-o", "OUT.json"],
    ],
)
def test_every_command_that_opens_a_run_checks_its_files(runs, tmp_path, command):
    copy = _damaged(runs, tmp_path, "charlm", _edit_json("vocab.json", lambda d: d["chars"].pop()))
    args = [
        copy
        if a == "RUN"
        else runs["input"]
        if a == "INPUT"
        else tmp_path / "out"
        if a == "OUT"
        else tmp_path / "out.json"
        if a == "OUT.json"
        else a
        for a in command
    ]
    assert_one_error_line(invoke(*args), "vocab.json: the number of characters is")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.json").exists()


def test_a_fitting_run_is_checked_once(runs, monkeypatch):
    from textlstm import runcheck
    from textlstm.rundir import RunDir

    RunDir.open(runs["tagger"], "tagger")
    monkeypatch.setattr(runcheck, "check_saved_recipe", lambda *a: pytest.fail("checked again"))
    monkeypatch.setattr(runcheck, "_check_models", lambda *a: pytest.fail("checked again"))
    RunDir.open(runs["tagger"], "tagger")


# --- text that is not valid Unicode -----------------------------------------------------------

API_TEXT_CASES = [  # (model, call, fragments)
    (
        "charlm",
        lambda m: m.generate(LONE, length=3, seed=1),
        ["prompt is not valid Unicode text", "lone surrogate U+D800", "character 3"],
    ),
    ("charlm", lambda m: list(m.stream(LONE, length=3, seed=1)), ["prompt is not valid Unicode text"]),
    ("charlm", lambda m: m.score("abc\n" + LONE), ["text is not valid Unicode text", "line 2, column 3"]),
    ("charlm", lambda m: m.unknown_chars(LONE), ["text is not valid Unicode text"]),
    ("charlm", lambda m: m.with_prompt("a", LONE), ["text is not valid Unicode text"]),
    ("charlm-subword", lambda m: m.generate(LONE, length=3, seed=1), ["prompt is not valid Unicode text"]),
    ("charlm-subword", lambda m: m.score(LONE + " more text"), ["text is not valid Unicode text"]),
    ("tagger", lambda m: m.tag(["fine", LONE]), ["sentences[1] is not valid Unicode text", "character 3"]),
    ("tagger", lambda m: m.tag([["a", LONE]]), ["sentences[0][1] is not valid Unicode text"]),
    ("tagger", lambda m: m.tag([LONE], n_best=2), ["sentences[0] is not valid Unicode text"]),
    ("seq2seq", lambda m: m.translate(["alpha", LONE]), ["sentences[1] is not valid Unicode text"]),
    ("seq2seq", lambda m: m.hypotheses([LONE], alignments=True), ["sentences[0] is not valid Unicode text"]),
]


@pytest.mark.parametrize("name, call, fragments", API_TEXT_CASES)
def test_lone_surrogates_through_the_api_are_one_line(loaded, name, call, fragments):
    with pytest.raises(TextlstmError) as caught:
        call(loaded[name])
    message = one_line(caught.value)
    for fragment in fragments:
        assert fragment in message, message


def test_lone_surrogate_in_char_hidden_states(runs):
    from textlstm.charlm.states import CharHiddenStates

    states = CharHiddenStates(runs["charlm"])
    for texts, fragment in ((LONE, "texts is not valid"), (["ok", LONE], "texts[1] is not valid")):
        with pytest.raises(TextlstmError, match=re.escape(fragment)):
            states(texts)


@pytest.mark.parametrize(
    "args, fragments",
    [
        (
            ["generate", "RUN", "--prompt", FROM_ARGV, "-n", "3"],
            ["--prompt is not valid Unicode text", "the byte 0xff, which is not UTF-8", "character 3"],
        ),
        (["generate", "RUN", "--prompt", LONE, "-n", "3"], ["--prompt is not valid", "U+D800"]),
        (["inspect", "RUN", "--prompt", FROM_ARGV, "--format", "json", "-o", "OUT"], ["--prompt is not valid"]),
        (["train", "charlm", "--data", "DIR/" + FROM_ARGV], ["--data is not valid Unicode text", "byte 0xff"]),
        (
            ["train", "charlm", "--set", 'data.valid="a' + FROM_ARGV + '"', "--run-dir", "OUT"],
            ["data.valid is not valid Unicode text", "U+DCFF"],
        ),
    ],
)
def test_text_that_is_not_utf8_on_the_command_line_is_one_line(runs, tmp_path, args, fragments):
    args = [
        runs["charlm"] if a == "RUN" else tmp_path / "out" if a == "OUT" else a.replace("DIR", str(tmp_path))
        for a in args
    ]
    if any("--data" == a for a in args):
        (tmp_path / FROM_ARGV).write_text("text", encoding="utf-8", errors="surrogateescape")
    assert_one_error_line(invoke(*args), *fragments)
    assert not (tmp_path / "out").exists()


def test_an_invalid_utf8_argument_byte_in_a_real_process(runs):
    """The bytes as a shell passes them; the check runs while options are parsed (no TensorFlow)."""
    result = subprocess.run(
        [sys.executable, "-m", "textlstm", "generate", str(runs["charlm"]).encode(), "--prompt", b"ab\xffc", "-n", "3"],
        capture_output=True,
        timeout=300,
    )
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 1 and "Traceback" not in stderr, stderr
    assert (
        stderr.strip() == "Error: --prompt is not valid Unicode text: the byte 0xff, which is not UTF-8, at character 3"
    ), stderr


async def _post(app, path, body):
    sent, received = [], [{"type": "http.request", "body": body, "more_body": False}]
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "scheme": "http",
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 1),
        "root_path": "",
        "http_version": "1.1",
    }

    async def receive():
        return received.pop(0) if received else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], json.loads(b"".join(m.get("body", b"") for m in sent[1:]))


def test_a_lone_surrogate_in_a_server_body_is_400(loaded):
    pytest.importorskip("starlette")
    from textlstm.serve.app import build_app
    from textlstm.serve.limits import Limits
    from textlstm.serve.slots import ModelSlot

    app = build_app(
        {
            "lm": ModelSlot("lm", loaded["charlm"]),
            "mt": ModelSlot("mt", loaded["seq2seq"]),
            "ner": ModelSlot("ner", loaded["tagger"]),
        },
        Limits(),
    )
    for path, body, fragment in (
        ("/models/lm/generate", b'{"prompt": "ab\\ud800", "length": 3}', "prompt"),
        ("/models/mt/translate", b'{"sentences": ["\\ud800 x"]}', "sentences[0]"),
        ("/models/ner/tag", b'{"sentences": ["a \\udcff"]}', "sentences[0]"),
    ):
        status, answer = asyncio.run(_post(app, path, body))
        assert status == 400, answer
        assert f"{fragment} is not valid Unicode text" in answer["error"], answer


# --- the Python API's caps and choices: the CLI's declarations ---------------------------------

API_ARGUMENT_CASES = [  # (model, call, fragments)
    (
        "tagger",
        lambda m: m.tag(["a b"], batch_size=10**9),
        ["batch_size must be an integer", "<= 1_000_000", "got 1000000000"],
    ),
    ("tagger", lambda m: m.tag(["a b"], n_best=10**6), ["n_best must be an integer >= 1 and <= 100, got 1000000"]),
    ("tagger", lambda m: m.tag(["a b"], n_best=0), ["n_best must be an integer >= 1"]),
    ("tagger", lambda m: m.tag(["a b"], n_best="2"), ["n_best must be an integer, got '2'"]),
    (
        "tagger",
        lambda m: m.tag_file("INPUT", output_format="xml"),
        ["output_format must be one of conllu, conll, jsonl", "got 'xml'"],
    ),
    (
        "tagger",
        lambda m: m.tag_file("INPUT", input_format="bogus"),
        ["input_format must be one of auto, conllu", "got 'bogus'"],
    ),
    ("tagger", lambda m: m.tag_file("INPUT", batch_size=0), ["batch_size must be"]),
    ("tagger", lambda m: m.tag_file(5), ["input_path must be a path"]),
    ("tagger", lambda m: m.evaluate("INPUT", batch_size=2.5), ["batch_size must be an integer"]),
    ("charlm", lambda m: m.generate("a", num_samples=10**9), ["num_samples must be an integer >= 1 and <= 100_000"]),
    ("charlm", lambda m: m.generate("a", length=10**12), ["length must be"]),
    ("charlm", lambda m: m.generate("a", sampler="best"), ["sampler must be one of greedy"]),
    ("charlm", lambda m: m.generate("a", temperature=float("nan")), ["temperature must be"]),
    ("charlm", lambda m: m.generate("a", top_p="high"), ["top_p must be a number"]),
    ("charlm", lambda m: next(m.stream("a", chunk=10**9)), ["chunk must be an integer >= 1 and <= 10_000_000"]),
    ("charlm", lambda m: m.generate(5), ["prompt must be a string, got int 5"]),
    ("seq2seq", lambda m: m.translate(["a"], beam_size=10**6), ["beam_size must be", "<= 1000"]),
    ("seq2seq", lambda m: m.translate(["a"], batch_size=10**9), ["batch_size must be"]),
    ("seq2seq", lambda m: m.translate(["a"], length_penalty=-1), ["length_penalty must be"]),
    ("seq2seq", lambda m: m.translate(["a"], max_length=0), ["max_length must be"]),
    ("seq2seq", lambda m: m.hypotheses(["a"], warn="loud"), ["warn must be a function"]),
    ("seq2seq", lambda m: m.evaluate("INPUT", "INPUT", beam_size=0), ["beam_size must be"]),
]


@pytest.mark.parametrize("name, call, fragments", API_ARGUMENT_CASES)
def test_api_arguments_are_checked_with_the_cli_declarations(loaded, runs, monkeypatch, name, call, fragments):
    model = loaded[name]
    for method in ("tag_file", "evaluate"):  # "INPUT" stands for a real file
        if hasattr(model, method):
            original = getattr(model, method)
            monkeypatch.setattr(
                model, method, lambda *a, _o=original, **k: _o(*[runs["input"] if x == "INPUT" else x for x in a], **k)
            )
    with pytest.raises(TextlstmError) as caught:
        call(model)
    message = one_line(caught.value)
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda run, cls: cls(run, layer="top"), "layer must be an integer, got str 'top'"),
        (lambda run, cls: cls(5), "run_dir must be a path"),
        (lambda run, cls: cls(run)("abc", order="sideways"), "order must be one of reading, text, got 'sideways'"),
        (lambda run, cls: cls(run)("abc", batch_size="8"), "batch_size must be an integer, got '8'"),
        (lambda run, cls: cls(run)(["abc", 3]), "texts[1] must be a string, got int 3"),
    ],
)
def test_char_hidden_states_names_the_argument(runs, make, fragment):
    from textlstm.charlm.states import CharHiddenStates

    with pytest.raises(TextlstmError) as caught:
        make(runs["charlm"], CharHiddenStates)
    assert fragment in one_line(caught.value)


def test_the_cli_and_the_api_share_the_tag_declarations(runs):
    """`tag --n-best 1000000` and `--output-format xml` are refused with the same caps and choices."""
    assert_one_error_line(
        invoke("tag", runs["tagger"], runs["input"], "--n-best", "1000000"),
        "--n-best must be an integer >= 1 and <= 100, got 1000000",
    )
    result = invoke("tag", runs["tagger"], runs["input"], "--output-format", "xml")
    assert result.exit_code == 2 and "'xml' is not one of 'conllu', 'conll', 'jsonl'" in result.output


def test_a_batch_size_larger_than_the_input_pads_no_more_rows_than_the_input_has(loaded, monkeypatch):
    """Within the cap, `tag(..., batch_size=999_999)` of two sentences pads 2 rows, not 999,999."""
    from textlstm.tagger import data as data_lib

    shapes, pad = [], data_lib.pad_batch
    monkeypatch.setattr(data_lib, "pad_batch", lambda batch, rows=None: shapes.append(rows) or pad(batch, rows))
    tagger = loaded["tagger"]
    assert tagger.tag(["Anna sees", "the dog"], batch_size=999_999) == tagger.tag(["Anna sees", "the dog"])
    assert tagger.tag(["Anna sees", "the dog"], batch_size=999_999, n_best=2)
    assert shapes and max(shapes) <= 2
