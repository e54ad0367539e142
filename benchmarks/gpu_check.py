"""The GPU check: does the cuDNN path compute what the fused kernel computes, does every model
family use it, and how fast is it? One prepared script, a few minutes on a GPU.

1. install: `textlstm doctor`'s install checks and what TensorFlow sees.
2. parity: our LSTM and GRU with cuDNN (use_cudnn="auto" on a GPU) against the same layer
   with the fused kernel (use_cudnn=False), and against keras.layers.LSTM/GRU, same weights:
   outputs, final states and gradients (inputs, initial state, weights), for plain,
   go_backwards, initial state, right-padded masks (cuDNN), left-padded masks (cuDNN cannot:
   fallback), a fully masked row, Bidirectional, eager and inside tf.function. TF32 is off
   for parity (it rounds matmuls to 10 bits of mantissa on Ampere and later).
3. families: one compiled training step of each model family (char LM, tagger, translator,
   LSTM and GRU) and the kernel each of its recurrent layers used.
4. speed: the char LM train step (2 x 512 LSTM, batch 64 x 100) of ours against
   keras.layers.LSTM on the same device (and ours with use_cudnn=False, the fused loop).

Prints one line per check and a summary; exits 1 when a parity check or a training step
fails. Without a GPU it says so, runs what it can on the CPU (fused against Keras, the
families' steps, speed with fewer steps) and exits 0 unless one of those fails.

    python benchmarks/gpu_check.py                 # everything (about 1-3 minutes on a GPU)
    python benchmarks/gpu_check.py --timing-steps 0   # no speed section
"""

import argparse
import copy
import sys
import time
import traceback
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import textlstm  # noqa: F401  (TensorFlow backend)
import textlstm.layers as tl
from textlstm import install_checks
from textlstm.doctor import recurrent_layers_of

OUTPUT_TOLERANCE = 1e-4  # max |difference| of outputs and states (values within [-1, 1])
GRADIENT_TOLERANCE = 1e-3  # max |difference| of gradients, relative to the largest gradient
FAILURES = []


def report(section, name, ok, detail=""):
    status = "ok  " if ok else "FAIL"
    if not ok:
        FAILURES.append(f"{section}: {name}: {detail}")
    print(f"  [{status}] {name}{': ' + detail if detail else ''}", flush=True)


def first_line(error):
    return f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0][:200]}"


# --- 1. install -------------------------------------------------------------------------------


def install_section():
    print("install:")
    for finding in install_checks.check_install():
        print(f"  {finding.line()}")
    info = tf.sysconfig.get_build_info()
    print(
        f"  TensorFlow {tf.__version__}, Keras {keras.__version__}, CUDA build {bool(info.get('is_cuda_build'))}, "
        f"CUDA {info.get('cuda_version', '-')}, cuDNN {info.get('cudnn_version', '-')}"
    )
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        details = tf.config.experimental.get_device_details(gpu)
        print(
            f"  {gpu.name}: {details.get('device_name', '?')}, "
            f"compute capability {details.get('compute_capability', '?')}"
        )
    return bool(gpus)


# --- 2. parity --------------------------------------------------------------------------------

BATCH, STEPS, FEATURES, UNITS = 6, 13, 7, 16


def _masks():
    lengths = np.array([13, 9, 13, 4, 1, 11])
    right = np.arange(STEPS)[None, :] < lengths[:, None]
    left = right[:, ::-1].copy()  # the same lengths, padded at the start: cuDNN cannot run it
    fully = right.copy()
    fully[4] = False  # one row with no valid step (a padding word of the tagger's char BiLSTM)
    return {"right-padded mask": right, "left-padded mask": left, "fully masked row": fully}


def _cases():
    masks = _masks()
    return [
        ("plain", {}, {}, None),
        ("go_backwards", {"go_backwards": True}, {}, None),
        ("initial state, return_state", {"return_state": True}, {"initial_state": True}, None),
        ("right-padded mask", {}, {}, masks["right-padded mask"]),
        ("left-padded mask", {}, {}, masks["left-padded mask"]),
        ("fully masked row", {}, {}, masks["fully masked row"]),
        ("Bidirectional, right-padded mask", {"bidirectional": True}, {}, masks["right-padded mask"]),
        ("Bidirectional", {"bidirectional": True}, {}, None),
    ]


