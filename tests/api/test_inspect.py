"""`textlstm inspect`: recorded gates reproduce the layers, the analyses, the report, the CLI.

One tiny char LM (2 x 16 LSTM, ten training steps on ~3 KB of text written here) is
trained once through the CLI for the end-to-end and bad-input tests; the gate tests use
untrained models built directly.
"""

import base64
import html.parser
import json
import os
import shutil
import subprocess

import keras
import numpy as np
import pytest

import textlstm.layers as tl
from support.cli import assert_one_error_line as _assert_one_error_line
from support.cli import invoke as _invoke
from support.cli import prose
from textlstm.charlm.model import DEFAULTS, build_model
from textlstm.inspection import analysis
from textlstm.inspection.record import record_activations
from textlstm.inspection.span import memory_span, window_starts

TINY = [
    "--set",
    "model.units=16",
    "--set",
    "model.layers=2",
    "--set",
    "model.embedding_dim=8",
    "--set",
    "data.seq_len=16",
    "--set",
    "train.batch_size=4",
    "--set",
    "train.steps_per_epoch=5",
    "--epochs",
    "2",
]
WORDS = (
    'the a river stone "light" morning (quiet) garden of and in under over runs sleeps '
    "finds green old small bright, slowly. again; window door road hill"
).split()
SNOWMAN = "\u2603"  # never in the training text


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """`(run_dir, text_file)` of one tiny LSTM char LM trained through the CLI."""
    root = tmp_path_factory.mktemp("inspect")
    train_file, valid_file, text_file = root / "train.txt", root / "valid.txt", root / "text.txt"
    train_file.write_text(prose(WORDS, 1, 3000), encoding="utf-8")
    valid_file.write_text(prose(WORDS, 2, 700), encoding="utf-8")
    text_file.write_text(prose(WORDS, 3, 400), encoding="utf-8")
    run_dir = root / "run"
    result = _invoke(
        "train", "charlm", "--data", train_file, "--set", f"data.valid={valid_file}", "--run-dir", run_dir, *TINY
    )
    assert result.exit_code == 0, result.output
    return run_dir, text_file


def _model(cell, units=6):
    recipe = {**DEFAULTS["model"], "cell": cell, "units": units, "layers": 2, "embedding_dim": 5}
    return build_model(12, recipe, seed=3)


def _forward_outputs(model, ids):
    """Each recurrent layer's own forward outputs `[time, units]`, from the model's graph."""
    names = ["rnn_0", "rnn_1"]
    probe = keras.Model(model.input, [model.get_layer(name).output for name in names])
    return [out[0] for out in probe(ids[None])]


# --- recorded gates reproduce the layers ----------------------------------------------------


def test_recorded_lstm_gates_reproduce_the_forward_pass():
    model = _model("lstm")
    ids = np.random.RandomState(0).randint(0, 12, 40).astype("int32")
    recording = record_activations(model, ids, "x" * 40)
    outputs = _forward_outputs(model, ids)
    layer_input = model.get_layer("embedding")(ids[None])
    for i, (gates, forward) in enumerate(zip(recording.layers, outputs)):
        c_prev = np.zeros(6, dtype=np.float32)
        for t in range(len(ids)):  # recompute c and h from the recorded gates alone
            c = gates["forget"][t] * c_prev + gates["input"][t] * gates["candidate"][t]
            np.testing.assert_allclose(c, gates["c"][t], atol=1e-5)
            np.testing.assert_allclose(gates["output"][t] * np.tanh(c), forward[t], atol=1e-5)
            c_prev = c
        np.testing.assert_allclose(gates["h"], forward, atol=1e-5)
        # the final cell state equals the one the layer itself returns
        layer = model.get_layer(f"rnn_{i}")
        twin = tl.LSTM(6, return_sequences=True, return_state=True)
        twin.build(layer_input.shape)
        twin.set_weights(layer.get_weights())
        _, _, final_c = twin(layer_input)
        np.testing.assert_allclose(gates["c"][-1], np.asarray(final_c)[0], atol=1e-5)
        layer_input = layer(layer_input)


