"""The report page's stylesheet and script, inlined into every report (no external files).

The script reads the JSON payload embedded in the page, draws the text as one span per
character, and recolours it when the layer / gate / unit picker changes. Activations
arrive as base64 bytes (`[units, characters]` per layer and gate, 0..255): sigmoid gates
map 0..1 onto the bytes, signed values map -scale..scale with a per-unit scale.
Opening the page with `#selftest` moves the unit picker once and records in
`data-selftest` whether the colours changed (used by the headless-browser test).
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 1200px; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
#controls { position: sticky; top: 0; background: #fff; padding: .5em 0; border-bottom: 1px solid #eee; }
#controls label { margin-right: 1em; }
#text { font-family: ui-monospace, monospace; font-size: 14px; line-height: 1.6; white-space: pre-wrap;
        word-break: break-all; border: 1px solid #ddd; padding: .6em; }
#text span { cursor: default; }
#text span.active { outline: 1px solid #000; }
#info { font-family: ui-monospace, monospace; min-height: 3.2em; background: #f6f6f6; padding: .4em .6em;
        margin: .5em 0; white-space: pre-wrap; }
table { border-collapse: collapse; } td, th { padding: .2em .7em; border-bottom: 1px solid #eee; text-align: left; }
tr.pick { cursor: pointer; } tr.pick:hover { background: #eef; }
.legend { margin-right: 1em; } .legend span { display: inline-block; width: .8em; height: .8em; margin-right: .3em; }
.note { color: #8a4b00; } .scale { display: inline-block; width: 160px; height: .8em; vertical-align: middle;
        background: linear-gradient(to right, rgb(49,130,189), #fff, rgb(222,45,38)); }
"""

SCRIPT = r"""
(function () {
  const data = JSON.parse(document.getElementById("payload").textContent);
  const n = data.chars.length;
  const decoded = {};
  function bytes(layer, gate) {
    const key = layer + "/" + gate;
    if (!decoded[key]) {
      const raw = atob(data.layers[layer][gate].bytes);
      const out = new Uint8Array(raw.length);
      for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
      decoded[key] = out;
    }
    return decoded[key];
  }
  function value(layer, gate, unit, t) {
    const entry = data.layers[layer][gate];
    const q = bytes(layer, gate)[unit * n + t] / 255;
    return entry.signed ? (2 * q - 1) * entry.scale[unit] : q;
  }
  function colour(q) {  // 0 blue, 0.5 white, 1 red
    const blue = [49, 130, 189], red = [222, 45, 38];
    const end = q < 0.5 ? blue : red, w = Math.abs(q - 0.5) * 2;
    const mix = end.map(c => Math.round(255 + (c - 255) * w));
    return "rgb(" + mix.join(",") + ")";
  }
  const layerPick = document.getElementById("layer"), gatePick = document.getElementById("gate");
  const unitPick = document.getElementById("unit"), info = document.getElementById("info");
  data.layers.forEach((_, i) => layerPick.add(new Option("layer " + i, i)));
  data.gates.forEach(g => gatePick.add(new Option(g, g)));
  const container = document.getElementById("text"), spans = [];
  for (let t = 0; t < n; t++) {
    const span = document.createElement("span");
    const ch = data.chars[t];
    span.textContent = ch === "\n" ? "\u21b5\n" : ch;
    span.dataset.t = t;
    container.appendChild(span);
    spans.push(span);
  }
  function selection() {
    const unit = Math.max(0, Math.min(data.units - 1, parseInt(unitPick.value || "0", 10) || 0));
    return {layer: parseInt(layerPick.value, 10), gate: gatePick.value, unit: unit};
  }
  function recolour() {
    const s = selection(), codes = bytes(s.layer, s.gate);
    for (let t = 0; t < n; t++) spans[t].style.backgroundColor = colour(codes[s.unit * n + t] / 255);
    document.getElementById("picked").textContent =
      "layer " + s.layer + ", " + s.gate + ", unit " + s.unit;
  }
  function show(char) { return char === "\n" ? "\\n" : char === " " ? "\u2423" : char; }
  function describe(t) {
    const s = selection();
    let line = "char " + t + " " + JSON.stringify(data.chars[t]) + "   " + s.gate + "[" + s.unit + "] = " +
      value(s.layer, s.gate, s.unit, t).toFixed(3) + "\nnext:";
    data.top_ids[t].forEach((id, j) => {
      line += "  " + show(data.vocab[id]) + " " + data.top_probs[t][j].toFixed(3);
    });
    if (t + 1 < n) line += "\nactual next " + show(data.chars[t + 1]) + " had p = " + data.next_prob[t].toFixed(3);
    return line;
  }
  let active = null;
  container.addEventListener("mouseover", event => {
    const t = event.target.dataset ? event.target.dataset.t : undefined;
    if (t === undefined) return;
    if (active) active.classList.remove("active");
    active = spans[+t];
    active.classList.add("active");
    info.textContent = describe(+t);
  });
  document.querySelectorAll("tr.pick").forEach(row => row.addEventListener("click", () => {
    layerPick.value = row.dataset.layer; gatePick.value = row.dataset.gate; unitPick.value = row.dataset.unit;
    recolour();
    container.scrollIntoView();
  }));
  unitPick.max = data.units - 1;
  layerPick.value = data.start.layer; gatePick.value = data.start.gate; unitPick.value = data.start.unit;
  [layerPick, gatePick].forEach(el => el.addEventListener("change", recolour));
  unitPick.addEventListener("input", recolour);
  unitPick.addEventListener("change", recolour);
  recolour();
  if (location.hash === "#selftest") {
    const before = spans.map(s => s.style.backgroundColor).join("|");
    unitPick.value = (selection().unit + 1) % data.units;
    unitPick.dispatchEvent(new Event("change"));
    const after = spans.map(s => s.style.backgroundColor).join("|");
    document.body.dataset.selftest = before !== after ? "colours-changed" : "colours-unchanged";
  }
  document.body.dataset.ready = "1";
})();
"""

ERROR_TRAP = """
window.addEventListener("error", function (event) {
  document.documentElement.dataset.errors = (document.documentElement.dataset.errors || "") + event.message + ";";
});
"""
