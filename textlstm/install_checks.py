"""Broken TensorFlow installs, found before they cost a run: `textlstm doctor`'s install checks.

Three ways an install goes wrong without an error of its own:

1. Two TensorFlow distributions at once (say `tensorflow-cpu` and `tensorflow`): both write
   the same `tensorflow/` package folder, so which build is imported depends on the order
   they were installed in, and uninstalling either breaks the other.
2. A CUDA build of TensorFlow with its CUDA libraries but no GPU visible (no NVIDIA driver,
   or `CUDA_VISIBLE_DEVICES` hiding it): everything silently runs on the CPU.
3. A GPU the NVIDIA driver sees (`/proc/driver/nvidia`, `nvidia-smi`) but TensorFlow does
   not: a CPU-only build, or the CUDA/cuDNN libraries of the `and-cuda` extra missing.

Each finding is one line that names the problem and the command that fixes it. The
probes (`tensorflow_distributions`, `tensorflow_state`, `driver_gpus`, `cuda_libraries`)
are plain module functions so tests can replace them; nothing here imports TensorFlow
except `tensorflow_state`, which survives an install too broken to import.
"""

import dataclasses
import importlib.metadata
import os
import re
import shutil
import subprocess
from pathlib import Path

CUDA_EXTRA = "and-cuda"  # the extra of the `tensorflow` distribution that adds CUDA and cuDNN


@dataclasses.dataclass(frozen=True)
class Finding:
    """One line of the install check: `problem` findings come with the command that fixes them;
    `fatal` ones (TensorFlow cannot be imported) leave nothing else to report."""

    problem: bool
    text: str
    fix: str = ""
    fatal: bool = False

    def line(self):
        if not self.problem:
            return f"ok: {self.text}"
        return f"problem: {self.text}; fix: {self.fix}"


@dataclasses.dataclass(frozen=True)
class TensorFlowState:
    """What importing TensorFlow tells: its version, whether it is a CUDA build, the GPUs it sees,
    or the error that stopped the import."""

    version: str = ""
    cuda_build: bool = False
    gpus: tuple = ()
    import_error: str = ""