def _layers(family, options):
    """Ours with the automatic kernel, ours with the fused kernel and Keras's, one set of weights."""
    options = dict(options)
    bidirectional = options.pop("bidirectional", False)
    ours, keras_class = {"LSTM": (tl.LSTM, keras.layers.LSTM), "GRU": (tl.GRU, keras.layers.GRU)}[family]
    made = []
    for make in (
        lambda: ours(UNITS, return_sequences=True, **options),
        lambda: ours(UNITS, return_sequences=True, use_cudnn=False, **options),
        lambda: keras_class(UNITS, return_sequences=True, **options),
    ):
        layer = make()
        layer = keras.layers.Bidirectional(layer) if bidirectional else layer
        layer.build((None, STEPS, FEATURES))
        made.append(layer)
    for layer in made[1:]:
        layer.set_weights(made[0].get_weights())
    return made


def _kernel(layer):
    inner = layer.forward_layer if isinstance(layer, keras.layers.Bidirectional) else layer
    return getattr(inner, "kernel_used", None)


def _run(layer, x, mask, initial_state, graph):
    """Outputs (a list) and gradients of a loss weighting every output element differently.

    Sequence outputs count only at valid (unmasked) steps: there cuDNN gives zeros and Keras's
    generic loop repeats the last valid output, and every model of ours masks them anyway."""

    def compute(x, mask, initial_state):
        watched = [x] + list(initial_state or [])
        with tf.GradientTape() as tape:
            tape.watch(watched)
            kwargs = {}
            if mask is not None:
                kwargs["mask"] = mask
            if initial_state is not None:
                kwargs["initial_state"] = list(initial_state)
            outputs = layer(x, **kwargs)
            outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
            if mask is not None:
                valid = tf.cast(mask, x.dtype)[:, :, None]
                outputs = [o * valid if len(o.shape) == 3 else o for o in outputs]
            loss = tf.add_n(
                [
                    tf.reduce_sum(o * tf.sin(tf.reshape(tf.range(tf.size(o), dtype=o.dtype), tf.shape(o))))
                    for o in outputs
                ]
            )
        return outputs, tape.gradient(loss, watched + layer.trainable_weights)

    function = tf.function(compute) if graph else compute
    outputs, gradients = function(x, mask, initial_state)
    return [np.asarray(o) for o in outputs], [np.asarray(g) for g in gradients]


def _largest_differences(a, b):
    (outputs_a, gradients_a), (outputs_b, gradients_b) = a, b
    output = max(float(np.max(np.abs(p - q))) for p, q in zip(outputs_a, outputs_b))
    scale = max(float(np.max(np.abs(g))) for g in gradients_b) or 1.0
    gradient = max(float(np.max(np.abs(p - q))) for p, q in zip(gradients_a, gradients_b)) / scale
    return output, gradient


