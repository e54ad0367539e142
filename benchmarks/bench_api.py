"""Ways to use a trained model, side by side: the CLI, `textlstm.load(...)`, the SavedModel of
`textlstm export`, and ONNX (where exported and onnxruntime is installed).

For each kind it reports time to first result (a fresh process: imports, loading, the first
call; what a script that calls the CLI pays every time) and steady-state throughput (repeated
calls in one process after a warm-up; for the CLI, one call doing all the work, start-up
included). Without run directories it trains tiny ones first (a few seconds each), so the
absolute numbers are those of tiny models; the ratios are the point.

    python benchmarks/bench_api.py                      # tiny models trained in a temp dir
    python benchmarks/bench_api.py --charlm runs/shakespeare --tagger runs/upos --seq2seq runs/multi30k
"""

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import textwrap
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")

WORK = {  # (unit, the call made through each route); `items` is the number of units per call
    "charlm": ("chars", 200),
    "tagger": ("sentences", 400),
    "seq2seq": ("sentences", 64),
}

API_FIRST = """
import time; t = time.perf_counter()
import textlstm
model = textlstm.load({run!r})
{call}
print(time.perf_counter() - t)
"""

SAVED_FIRST = """
import time; t = time.perf_counter()
import tensorflow as tf
model = tf.saved_model.load({path!r})
{call}
print(time.perf_counter() - t)
"""


def python(code):
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=ENV, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def wall(args, stdin=None):
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "textlstm", *map(str, args)],
        env=ENV,
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - start


def best_rate(function, items, repeats=3):
    function()  # warm-up: compiles every shape this input needs
    best = min(_timed(function) for _ in range(repeats))
    return items / best


def _timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def inputs(kind, count):
    words = "the dog Anna Paris river runs sees old road Oslo alpha beta gamma zeta eta".split()
    rows = [" ".join(words[(i * 7 + j * 3) % len(words)] for j in range(4 + i % 9)) for i in range(count)]
    if kind == "seq2seq":
        return [
            " ".join(w for w in row.split() if w in ("alpha", "beta", "gamma", "zeta", "eta")) or "alpha"
            for row in rows
        ]
    return rows


def bench_kind(kind, run, scratch):
    import tensorflow as tf

    import textlstm
    from textlstm.export import export

    unit, items = WORK[kind]
    rows = inputs(kind, items)
    model = textlstm.load(run)
    saved = scratch / f"{kind}-saved"
    export(run, saved, overwrite=True)
    loaded = tf.saved_model.load(str(saved))
    results = {}
    if kind == "charlm":
        api_call = "model.generate('the ', 200, seed=1, sampler='temperature', temperature=0.8)"
        saved_call = (
            "model.signatures['generate'](prompt=tf.constant(['the ']), length=tf.constant(200), "
            "temperature=tf.constant(0.8), seed=tf.constant(1))"
        )
        cli = ["generate", run, "--prompt", "the ", "--length", 200, "--seed", 1]
        results["cli"] = (wall(cli), items / wall(cli))
        signature = loaded.signatures["generate"]
        api_rate = best_rate(
            lambda: model.generate("the ", items, seed=1, sampler="temperature", temperature=0.8), items
        )
        saved_rate = best_rate(
            lambda: signature(
                prompt=tf.constant(["the "]),
                length=tf.constant(items),
                temperature=tf.constant(0.8),
                seed=tf.constant(1),
            ),
            items,
        )
    elif kind == "tagger":
        api_call = "model.tag(['I saw Anna in Paris .'])"
        saved_call = "model.signatures['tag'](sentences=tf.constant(['I saw Anna in Paris .']))"
        text = "\n".join(rows) + "\n"
        first = wall(["tag", run, "-i", "plain", "-O", "jsonl"], stdin="I saw Anna in Paris .\n")
        results["cli"] = (first, items / wall(["tag", run, "-i", "plain", "-O", "jsonl"], stdin=text))
        signature = loaded.signatures["tag"]
        api_rate = best_rate(lambda: model.tag(rows), items)
        saved_rate = best_rate(lambda: signature(sentences=tf.constant(rows)), items)
    else:
        api_call = "model.translate(['alpha beta gamma'], beam_size=1)"
        ids = model.subwords.encode_source(["alpha beta gamma"])
        saved_call = f"model.signatures['translate'](source_ids=tf.constant({ids!r}))"
        source = scratch / "source.txt"
        source.write_text("\n".join(rows) + "\n")
        one = scratch / "one.txt"
        one.write_text("alpha beta gamma\n")
        export(run, saved, overwrite=True, beam_size=1)
        loaded = tf.saved_model.load(str(saved))
        results["cli"] = (
            wall(["translate", run, one, "--beam-size", 1]),
            items / wall(["translate", run, source, "--beam-size", 1]),
        )
        signature = loaded.signatures["translate"]
        from textlstm.seq2seq.data import pad

        batch = tf.constant(pad(model.subwords.encode_source(rows)))
        api_rate = best_rate(lambda: model.translate(rows, beam_size=1), items)
        saved_rate = best_rate(lambda: signature(source_ids=batch), items)
    results["textlstm.load"] = (python(API_FIRST.format(run=str(run), call=api_call)), api_rate)
    results["SavedModel"] = (python(SAVED_FIRST.format(path=str(saved), call=saved_call)), saved_rate)
    onnx = bench_onnx(kind, model, run, scratch, rows)
    if onnx:
        results.update(onnx)
    return unit, results