def test_recorded_gru_gates_reproduce_the_forward_pass():
    model = _model("gru")
    ids = np.random.RandomState(1).randint(0, 12, 40).astype("int32")
    recording = record_activations(model, ids, "x" * 40)
    assert recording.gate_names == ("update", "reset", "candidate", "h")
    for gates, forward in zip(recording.layers, _forward_outputs(model, ids)):
        h_prev = np.zeros(6, dtype=np.float32)
        for t in range(len(ids)):
            h = gates["update"][t] * h_prev + (1 - gates["update"][t]) * gates["candidate"][t]
            np.testing.assert_allclose(h, forward[t], atol=1e-5)
            h_prev = h
        assert gates["reset"].min() >= 0 and gates["reset"].max() <= 1


def test_predictions_are_the_models_softmax():
    model = _model("lstm")
    ids = np.arange(10, dtype="int32") % 12
    recording = record_activations(model, ids, "x" * 10, top_k=3)
    probs = keras.ops.softmax(model(ids[None]))[0].numpy()
    np.testing.assert_array_equal(recording.top_ids[:, 0], probs.argmax(-1))
    np.testing.assert_allclose(recording.top_probs[:, 0], probs.max(-1), atol=1e-5)
    np.testing.assert_allclose(recording.next_prob[:-1], probs[np.arange(9), ids[1:]], atol=1e-5)
    assert np.isnan(recording.next_prob[-1])


# --- analyses -------------------------------------------------------------------------------