def parity_section(gpu):
    print("parity (outputs, states, gradients; TF32 off):")
    tf.config.experimental.enable_tensor_float_32_execution(False)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32"))
    for family in ("LSTM", "GRU"):
        state_count = 2 if family == "LSTM" else 1
        for name, options, extra, mask in _cases():
            initial_state = None
            if extra.get("initial_state"):
                initial_state = [
                    tf.constant(rng.normal(size=(BATCH, UNITS)).astype("float32")) for _ in range(state_count)
                ]
            mask_tensor = None if mask is None else tf.constant(mask)
            for graph in (False, True):
                label = f"{family} {name} ({'tf.function' if graph else 'eager'})"
                try:
                    auto, fused, reference = _layers(family, options)
                    got = _run(auto, x, mask_tensor, initial_state, graph)
                    kernel = _kernel(auto)
                    want = _run(fused, x, mask_tensor, initial_state, graph)
                except Exception as error:  # a kernel of ours that crashes is the finding
                    report("parity", label, False, first_line(error))
                    continue
                output, gradient = _largest_differences(got, want)
                ok = output <= OUTPUT_TOLERANCE and gradient <= GRADIENT_TOLERANCE
                detail = f"kernel {kernel}; vs fused: outputs {output:.1e}, gradients {gradient:.1e}"
                try:  # Keras's own layer is a second reference; its failures are reported, not ours
                    keras_output, keras_gradient = _largest_differences(
                        got, _run(reference, x, mask_tensor, initial_state, graph)
                    )
                    ok = ok and keras_output <= OUTPUT_TOLERANCE and keras_gradient <= GRADIENT_TOLERANCE
                    detail += f"; vs keras: outputs {keras_output:.1e}, gradients {keras_gradient:.1e}"
                except Exception as error:
                    detail += f"; keras.layers.{family} itself fails here ({first_line(error)[:80]})"
                cudnn_can = mask is None or name.startswith(("right", "Bidirectional, right"))
                expected = "cudnn" if gpu and cudnn_can else "fused"
                if kernel != expected:
                    detail += f" (expected kernel {expected})"
                report("parity", label, ok, detail)
    tf.config.experimental.enable_tensor_float_32_execution(True)


# --- 3. one training step of each family ------------------------------------------------------


def _charlm(cell):
    from textlstm.charlm.model import DEFAULTS, build_model, compile_model

    model = build_model(50, {**DEFAULTS["model"], "cell": cell, "units": 64, "embedding_dim": 16}, seed=0)
    compile_model(model, DEFAULTS["train"])
    rng = np.random.default_rng(0)
    return model, rng.integers(0, 50, (8, 40)).astype("int32"), rng.integers(0, 50, (8, 40)).astype("int32")


def _tagger(cell, char_features):
    from textlstm.tagger.model import DEFAULTS, build_and_compile

    recipe = copy.deepcopy(DEFAULTS)
    recipe["model"].update(cell=cell, char_features=char_features, units=32, word_dim=16, char_dim=8, char_units=16)
    model = build_and_compile(60, 30, 6, recipe)
    rng = np.random.default_rng(0)
    lengths = np.array([12, 7, 12, 3])
    words = rng.integers(1, 60, (4, 12)).astype("int32")
    words[np.arange(12)[None, :] >= lengths[:, None]] = 0  # right-padded sentences
    chars = rng.integers(1, 30, (4, 12, 6)).astype("int32")
    chars[:, :, 4:] = 0  # right-padded words
    chars[words == 0] = 0  # padding words have no characters at all
    tags = rng.integers(1, 6, (4, 12)).astype("int32")
    tags[words == 0] = 0
    return model, (words, chars), tags


def _seq2seq(cell, input_feeding):
    from textlstm.seq2seq.model import DEFAULTS, build_and_compile

    recipe = copy.deepcopy(DEFAULTS)
    recipe["model"].update(cell=cell, units=32, embedding_dim=16, input_feeding=input_feeding)
    model = build_and_compile(recipe, 40, 40)
    rng = np.random.default_rng(0)
    source = rng.integers(4, 40, (4, 9)).astype("int32")
    source[1, 5:] = 0
    target_in = rng.integers(4, 40, (4, 7)).astype("int32")
    target_in[2, 4:] = 0
    target_out = np.where(target_in > 0, rng.integers(4, 40, (4, 7)), 0).astype("int32")
    return model, {"source": source, "target_in": target_in}, target_out


FAMILIES = {
    "char LM, LSTM": lambda: _charlm("lstm"),
    "char LM, GRU": lambda: _charlm("gru"),
    "tagger, BiLSTM + char CNN": lambda: _tagger("lstm", "cnn"),
    "tagger, BiGRU + char BiLSTM": lambda: _tagger("gru", "lstm"),
    "translator, LSTM": lambda: _seq2seq("lstm", False),
    "translator, GRU, input feeding": lambda: _seq2seq("gru", True),
}


