"""Inspect a char LM run on a text, and write what was found as HTML, JSON or NPZ.

`inspect_run` loads the run's model and asks it (`CharLM.inspect`); `inspect_model` does the
work (record, saturation, interpretable units, memory span);
`write_report` picks the format. The HTML page is self-contained: its stylesheet,
script, figures (inline SVG) and data are all inside it, so it opens offline and can
be mailed as one file.
"""

import base64
import dataclasses
import html
import io
import json
import pathlib

import numpy as np

from textlstm.errors import UserError
from textlstm.inspection import analysis, page_assets, plots
from textlstm.inspection.record import SIGMOID_GATES, STATE_GATE, record_activations
from textlstm.inspection.span import memory_span
from textlstm.rundir import RunDir, atomic_write_bytes, atomic_write_text, refuse_inside_a_run

FORMATS = ("html", "json", "npz")
SIGNED_GATES = ("candidate", "c", "h")


@dataclasses.dataclass
class Inspection:
    recording: object
    vocab: list
    saturation: list
    interpretable: list
    constant_features: list
    span: object
    unknown_chars: list
    full_length: int  # characters of the text given; the recording covers the first max_chars
    analysed: int  # characters behind the saturation and interpretable-unit figures
    run_path: str


def inspect_run(run_path, text, loading=None, **options):
    """`textlstm inspect`: the `Inspection` of the model in `run_path` reading `text`.

    `loading` holds `textlstm.load`'s keyword arguments (checkpoint, quantize).
    The run's class comes from the registry (`families.model_class`) and does the work with
    its `inspect` method (`CharLM.inspect`; `options` as `inspect_model`'s); a run of a family
    whose class has none is refused in one line.
    """
    from textlstm import families

    kind = RunDir.read_kind(run_path)
    supported = [other for other, cls in families.model_classes().items() if hasattr(cls, "inspect")]
    if kind not in supported:
        raise UserError(
            f"{run_path} holds a {kind!r} model; textlstm inspect supports "
            + " and ".join(
                f"{families.family(other).title} run directories (kind {other!r}, made by `textlstm train {other}`)"
                for other in supported
            )
        )
    if not text:
        raise UserError("the text to inspect is empty")
    return families.model_class(kind)(run_path, **(loading or {})).inspect(text, **options)


def inspect_model(
    model,
    vocab,
    text,
    run_path,
    max_chars=2000,
    analysis_chars=20000,
    top_k=5,
    span_distance=1000,
    span_windows=16,
    progress=None,
):
    """Everything the report shows, for the char LM `model` (its vocabulary `vocab`, from the run
    directory `run_path`) reading `text`.

    Saturation and interpretable units are measured on the first `analysis_chars`
    characters (features like quotes need more text than fits on a page); the recording
    kept for the page and the raw output covers the first `max_chars`; the memory span
    samples windows from the whole text. `progress(message)`, when given, hears each stage as it
    starts (the command line prints them: a large model takes seconds per stage).
    """
    progress = progress or (lambda message: None)
    if not text:
        raise UserError("the text to inspect is empty")
    if max_chars < 1:
        raise UserError(f"--max-chars must be at least 1, got {max_chars}")
    ids = vocab.encode(text)
    analysed = min(len(text), max(max_chars, analysis_chars))
    progress(f"recording the gates on {analysed:,} characters...")
    recording = record_activations(model, ids[:analysed], text[:analysed], top_k=top_k)
    progress("looking for interpretable units and saturated gates...")
    interpretable, constant = analysis.interpretable_units(recording)
    saturation = analysis.saturation(recording)
    progress(f"measuring the memory span ({span_windows} windows, up to {span_distance:,} characters back)...")
    span = memory_span(model, ids, distance=span_distance, windows=span_windows)
    return Inspection(
        recording.first(max_chars),
        vocab.chars,
        saturation,
        interpretable,
        constant,
        span,
        vocab.unknown_chars(text),
        len(text),
        analysed,
        str(run_path),
    )


