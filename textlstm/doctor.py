"""`textlstm doctor`: what this machine offers, and which kernel each recurrent layer gets here.

Answers "is my GPU used, and why is it slow?": TensorFlow, Keras, CUDA and cuDNN
versions, the devices TensorFlow sees, whether XLA compiles, the install checks of
`install_checks.py` (two TensorFlow builds at once, a GPU TensorFlow cannot use), and, for every recurrent
layer of a run directory (or of a default char LM), the kernel it will run with on this
machine and every reason it is not cuDNN.
"""

import importlib
import platform

import keras
import tensorflow as tf

import textlstm
from textlstm import families
from textlstm.layers import dispatch
from textlstm.layers.base import RecurrentLayer
from textlstm.models import load_best_or_last
from textlstm.rundir import RunDir

KERNEL_NAMES = {
    dispatch.CUDNN: "cuDNN",
    dispatch.FUSED: "fused CPU loop (textlstm's own)",
    dispatch.PORTABLE: "portable loop (Keras's generic RNN loop over our cell)",
}


def environment():
    """`[(name, value)]`: versions, devices and XLA."""
    info = tf.sysconfig.get_build_info()
    cuda = info.get("cuda_version") if info.get("is_cuda_build") else None
    cudnn = info.get("cudnn_version") if cuda else None
    devices = tf.config.list_physical_devices()
    gpus = [d for d in devices if d.device_type == "GPU"]
    gpu_note = f"used on {len(gpus)} GPU(s)" if gpus else "unused: no GPU visible to TensorFlow"
    return [
        ("textlstm", textlstm.__version__),
        ("Python", platform.python_version()),
        ("TensorFlow", tf.__version__),
        ("Keras", f"{keras.__version__} (backend {keras.backend.backend()})"),
        # the versions TensorFlow was built against, not what this machine has installed or can use
        ("CUDA", f"{cuda} (TensorFlow's build; {gpu_note})" if cuda else "none (TensorFlow built without CUDA)"),
        ("cuDNN", f"{cudnn} (TensorFlow's build)" if cudnn else "none (TensorFlow built without cuDNN)"),
        ("devices", ", ".join(f"{d.name.removeprefix('/physical_device:')}" for d in devices) or "none"),
        ("XLA", xla_status()),
    ]


def xla_status():
    """ "available" if a tiny function compiles with XLA here, else why not."""
    try:
        compiled = tf.function(lambda x: x * 2.0 + 1.0, jit_compile=True)
        compiled(tf.constant([1.0])).numpy()
        return "available (jit_compile works)"
    except Exception as error:  # any failure means "not here"; say which
        return f"not available ({type(error).__name__}: {(str(error).splitlines() or [''])[0][:120]})"


def recurrent_layers_of(model):
    """Every textlstm recurrent layer in `model`, looking inside Bidirectional wrappers, nested
    models and custom layers' sublayers; `[(path, layer)]`."""
    found = []

    def visit(layer, path):
        if isinstance(layer, RecurrentLayer):
            found.append((path, layer))
        elif isinstance(layer, keras.layers.Bidirectional):
            visit(layer.forward_layer, f"{path}/forward")
            visit(layer.backward_layer, f"{path}/backward")
        else:  # a model's layers, or the sublayers a custom layer tracks (the tagger's char BiLSTM)
            inner_layers = layer.layers if hasattr(layer, "layers") else getattr(layer, "_layers", [])
            for inner in inner_layers:
                visit(inner, f"{path}/{inner.name}" if path else inner.name)

    visit(model, "")
    return found


def _masked(model):
    return any(
        getattr(layer, "mask_zero", False) or isinstance(layer, keras.layers.Masking)
        for layer in getattr(model, "layers", [])
    )


def layer_plans(model):
    """`[(path, description, kernel name, reasons)]` for every recurrent layer of `model`."""
    plans = []
    masked = _masked(model)
    for path, layer in recurrent_layers_of(model):
        cell = layer.cell
        description = f"{type(layer).__name__}({cell.units})"
        try:
            kernel, reasons = dispatch.kernel_plan(layer)
            name = KERNEL_NAMES[kernel]
        except ValueError as error:  # use_cudnn=True where cuDNN cannot run
            kernel, name, reasons = None, "none: the layer will fail", [str(error)]
        if masked and kernel == dispatch.CUDNN:
            reasons = reasons + ["inputs are masked: batches that are not right-padded fall back to the fused loop"]
        plans.append((path, description, name, reasons))
    return plans


def default_model():
    """The char LM of the default recipe (vocabulary of 100 characters)."""
    from textlstm.charlm.model import DEFAULTS, build_model

    return build_model(100, DEFAULTS["model"], seed=0)


def _register_layers_of(kind):
    """Import the modules of `kind`'s family that define Keras classes (`families.Family.keras_modules`),
    so the custom layers its saved models use are registered before loading."""
    for name in families.family(kind).keras_modules:
        importlib.import_module(name)


def doctor_lines(run_path=None, findings=None):
    """The report `textlstm doctor` prints, as lines; `findings` are the install checks'
    (`install_checks.check_install()`), listed after the versions and devices."""
    lines = [f"{name + ':':<12}{value}" for name, value in environment()]
    if findings:
        lines += ["", "install:"] + [f"  {finding.line()}" for finding in findings]
    if run_path is None:
        model, source = default_model(), "the default char LM (no run directory given)"
    else:
        kind = RunDir.read_kind(run_path)
        _register_layers_of(kind)
        model, source = load_best_or_last(RunDir.open(run_path, kind)), f"{run_path} ({kind})"
    lines += ["", f"recurrent layers of {source}:"]
    plans = layer_plans(model)
    if not plans:
        lines.append("  none (this model has no textlstm LSTM or GRU layers)")
    for path, description, kernel, reasons in plans:
        lines.append(f"  {path}: {description} → {kernel}")
        lines += [f"      not cuDNN: {reason}" for reason in reasons]
    return lines