def families_section():
    print("one compiled training step of each family, and the kernel of each recurrent layer:")
    for name, make in FAMILIES.items():
        try:
            model, x, y = make()
            loss = model.train_on_batch(x, y)
            loss = float(np.asarray(loss[0] if isinstance(loss, (list, tuple)) else loss))
        except Exception as error:
            report("family", name, False, first_line(error))
            traceback.print_exc(limit=3)
            continue
        kernels = ", ".join(
            f"{path}={layer.kernel_used or 'not called (the model steps through its cell)'}"
            for path, layer in recurrent_layers_of(model)
        )
        report(
            "family",
            name,
            bool(np.isfinite(loss)),
            f"loss {loss:.3f}; {kernels or 'no sequence layer (steps through cells)'}",
        )


# --- 4. speed ---------------------------------------------------------------------------------


def speed_section(steps):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_charlm import (
        BATCH as CHAR_BATCH,
    )
    from bench_charlm import (
        MODEL,
        SEQ_LEN,
        TRAIN,
        VOCAB,
        keras_lstm_model,
        training_chars_per_second,
    )

    from textlstm.charlm.model import build_model, compile_model

    device = "GPU" if tf.config.list_logical_devices("GPU") else "CPU"
    print(
        f"speed: char LM train step, 2 x {MODEL['units']} LSTM, batch {CHAR_BATCH} x {SEQ_LEN}, "
        f"median of {steps} steps after one to compile, on the {device}:"
    )
    ours = build_model(VOCAB, MODEL, seed=0)
    compile_model(ours, TRAIN)
    fused = keras.models.clone_model(ours, clone_function=_without_cudnn)
    compile_model(fused, TRAIN)
    reference = keras_lstm_model()
    for model in (fused, reference):
        model.set_weights(ours.get_weights())
    rates = {}
    for name, model in (
        ("textlstm LSTM", ours),
        ("textlstm LSTM, use_cudnn=False", fused),
        ("keras.layers.LSTM", reference),
    ):
        rates[name] = training_chars_per_second(model, steps)
        kernel = ", ".join(sorted({str(layer.kernel_used) for _, layer in recurrent_layers_of(model)})) or "keras"
        print(
            f"  {name:32s} {rates[name]:10.0f} chars/s  {1000 * CHAR_BATCH * SEQ_LEN / rates[name]:8.1f} ms/step  "
            f"(kernel {kernel})",
            flush=True,
        )
    base = rates["keras.layers.LSTM"]
    print(
        f"  ours/keras = {rates['textlstm LSTM'] / base:.2f}x, "
        f"fused/keras = {rates['textlstm LSTM, use_cudnn=False'] / base:.2f}x"
    )


def _without_cudnn(layer):
    config = layer.get_config()
    if isinstance(layer, tl.LSTM):
        return tl.LSTM.from_config({**config, "use_cudnn": False})
    return layer.__class__.from_config(config)


def main():
    tf.get_logger().setLevel("ERROR")  # one tf.function per case retraces on purpose
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--timing-steps",
        type=int,
        default=None,
        help="timed char LM steps per model (default 20 on a GPU, 2 on the CPU; 0 skips)",
    )
    parser.add_argument(
        "--sections",
        default="parity,families,speed",
        help="comma-separated subset of parity,families,speed (default: all)",
    )
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    start = time.perf_counter()
    gpu = install_section()
    if not gpu:
        print(
            "no GPU visible to TensorFlow: the cuDNN kernel cannot be checked here; running the CPU parts "
            "(fused kernel against Keras, each family's step, speed)"
        )
    if "parity" in sections:
        parity_section(gpu)
    if "families" in sections:
        families_section()
    steps = args.timing_steps if args.timing_steps is not None else (20 if gpu else 2)
    if steps > 0 and "speed" in sections:
        try:
            speed_section(steps)
        except Exception as error:
            report("speed", "char LM train step", False, first_line(error))
    print(
        f"summary: {'GPU' if gpu else 'no GPU (CPU parts only)'}; {len(FAILURES)} failure(s); "
        f"{time.perf_counter() - start:.0f} s"
    )
    for failure in FAILURES:
        print(f"  FAIL {failure}")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