def write_report(inspection, path, fmt):
    if fmt not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    refuse_inside_a_run(path, "the report")
    path = pathlib.Path(path)
    if fmt == "html":
        atomic_write_text(path, render_html(inspection))
    elif fmt == "json":
        atomic_write_text(path, json.dumps(raw_summary(inspection, with_activations=True), ensure_ascii=False))
    else:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **raw_arrays(inspection))
        atomic_write_bytes(path, buffer.getvalue())


def _notes(inspection):
    notes = []
    if inspection.unknown_chars:
        notes.append(
            f"{len(inspection.unknown_chars)} distinct characters are not in the model's vocabulary "
            f"and were read as the unknown entry: {''.join(inspection.unknown_chars)!r}"
        )
    if inspection.full_length > len(inspection.recording.text):
        notes.append(
            f"activations are shown for the first {len(inspection.recording.text):,} of "
            f"{inspection.full_length:,} characters (--max-chars); saturation and interpretable units "
            f"are measured on the first {inspection.analysed:,} (--analysis-chars)"
        )
    if inspection.span is None:
        notes.append("the text is too short (fewer than 3 characters) to measure the memory span")
    if inspection.constant_features:
        notes.append(
            "features that do not vary in this text, so no unit can track them: "
            + ", ".join(inspection.constant_features)
        )
    return notes


def raw_summary(inspection, with_activations=False):
    """A JSON-ready dict of every result; with the activations as nested lists if asked."""
    rec = inspection.recording
    summary = {
        "run_dir": inspection.run_path,
        "cell": rec.cell_type,
        "layers": len(rec.layers),
        "units": int(rec.layers[0]["h"].shape[1]),
        "vocab": inspection.vocab,
        "text": rec.text,
        "unknown_chars": inspection.unknown_chars,
        "notes": _notes(inspection),
        "characters_analysed": inspection.analysed,
        "saturation": [
            {gate: {"left": left.tolist(), "right": right.tolist()} for gate, (left, right) in layer.items()}
            for layer in inspection.saturation
        ],
        "interpretable_units": inspection.interpretable,
        "memory_span": None
        if inspection.span is None
        else {
            "span": inspection.span.span,
            "threshold": inspection.span.threshold,
            "windows": inspection.span.windows,
            "sensitivity": inspection.span.sensitivity.tolist(),
        },
        "top_ids": rec.top_ids.tolist(),
        "top_probs": np.round(rec.top_probs, 5).tolist(),
    }
    if with_activations:
        summary["activations"] = [{gate: values.tolist() for gate, values in layer.items()} for layer in rec.layers]
    return summary


def raw_arrays(inspection):
    """Arrays for `.npz`: `layer{i}/{gate}` `[characters, units]`, predictions, span, and the rest
    as a JSON string under `summary`."""
    rec = inspection.recording
    arrays = {f"layer{i}/{gate}": values for i, layer in enumerate(rec.layers) for gate, values in layer.items()}
    arrays.update(char_ids=rec.char_ids, top_ids=rec.top_ids, top_probs=rec.top_probs, next_prob=rec.next_prob)
    if inspection.span is not None:
        arrays["memory_span_sensitivity"] = inspection.span.sensitivity
    arrays["summary"] = np.array(json.dumps(raw_summary(inspection), ensure_ascii=False))
    return arrays


def _encode_gate(values, signed):
    """`[time, units]` floats → base64 of `[units, time]` bytes, and the per-unit scale."""
    if signed:
        scale = np.maximum(np.abs(values).max(axis=0), 1e-6)
        q = (values / scale + 1.0) / 2.0
    else:
        scale = np.ones(values.shape[1])
        q = values
    codes = np.clip(np.round(q * 255.0), 0, 255).astype(np.uint8).T
    return {
        "bytes": base64.b64encode(codes.tobytes()).decode("ascii"),
        "signed": signed,
        "scale": np.round(scale, 5).tolist(),
    }