def _normalized(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def tensorflow_distributions():
    """`[(name, version)]` of the installed distributions that provide the `tensorflow` package
    (their file lists hold `tensorflow/__init__.py`; a distribution without a file list counts
    by its name: `tensorflow`, `tensorflow-cpu`, `tensorflow-gpu`, `tf-nightly*`)."""
    found = {}
    for dist in importlib.metadata.distributions():
        name = _normalized(dist.metadata["Name"] or "")
        if not (name.startswith("tensorflow") or name.startswith("tf-nightly")):
            continue
        files = dist.files
        if files is None:
            provides = name in ("tensorflow", "tensorflow-cpu", "tensorflow-gpu") or name.startswith("tf-nightly")
        else:
            provides = any(str(path).replace("\\", "/") == "tensorflow/__init__.py" for path in files)
        if provides:
            found[name] = dist.version
    return sorted(found.items())


def tensorflow_state():
    """Import TensorFlow and say what it is; an import failure is returned, not raised."""
    try:
        import tensorflow as tf

        info = tf.sysconfig.get_build_info()
        gpus = tuple(device.name.removeprefix("/physical_device:") for device in tf.config.list_physical_devices("GPU"))
        return TensorFlowState(tf.__version__, bool(info.get("is_cuda_build")), gpus)
    except Exception as error:  # a half-removed install fails in many ways; report which
        first_line = (str(error).splitlines() or [""])[0][:160]
        return TensorFlowState(import_error=f"{type(error).__name__}: {first_line}")


def driver_gpus(proc_root="/proc/driver/nvidia", nvidia_smi=None):
    """Names of the GPUs the NVIDIA driver sees: from `/proc/driver/nvidia/gpus/*/information`
    (Linux), else from `nvidia-smi -L`; `[]` where there is no driver."""
    names = []
    gpus = Path(proc_root) / "gpus"
    if gpus.is_dir():
        for information in sorted(gpus.glob("*/information")):
            try:
                text = information.read_text(errors="replace")
            except OSError:
                continue
            model = re.search(r"^Model:\s*(.+)$", text, re.MULTILINE)
            names.append(model.group(1).strip() if model else information.parent.name)
    if names:
        return names
    smi = nvidia_smi or shutil.which("nvidia-smi")
    if not smi:
        return []
    try:
        listing = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=15, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [match.group(1).strip() for match in re.finditer(r"^GPU \d+: ([^(]+)", listing, re.MULTILINE)]


def cuda_libraries(tensorflow_name="tensorflow"):
    """`(installed, missing)`: the requirements of `tensorflow`'s `and-cuda` extra (the CUDA and
    cuDNN wheels, `nvidia-*`) that are installed, and those that are not."""
    from packaging.requirements import Requirement  # a dependency of TensorFlow itself

    try:
        requirements = importlib.metadata.requires(tensorflow_name) or []
    except importlib.metadata.PackageNotFoundError:
        return [], []
    installed, missing = [], []
    for text in requirements:
        requirement = Requirement(text)
        marker = requirement.marker
        if marker is None or not marker.evaluate({"extra": CUDA_EXTRA}) or marker.evaluate({"extra": ""}):
            continue  # not a requirement of the extra alone, or not for this platform
        try:
            version = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(requirement.name)
            continue
        (installed if requirement.specifier.contains(version, prereleases=True) else missing).append(requirement.name)
    return installed, missing


def _hidden_by_environment():
    """The `CUDA_VISIBLE_DEVICES` value when it hides every GPU ('' or '-1'), else None."""
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is not None and value.strip() in ("", "-1"):
        return value
    return None


def _pip_install(version, gpu):
    pinned = f"=={version}" if version else ""
    return f'pip install "tensorflow{"[and-cuda]" if gpu else ""}{pinned}"'


def check_install():
    """The install's findings, `[Finding]`: problems first come with their fix; when nothing is
    wrong, one `ok` line says where TensorFlow runs."""
    findings = []
    distributions = tensorflow_distributions()
    gpus_of_driver = driver_gpus()
    version = next((v for n, v in distributions if n == "tensorflow"), distributions[0][1] if distributions else "")
    tf_name = distributions[0][0] if len(distributions) == 1 else "tensorflow"
    reinstall = _pip_install(version, gpu=bool(gpus_of_driver))
    if len(distributions) > 1:
        listed = ", ".join(f"{name} {v}" for name, v in distributions)
        names = " ".join(name for name, _ in distributions)
        findings.append(
            Finding(
                True,
                f"{len(distributions)} TensorFlow distributions are installed at once ({listed}); "
                "they write the same tensorflow/ folder, so which build runs depends on install order",
                f"pip uninstall -y {names} && {reinstall}",
            )
        )
    elif not distributions:
        findings.append(Finding(True, "TensorFlow is not installed", reinstall))
    state = tensorflow_state()
    if state.import_error:
        fix = f"pip uninstall -y {' '.join(n for n, _ in distributions)} && {reinstall}" if distributions else reinstall
        findings.append(Finding(True, f"TensorFlow cannot be imported ({state.import_error})", fix, fatal=True))
        return findings
    driver_names = ", ".join(gpus_of_driver)
    if state.gpus:
        findings.append(
            Finding(
                False,
                f"TensorFlow {state.version} sees {len(state.gpus)} GPU(s) ({', '.join(state.gpus)}): "
                "recurrent layers run on cuDNN there",
            )
        )
    elif gpus_of_driver and not state.cuda_build:
        names = " ".join(n for n, _ in distributions)
        findings.append(
            Finding(
                True,
                f"the NVIDIA driver sees {driver_names}, but this TensorFlow "
                f"({', '.join(n for n, _ in distributions) or state.version}) is built without CUDA",
                f"pip uninstall -y {names} && {_pip_install(state.version, gpu=True)}",
            )
        )
    elif gpus_of_driver and _hidden_by_environment() is not None:
        findings.append(
            Finding(
                True,
                f"the NVIDIA driver sees {driver_names}, but "
                f"CUDA_VISIBLE_DEVICES={_hidden_by_environment()!r} hides it from TensorFlow",
                "unset CUDA_VISIBLE_DEVICES",
            )
        )
    elif gpus_of_driver:
        _, missing = cuda_libraries(tf_name)
        why = (
            f"CUDA/cuDNN libraries missing: {', '.join(missing)}"
            if missing
            else "TensorFlow cannot load the CUDA/cuDNN libraries "
            "(not found, or too new for this driver: check `nvidia-smi`)"
        )
        findings.append(
            Finding(
                True,
                f"the NVIDIA driver sees {driver_names}, but TensorFlow {state.version} sees no GPU ({why})",
                _pip_install(state.version, gpu=True),
            )
        )
    else:
        installed, _ = cuda_libraries(tf_name) if state.cuda_build else ([], [])
        if installed:
            findings.append(
                Finding(
                    True,
                    f"TensorFlow {state.version} is a CUDA build with {len(installed)} CUDA/cuDNN "
                    "libraries installed, but no GPU is visible (no NVIDIA driver: /proc/driver/nvidia "
                    "and nvidia-smi find none), so it runs on the CPU",
                    "install the NVIDIA driver so that `nvidia-smi` lists the GPU, or on a machine without one: "
                    f"pip uninstall -y {' '.join(installed)}",
                )
            )
        elif not findings:
            findings.append(
                Finding(
                    False,
                    f"TensorFlow {state.version} runs on the CPU (no NVIDIA GPU here): "
                    "recurrent layers use textlstm's fused CPU loops",
                )
            )
    return findings