def bench_onnx(kind, model, run, scratch, rows):
    """ONNX beside TensorFlow for the same network: the tagger's emissions, the char LM's step."""
    try:
        import onnxruntime
    except ImportError:
        return {}
    import numpy as np
    import tensorflow as tf

    from textlstm.export import export

    if kind == "seq2seq":
        return {}
    out = scratch / f"{kind}-onnx"
    export(run, out, "onnx", overwrite=True)
    if kind == "tagger":
        from textlstm.tagger import data as data_lib
        from textlstm.tagger.conll import Sentence

        words_vocab, chars_vocab, _ = model.vocabs
        examples = data_lib.encode_sentences(
            [Sentence(tokens=r.split()) for r in rows], words_vocab, chars_vocab, None, 10_000, 20
        )
        (words, chars), _ = data_lib.pad_batch(examples)
        session = onnxruntime.InferenceSession(str(out / "tagger.onnx"))
        network = tf.function(lambda w, c: model.model([w, c], training=False))
        w, c = tf.constant(words), tf.constant(chars)
        return {
            "TF network only": (None, best_rate(lambda: network(w, c).numpy(), len(rows))),
            "ONNX network only": (
                None,
                best_rate(lambda: session.run(None, {"words": words, "chars": chars}), len(rows)),
            ),
        }
    session = onnxruntime.InferenceSession(str(out / "charlm_step.onnx"))
    state = [np.asarray(s) for s in tf.nest.flatten(model.stepper.initial_state(1))]
    ids = np.asarray([1], np.int32)

    def onnx_steps():
        flat = state
        for _ in range(200):
            flat = session.run(None, {"char_ids": ids, **{f"state_{i}": s for i, s in enumerate(flat)}})[1:]

    step = tf.function(model.stepper.__call__)
    tf_state = model.stepper.initial_state(1)

    def tf_steps():
        current = tf_state
        for _ in range(200):
            _, current = step(tf.constant(ids), current)

    return {
        "TF one step (Python loop)": (None, best_rate(tf_steps, 200)),
        "ONNX one step (Python loop)": (None, best_rate(onnx_steps, 200)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for kind in WORK:
        parser.add_argument(f"--{kind}", help=f"a trained {kind} run directory (default: train a tiny one)")
    args = parser.parse_args()
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="bench-api-"))
    runs = {kind: getattr(args, kind) for kind in WORK}
    if not all(runs.values()):
        sys.path.insert(0, str(ROOT / "tests"))
        from api_helpers import _train

        for kind in WORK:
            runs[kind] = runs[kind] or _train(scratch, kind)
    print(f"{os.cpu_count()} CPUs; other work on the machine changes the absolute numbers, not the story")
    for kind in WORK:
        unit, results = bench_kind(kind, runs[kind], scratch)
        print(f"\n{kind} ({runs[kind]}): time to first result (fresh process), steady throughput ({unit}/s)")
        base = results["cli"][1]
        for route, (first, rate) in results.items():
            first_text = f"{first:6.2f} s" if first is not None else "      -"
            print(f"  {route:28s} {first_text}   {rate:10.1f} {unit}/s   {rate / base:6.1f}x the CLI")


if __name__ == "__main__":
    main()