def _payload(inspection):
    rec = inspection.recording
    start = inspection.interpretable[0] if inspection.interpretable else {"layer": 0, "unit": 0}
    return {
        "chars": list(rec.text),  # a list, not a string: JavaScript would split astral characters in two
        "vocab": inspection.vocab,
        "gates": list(rec.gate_names),
        "units": int(rec.layers[0]["h"].shape[1]),
        "layers": [
            {gate: _encode_gate(values, gate in SIGNED_GATES) for gate, values in layer.items()} for layer in rec.layers
        ],
        "top_ids": rec.top_ids.tolist(),
        "top_probs": np.round(rec.top_probs, 3).tolist(),
        "next_prob": [None if np.isnan(p) else round(float(p), 4) for p in rec.next_prob],
        "start": {"layer": start["layer"], "gate": STATE_GATE[rec.cell_type], "unit": start["unit"]},
    }


def _interpretable_table(inspection):
    gate = STATE_GATE[inspection.recording.cell_type]
    rows = "".join(
        f'<tr class="pick" data-layer="{row["layer"]}" data-gate="{gate}" data-unit="{row["unit"]}">'
        f"<td>{html.escape(row['feature'])}</td><td>{row['layer']}</td><td>{row['unit']}</td>"
        f"<td>{row['correlation']:+.3f}</td><td>{html.escape(analysis.FEATURE_DESCRIPTIONS[row['feature']])}</td></tr>"
        for row in inspection.interpretable
    )
    return (
        f"<p>Correlation of each unit's {'cell state' if gate == 'c' else 'hidden state'} with simple "
        f"features of the text, over its first {inspection.analysed:,} characters; click a row to colour "
        "the text by that unit.</p>"
        "<table><tr><th>feature</th><th>layer</th><th>unit</th><th>correlation</th><th>feature means"
        f"</th></tr>{rows}</table>"
    )


def render_html(inspection):
    """The self-contained report page."""
    rec = inspection.recording
    layers, units = len(rec.layers), rec.layers[0]["h"].shape[1]
    payload = json.dumps(_payload(inspection), ensure_ascii=True).replace("<", "\\u003c")
    notes = "".join(f'<p class="note">{html.escape(note)}</p>' for note in _notes(inspection))
    gates = SIGMOID_GATES[rec.cell_type]
    scatters = "".join(
        plots.saturation_scatter(gate, [layer[gate] for layer in inspection.saturation]) for gate in gates
    )
    span = inspection.span
    span_section = (
        "<p>The text is too short to measure it.</p>"
        if span is None
        else f"<p><b>{html.escape(span.describe())}</b></p>{plots.memory_span_plot(span)}"
        "<p>Mean norm of the gradient of the next character's log-probability with respect to "
        "the input embedding k characters back (k = 1: the character just read), relative to its "
        "value at k = 1.</p>"
    )
    title = f"textlstm inspect: {html.escape(pathlib.Path(inspection.run_path).name)}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<script>{page_assets.ERROR_TRAP}</script>
<style>{page_assets.STYLE}</style></head>
<body>
<h1>{title}</h1>
<p>{rec.cell_type.upper()} char LM, {layers} layer{"s" if layers > 1 else ""} of {units} units,
vocabulary of {len(inspection.vocab)}; {len(rec.text):,} characters inspected.</p>
{notes}
<h2>Activations on the text</h2>
<div id="controls"><label>Layer <select id="layer"></select></label>
<label>Gate <select id="gate"></select></label>
<label>Unit <input id="unit" type="number" min="0" value="0" style="width:5em"></label>
<span id="picked"></span> <span class="scale"></span> low → high
<div id="info">Hover over a character: its value, and the model's top predictions for the next one.</div></div>
<div id="text"></div>
<h2>Interpretable units</h2>
{_interpretable_table(inspection)}
<h2>Gate saturation</h2>
<p>Each dot is one unit: how often its gate is below 0.1 (left-saturated) and above 0.9
(right-saturated), over the first {inspection.analysed:,} characters. {plots.layer_legend(layers)}</p>
<div>{scatters}</div>
<h2>Memory span</h2>
{span_section}
<script type="application/json" id="payload">{payload}</script>
<script>{page_assets.SCRIPT}</script>
</body></html>
"""