def test_text_features_by_hand():
    features = analysis.text_features('a "b" (c)\nde\n')
    np.testing.assert_array_equal(features["inside_quotes"], [0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(features["inside_brackets"], [0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(features["line_length_so_far"], [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 0])
    np.testing.assert_array_equal(features["after_newline"], [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1])
    np.testing.assert_allclose(features["position_in_line"][:9], np.arange(1, 10) / 9)
    np.testing.assert_allclose(features["position_in_line"][10:12], [0.5, 1.0])


def test_correlations_find_the_unit_that_tracks_a_feature():
    feature = np.array([0, 1, 1, 0, 1, 0, 0, 1], dtype=float)
    noise = np.random.RandomState(0).normal(size=8)
    states = np.stack([noise, -2 * feature + 0.5, np.ones(8)], axis=1)
    r = analysis.correlations(states, feature)
    assert r[1] == pytest.approx(-1.0)
    assert abs(r[0]) < 0.9 and np.isnan(r[2])  # a constant unit has no correlation


def test_saturation_fractions():
    model = _model("gru")
    recording = record_activations(model, np.arange(20, dtype="int32") % 12, "x" * 20)
    layer = recording.layers[0]
    layer["update"][:] = 0.05
    layer["update"][:5, 0] = 0.95
    left, right = analysis.saturation(recording)[0]["update"]
    assert left[0] == pytest.approx(0.75) and right[0] == pytest.approx(0.25)
    assert left[1] == 1.0 and right[1] == 0.0


def _forgetful_lstm(keep=0.7):
    """The test LSTM with a memory that keeps `keep` of itself per step, whatever the input.

    Forget gates are constant (`keep`) and no layer feeds back its own output, so the
    gradient reaching k characters back shrinks by about `keep` per character (times
    k/(k-1) through the two stacked layers): the span lies well inside 60 characters.
    """
    from textlstm.charlm.model import recurrent_layers

    model = _model("lstm")
    for layer in recurrent_layers(model):
        kernel, recurrent, bias = layer.get_weights()
        units = recurrent.shape[0]
        kernel[:, units : 2 * units] = 0.0  # gate order i, f, c, o (Keras's layout)
        recurrent[:] = 0.0
        bias[units : 2 * units] = np.log(keep / (1 - keep))
        layer.set_weights([kernel, recurrent, bias])
    return model


def test_memory_span_measures_every_distance():
    model = _forgetful_lstm(0.7)
    ids = np.random.RandomState(2).randint(0, 12, 300).astype("int32")
    span = memory_span(model, ids, distance=60, windows=4)
    assert span.distance == 60 and span.windows == 4
    assert np.all(span.sensitivity > 0)
    assert span.span is not None and 10 < span.span < 40, span.span
    assert span.sensitivity[span.span - 1] < 0.01 * span.sensitivity[0]
    assert np.all(span.sensitivity[: span.span - 1] >= 0.01 * span.sensitivity[0])
    ratios = span.sensitivity[15:40] / span.sensitivity[14:39]
    assert np.all((ratios > 0.7) & (ratios < 0.76)), ratios  # the forget gate's 0.7 per step, measured
    assert "effective memory span: " in span.describe() and f"{span.span} characters" in span.describe()
    assert memory_span(model, ids[:41], distance=60, windows=4).distance == 40  # fits the text
    assert memory_span(model, ids[:2]) is None
    assert list(window_starts(100, 90, 16)) == list(range(10))


# --- the report ---------------------------------------------------------------------------


class _TagChecker(html.parser.HTMLParser):
    """Checks that every non-void element is closed in order; collects attributes."""

    VOID = {"meta", "input", "br", "img", "link", "circle", "line", "rect", "polyline"}

    def __init__(self):
        super().__init__()
        self.stack, self.attributes = [], []

    def handle_starttag(self, tag, attrs):
        self.attributes += [name for name, _ in attrs]
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.attributes += [name for name, _ in attrs]

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        assert self.stack and self.stack[-1] == tag, (self.stack[-3:], tag)
        self.stack.pop()


def _payload(page):
    start = page.index('<script type="application/json" id="payload">') + len(
        '<script type="application/json" id="payload">'
    )
    return json.loads(page[start : page.index("</script>", start)])


def test_cli_writes_a_self_contained_html_report(trained, tmp_path):
    run_dir, text_file = trained
    out = tmp_path / "report.html"
    result = _invoke("inspect", run_dir, "--text", text_file, "--out", out, "--span-distance", 50)
    assert result.exit_code == 0, result.output
    assert "memory span" in result.stdout and f"wrote {out}" in result.stdout
    assert "LSTM, 2 layers, " in result.stdout
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "http" not in page.lower()  # no network references of any kind
    for external in ("src=", "href=", "@import", "url("):
        assert external not in page
    checker = _TagChecker()
    checker.feed(page)
    checker.close()
    assert checker.stack == []
    payload = _payload(page)
    text = text_file.read_text()
    assert "".join(payload["chars"]) == text and payload["gates"] == [
        "input",
        "forget",
        "output",
        "candidate",
        "c",
        "h",
    ]
    codes = base64.b64decode(payload["layers"][1]["forget"]["bytes"])
    assert len(codes) == 16 * len(text)
    assert len(payload["top_ids"]) == len(text) and len(payload["top_ids"][0]) == 5
    for section in ("Interpretable units", "Gate saturation", "Memory span", 'class="scatter"', 'class="span"'):
        assert section in page


def test_counts_are_pluralised():
    from textlstm.cli.inspect_cmd import _count

    assert (_count(1, "layer"), _count(2, "layer"), _count(0, "layer")) == ("1 layer", "2 layers", "0 layers")


def test_cli_raw_json_and_npz(trained, tmp_path):
    run_dir, _ = trained
    result = _invoke(
        "inspect",
        run_dir,
        "--prompt",
        "The river (slow) runs.\nA door",
        "--format",
        "json",
        "--out",
        tmp_path / "raw.json",
        "--span-distance",
        20,
        "--max-chars",
        20,
    )
    assert result.exit_code == 0, result.output
    raw = json.loads((tmp_path / "raw.json").read_text())
    assert raw["cell"] == "lstm" and raw["layers"] == 2 and raw["units"] == 16
    assert len(raw["activations"][0]["c"]) == len(raw["text"]) == 20
    assert raw["characters_analysed"] == 29 and any("--max-chars" in note for note in raw["notes"])
    assert {row["feature"] for row in raw["interpretable_units"]} >= {"inside_brackets", "after_newline"}
    assert raw["memory_span"]["sensitivity"] and len(raw["memory_span"]["sensitivity"]) == 20
    assert set(raw["saturation"][0]) == {"input", "forget", "output"}

    result = _invoke("inspect", run_dir, "--prompt", "The river runs.", "--out", tmp_path / "raw.npz")
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "raw.npz") as arrays:
        assert arrays["layer1/h"].shape == (15, 16)
        assert arrays["top_ids"].shape == (15, 5)
        assert json.loads(str(arrays["summary"]))["text"] == "The river runs."


def test_unknown_characters_are_noted(trained, tmp_path):
    run_dir, _ = trained
    result = _invoke("inspect", run_dir, "--prompt", f"the {SNOWMAN} river", "--out", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    assert SNOWMAN in result.stderr and "not in the vocabulary" in result.stderr
    raw = json.loads((tmp_path / "r.json").read_text())
    assert raw["unknown_chars"] == [SNOWMAN] and any(SNOWMAN in note for note in raw["notes"])


def test_bad_inputs(trained, tmp_path, monkeypatch):
    run_dir, text_file = trained
    monkeypatch.chdir(tmp_path)  # where a report would land by default (report.html)
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    _assert_one_error_line(_invoke("inspect", run_dir, "--text", empty), "empty.txt", "empty")
    _assert_one_error_line(_invoke("inspect", run_dir, "--prompt", ""), "--prompt is empty")
    _assert_one_error_line(_invoke("inspect", run_dir), "--text FILE or --prompt TEXT")
    _assert_one_error_line(_invoke("inspect", run_dir, "--text", text_file, "--prompt", "x"), "exactly one")
    _assert_one_error_line(_invoke("inspect", tmp_path / "nowhere", "--prompt", "x"), "does not exist")
    tagger = tmp_path / "tagger"
    tagger.mkdir()
    (tagger / "run.json").write_text(json.dumps({"kind": "tagger"}))
    _assert_one_error_line(_invoke("inspect", tagger, "--prompt", "x"), "'tagger'", "char LM", "'charlm'")
    _assert_one_error_line(_invoke("inspect", run_dir, "--prompt", "x", "--max-chars", 0), "--max-chars")
    assert not (tmp_path / "report.html").exists()


def test_a_report_never_lands_inside_a_run_directory(trained, tmp_path):
    """`--out` naming a checkpoint, the training state or any path inside a run directory (this
    run's or another's) is refused before anything is written: the run keeps every file."""
    run_dir, _ = trained
    other = tmp_path / "other-run"
    (other / "sub").mkdir(parents=True)
    (other / "run.json").write_text(json.dumps({"kind": "tagger"}))
    before = {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()}
    for out in (run_dir / "best.keras", run_dir / "state.json", run_dir / "report.html", other / "sub" / "r.json"):
        _assert_one_error_line(_invoke("inspect", run_dir, "--prompt", "the", "--out", out), "lies inside the run")
        assert not (other / "sub" / "r.json").exists()
    assert {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()} == before
    from textlstm.errors import TextlstmError
    from textlstm.inspection.report import write_report

    with pytest.raises(TextlstmError, match="lies inside the run directory"):
        write_report(None, run_dir / "best.keras", "html")


def test_help_pages():
    inspect_help = _invoke("inspect", "--help")
    assert inspect_help.exit_code == 0 and "--prompt" in inspect_help.output and "--format" in inspect_help.output
    doctor_help = _invoke("doctor", "--help")
    assert doctor_help.exit_code == 0 and "RUN_DIR" in doctor_help.output


# --- doctor ---------------------------------------------------------------------------------


def test_doctor_without_a_run_dir():
    result = _invoke("doctor")
    assert result.exit_code == 0, result.output
    for name in ("TensorFlow:", "Keras:", "CUDA:", "cuDNN:", "devices:", "XLA:", "rnn_0: LSTM(256)", "rnn_1"):
        assert name in result.stdout, result.stdout
    from textlstm.layers.dispatch import gpu_available

    if gpu_available():  # the default char LM meets every cuDNN condition
        assert "rnn_0: LSTM(256) → cuDNN" in result.stdout and "not cuDNN" not in result.stdout, result.stdout
    else:
        assert "rnn_0: LSTM(256) → fused CPU loop" in result.stdout, result.stdout
        assert "not cuDNN: no GPU visible to TensorFlow" in result.stdout


def test_doctor_on_a_run_dir(trained):
    result = _invoke("doctor", trained[0])
    assert result.exit_code == 0, result.output
    assert "(charlm)" in result.stdout and "rnn_1: LSTM(16)" in result.stdout
    _assert_one_error_line(_invoke("doctor", trained[0] / "missing"), "does not exist")


def test_doctor_says_why_not_cudnn():
    from textlstm.doctor import layer_plans

    inputs = keras.Input((None, 3))
    x = keras.layers.Bidirectional(tl.GRU(4, return_sequences=True, reset_after=False))(inputs)
    x = tl.LSTM(4, recurrent_dropout=0.2, activation="relu", return_sequences=True, name="odd")(x)
    x = tl.LSTM(4, use_cudnn=False, name="no_cudnn")(x)
    plans = {path: (kernel, reasons) for path, _, kernel, reasons in layer_plans(keras.Model(inputs, x))}
    forward = next(value for path, value in plans.items() if path.endswith("/forward"))
    assert forward[0].startswith("portable") and any("reset_after=False" in r for r in forward[1])
    kernel, reasons = plans["odd"]
    assert kernel.startswith("portable")
    assert any("'relu'" in r for r in reasons) and any("recurrent_dropout=0.2" in r for r in reasons)
    assert plans["no_cudnn"] == ("fused CPU loop (textlstm's own)", ["use_cudnn=False"])


def test_doctor_finds_layers_inside_custom_layers():
    from textlstm.doctor import layer_plans
    from textlstm.tagger.model import CharFeatures

    chars = keras.Input((None, None), dtype="int32")
    model = keras.Model(chars, CharFeatures("lstm", 10, char_dim=3, units=4, name="char_features")(chars))
    paths = [path for path, *_ in layer_plans(model)]
    assert paths == ["char_features/char_bilstm/forward", "char_features/char_bilstm/backward"]


def test_doctor_reports_a_masked_layer_that_demands_cudnn():
    from textlstm.doctor import layer_plans
    from textlstm.layers.dispatch import gpu_available

    inputs = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(10, 3, mask_zero=True)(inputs)
    x = tl.LSTM(4, use_cudnn=True, name="demands_cudnn")(x)
    [(path, _, kernel, reasons)] = layer_plans(keras.Model(inputs, x))
    assert path == "demands_cudnn"
    if gpu_available():  # cuDNN, with the warning about masks that are not right-padded
        assert kernel == "cuDNN" and len(reasons) == 1 and "inputs are masked" in reasons[0]
    else:  # the layer will fail, and says why
        assert kernel.startswith("none") and len(reasons) == 1 and "use_cudnn" in reasons[0]


# --- in a real browser ----------------------------------------------------------------------


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_report_renders_in_headless_chromium(trained, tmp_path):
    """Skips where Chromium is absent, unless TEXTLSTM_EXPECT_CHROMIUM=1 (set by .ci/run when it
    installed or found Chromium): then a missing browser is a failure, not a skip."""
    if _chromium() is None:
        if os.environ.get("TEXTLSTM_EXPECT_CHROMIUM") == "1":
            pytest.fail("TEXTLSTM_EXPECT_CHROMIUM=1 but neither `chromium` nor `chromium-browser` is on PATH")
        pytest.skip("headless Chromium (Debian package `chromium`) is not installed")
    run_dir, text_file = trained
    text = text_file.read_text() + "An astral \U0001f600 character.\n"  # one character, two UTF-16 units
    (tmp_path / "text.txt").write_text(text, encoding="utf-8")
    out = tmp_path / "report.html"
    result = _invoke("inspect", run_dir, "--text", tmp_path / "text.txt", "--out", out, "--span-distance", 30)
    assert result.exit_code == 0, result.output
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--enable-logging=stderr",
        "--virtual-time-budget=5000",
        "--user-data-dir=" + str(tmp_path / "profile"),
        "--dump-dom",
        out.as_uri() + "#selftest",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    dom = done.stdout
    assert 'data-ready="1"' in dom, done.stderr[-2000:]
    assert "data-errors" not in dom, dom[:500]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]  # console.* and uncaught errors
    assert console == [], console
    assert 'data-selftest="colours-changed"' in dom  # moving the unit picker recoloured the text
    assert dom.count('data-t="') == len(text)  # one coloured span per character


def test_span_plot_keeps_underflowed_gradients_on_the_axis():
    from textlstm.inspection.plots import memory_span_plot
    from textlstm.inspection.span import MemorySpan

    sensitivity = np.exp(-np.arange(1000) / 3.0).astype(np.float32)  # reaches 0 in float32 long before 1000
    svg = memory_span_plot(MemorySpan(sensitivity, 15, 4))
    assert "nan" not in svg.lower() and "inf" not in svg.lower()
    assert svg.count(">1e") <= 9  # a readable number of decades on the y axis
    assert "span = 15" in svg and ">1000<" in svg


@pytest.mark.parametrize(
    "text, inside",
    [
        ("a \u201cb\u201d c", "0011000"),  # “b” (War and Peace)
        ("\u00abb \u00abc\u00bb d\u00bb e", "11111111000"),  # nested guillemets
        ("\u201eb\u201c c", "11000"),  # German „b“
        ("\u2018b\u2019 c", "11000"),  # ‘b’
        ("don\u2019t \u2018go\u2019", "0000001110"),  # an apostrophe closes nothing and opens nothing
    ],
)
def test_typographic_quotes_count_as_quotes(text, inside):
    expected = [int(flag) for flag in inside]
    assert len(expected) == len(text)
    np.testing.assert_array_equal(analysis.text_features(text)["inside_quotes"], expected)
