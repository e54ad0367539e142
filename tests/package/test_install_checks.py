"""`textlstm doctor`'s install checks: each broken install, simulated by replacing the probes,
is named in one line with the command that fixes it."""

import pytest

import textlstm.install_checks as checks
from support.cli import invoke
from textlstm.install_checks import TensorFlowState

CPU_BUILD = TensorFlowState("2.21.0", cuda_build=False)
CUDA_BUILD = TensorFlowState("2.21.0", cuda_build=True)
NVIDIA = ["nvidia-cublas-cu12", "nvidia-cudnn-cu12"]


@pytest.fixture
def machine(monkeypatch):
    """Sets what the probes report: `machine(distributions, state, driver=[], libraries=([], []))`."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)

    def set_up(distributions, state, driver=(), libraries=((), ())):
        monkeypatch.setattr(checks, "tensorflow_distributions", lambda: list(distributions))
        monkeypatch.setattr(checks, "tensorflow_state", lambda: state)
        monkeypatch.setattr(checks, "driver_gpus", lambda: list(driver))
        monkeypatch.setattr(checks, "cuda_libraries", lambda name="tensorflow": tuple(map(list, libraries)))
        return [finding.line() for finding in checks.check_install()]

    return set_up


def _only_problem(lines):
    problems = [line for line in lines if line.startswith("problem: ")]
    assert len(problems) == 1, lines
    assert "\n" not in problems[0]
    return problems[0]


def test_a_healthy_cpu_install_is_ok(machine):
    assert machine([("tensorflow", "2.21.0")], CUDA_BUILD) == [
        "ok: TensorFlow 2.21.0 runs on the CPU (no NVIDIA GPU here): recurrent layers use textlstm's fused CPU loops"
    ]


def test_a_healthy_gpu_install_is_ok(machine):
    state = TensorFlowState("2.21.0", cuda_build=True, gpus=("GPU:0",))
    [line] = machine([("tensorflow", "2.21.0")], state, driver=["NVIDIA H200"], libraries=(NVIDIA, []))
    assert line.startswith("ok: ") and "1 GPU(s) (GPU:0)" in line and "cuDNN" in line


def test_two_tensorflow_distributions(machine):
    line = _only_problem(machine([("tensorflow", "2.21.0"), ("tensorflow-cpu", "2.21.0")], CPU_BUILD))
    assert "2 TensorFlow distributions are installed at once (tensorflow 2.21.0, tensorflow-cpu 2.21.0)" in line
    assert line.endswith('fix: pip uninstall -y tensorflow tensorflow-cpu && pip install "tensorflow==2.21.0"')


def test_two_distributions_on_a_gpu_machine_reinstall_with_cuda(machine):
    state = TensorFlowState("2.21.0", cuda_build=True, gpus=("GPU:0",))
    line = _only_problem(
        machine([("tensorflow", "2.21.0"), ("tensorflow-cpu", "2.21.0")], state, driver=["NVIDIA H200"])
    )
    assert line.endswith('pip uninstall -y tensorflow tensorflow-cpu && pip install "tensorflow[and-cuda]==2.21.0"')


def test_a_cuda_build_with_its_libraries_but_no_gpu(machine):
    line = _only_problem(machine([("tensorflow", "2.21.0")], CUDA_BUILD, libraries=(NVIDIA, [])))
    assert "CUDA build with 2 CUDA/cuDNN libraries installed, but no GPU is visible" in line
    assert "runs on the CPU" in line
    assert "nvidia-smi" in line and line.endswith("pip uninstall -y nvidia-cublas-cu12 nvidia-cudnn-cu12")


def test_a_gpu_the_driver_sees_but_tensorflow_does_not(machine):
    line = _only_problem(
        machine(
            [("tensorflow", "2.21.0")],
            CUDA_BUILD,
            driver=["NVIDIA H200"],
            libraries=(["nvidia-cublas-cu12"], ["nvidia-cudnn-cu12"]),
        )
    )
    assert "the NVIDIA driver sees NVIDIA H200, but TensorFlow 2.21.0 sees no GPU" in line
    assert "CUDA/cuDNN libraries missing: nvidia-cudnn-cu12" in line
    assert line.endswith('fix: pip install "tensorflow[and-cuda]==2.21.0"')


def test_a_gpu_next_to_a_cpu_only_build(machine):
    line = _only_problem(machine([("tensorflow-cpu", "2.21.0")], CPU_BUILD, driver=["NVIDIA H200"]))
    assert "built without CUDA" in line and "tensorflow-cpu" in line
    assert line.endswith('fix: pip uninstall -y tensorflow-cpu && pip install "tensorflow[and-cuda]==2.21.0"')


def test_a_gpu_hidden_by_cuda_visible_devices(machine, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    line = _only_problem(
        machine([("tensorflow", "2.21.0")], CUDA_BUILD, driver=["NVIDIA H200"], libraries=(NVIDIA, []))
    )
    assert "CUDA_VISIBLE_DEVICES='-1' hides it" in line and line.endswith("fix: unset CUDA_VISIBLE_DEVICES")


def test_tensorflow_that_cannot_be_imported(machine):
    broken = TensorFlowState(import_error="ImportError: libtensorflow_framework.so.2: cannot open shared object file")
    lines = machine([("tensorflow", "2.21.0"), ("tensorflow-cpu", "2.21.0")], broken)
    assert len(lines) == 2 and all(line.startswith("problem: ") for line in lines)
    assert "TensorFlow cannot be imported (ImportError: libtensorflow_framework.so.2" in lines[1]


def test_doctor_prints_the_problem_and_exits_1(machine):
    machine([("tensorflow", "2.21.0"), ("tensorflow-cpu", "2.21.0")], CPU_BUILD)
    result = invoke("doctor")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "problem: 2 TensorFlow distributions" in result.stdout and "TensorFlow:" in result.stdout


def test_doctor_stops_where_tensorflow_cannot_be_imported(machine):
    machine([("tensorflow", "2.21.0")], TensorFlowState(import_error="ImportError: broken"))
    result = invoke("doctor")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stdout.splitlines() == [
        "problem: TensorFlow cannot be imported (ImportError: broken); "
        'fix: pip uninstall -y tensorflow && pip install "tensorflow==2.21.0"'
    ]


# --- the real probes ------------------------------------------------------------------------


def test_the_real_probes_find_this_install():
    distributions = checks.tensorflow_distributions()
    assert len(distributions) == 1, distributions  # this test environment is installed correctly
    state = checks.tensorflow_state()
    import tensorflow as tf

    assert not state.import_error and state.version == tf.__version__ == distributions[0][1]


def test_driver_gpus_read_proc_and_nvidia_smi(tmp_path):
    information = tmp_path / "proc" / "gpus" / "0000:01:00.0" / "information"
    information.parent.mkdir(parents=True)
    information.write_text("Model: \t\t NVIDIA H200\nIRQ:   42\n")
    assert checks.driver_gpus(tmp_path / "proc") == ["NVIDIA H200"]
    smi = tmp_path / "nvidia-smi"
    smi.write_text(
        "#!/bin/sh\necho 'GPU 0: NVIDIA A100-SXM4-80GB (UUID: GPU-1234)'\necho 'GPU 1: Tesla T4 (UUID: GPU-5)'\n"
    )
    smi.chmod(0o755)
    assert checks.driver_gpus(tmp_path / "none", nvidia_smi=str(smi)) == ["NVIDIA A100-SXM4-80GB", "Tesla T4"]
    assert checks.driver_gpus(tmp_path / "none", nvidia_smi=str(tmp_path / "missing")) == []
