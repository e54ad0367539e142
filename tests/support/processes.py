"""Running textlstm in child processes (distributed workers): the repository root, the
environment they get, and how long a worker may take."""

import os
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
WORKER_TIMEOUT = 600  # seconds; generous, the machine may be shared


def environment(cpu_only=False, **extra):
    """This process's environment for a child: no TF_CONFIG, textlstm importable from ROOT,
    TensorFlow's info lines off; `cpu_only` hides any GPU; `extra` adds variables."""
    env = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    if cpu_only:
        env["CUDA_VISIBLE_DEVICES"] = "-1"
    return dict(env, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2", **extra)
