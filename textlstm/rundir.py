"""Run directories, and writes that never leave a half-written file behind.

A run directory is the self-contained unit of work: copy it to another machine and every
command that uses a trained model works from it alone. It holds

    run.json      the model kind ("charlm", "tagger", "seq2seq") and the textlstm version
    recipe.toml   the fully resolved recipe the model was trained with
    *.keras       models in Keras's native format
    ...           vocabularies, the metrics log and the training state for resume

Every file is written atomically (temp file in the same directory, fsync, `os.replace`),
so an interrupted run leaves the previous version of each file intact. Only one process
writes: under distributed training that is the chief, see `is_chief`.
"""

import contextlib
import json
import os
import pathlib
import tempfile

import textlstm
from textlstm.errors import UserError
from textlstm.recipes import load_recipe_file, recipe_to_toml, resolve_recipe

RUN_FILE = "run.json"
RECIPE_FILE = "recipe.toml"


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_current_umask()  # what a plain open() would give; mkstemp gives 0o600


@contextlib.contextmanager
def _temp_beside(path: pathlib.Path, suffix: str):
    """Yield a temp path next to `path`, moved onto `path` on success and removed on failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(handle)
    try:
        yield temp
        os.chmod(temp, _FILE_MODE)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: pathlib.Path):
    """Make the rename itself durable; not every platform can open a directory, so best effort."""
    with contextlib.suppress(OSError):
        handle = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def atomic_write_bytes(path, data: bytes):
    """Replace `path` with `data` in one step: readers see the old file or the new one."""
    with _temp_beside(pathlib.Path(path), ".tmp") as temp:
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())


def atomic_write_text(path, text: str):
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj):
    """Write `obj` as JSON (indent 2, sorted keys, UTF-8 kept readable) atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def atomic_save_model(model, path):
    """Save a Keras model to `path` (which must end in `.keras`) atomically."""
    path = pathlib.Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"model path must end in '.keras', got {str(path)!r}")
    with _temp_beside(path, ".keras") as temp:
        model.save(temp)


def load_keras_model(path, custom_objects=None, compile=False):
    """Load a `.keras` model; any failure becomes one readable `UserError`.

    `safe_mode=True` refuses to deserialize arbitrary lambdas from a file we did not write.
    With `compile=True` the optimizer and its state come back too (resuming training).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise UserError(f"no model file at {path}")
    import keras

    try:
        return keras.saving.load_model(path, safe_mode=True, compile=compile,
                                       custom_objects=custom_objects)
    except Exception as error:  # zipfile, h5py, JSON and Keras errors all mean the same here
        reason = (str(error).strip().splitlines() or [""])[0][:200]
        reason = f"{type(error).__name__}: {reason}" if reason else type(error).__name__
        raise UserError(f"model file {path} is corrupt or unreadable ({reason})") from None


def tf_config() -> dict:
    """The cluster and task that the TF_CONFIG environment variable describes ({} without one)."""
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return {}
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise UserError(f"TF_CONFIG is not valid JSON ({error})") from None
    return config if isinstance(config, dict) else {}


def is_chief() -> bool:
    """True unless TF_CONFIG says this process is a distributed task other than the chief.

    The chief is the task of type "chief", or worker 0 when the cluster has no chief.
    """
    config = tf_config()
    task = config.get("task")
    if not isinstance(task, dict):
        return True
    kind = task.get("type")
    if kind is None:
        return True
    if kind == "chief":
        return True
    try:
        index = int(task.get("index", 0))
    except (TypeError, ValueError):
        raise UserError(f"TF_CONFIG task index must be an integer, "
                        f"got {task.get('index')!r}") from None
    return kind == "worker" and index == 0 and "chief" not in (config.get("cluster") or {})


def _worker_scratch_directory(kind: str) -> pathlib.Path:
    import atexit
    import shutil

    path = pathlib.Path(tempfile.mkdtemp(prefix=f"textlstm-{kind}-worker-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    atomic_write_json(path / RUN_FILE, {"kind": kind, "textlstm_version": textlstm.__version__})
    return path


def _describe_kinds(kinds: tuple[str, ...]) -> str:
    return " or ".join(repr(kind) for kind in kinds)


class RunDir:
    """A run directory on disk, checked to hold a model of the expected kind.

    Use `RunDir.create(path, kind)` to start a run and `RunDir.open(path, kind)` to use one;
    `kind` in `open` may be a tuple of accepted kinds. `file(name)` gives paths inside it.
    """

    def __init__(self, path, kind: str):
        self.path = pathlib.Path(path)
        self.kind = kind

    def __repr__(self):
        return f"RunDir({str(self.path)!r}, kind={self.kind!r})"

    @classmethod
    def create(cls, path, kind: str) -> "RunDir":
        """Make the directory (an existing one is fine) and record its kind in run.json.

        Reusing a directory that already holds a model of another kind is refused, so a
        tagger run is never silently overwritten by a language model. In a distributed run
        only the chief creates `path`; every other worker gets a private scratch directory,
        removed when it exits, so whatever it writes never clashes with the chief's files.
        """
        if not is_chief():
            return cls(_worker_scratch_directory(kind), kind)
        path = pathlib.Path(path)
        if path.exists() and not path.is_dir():
            raise UserError(f"run directory {path} is a file, not a directory")
        if (path / RUN_FILE).exists():
            existing = cls.read_kind(path)
            if existing != kind:
                raise UserError(f"{path} already holds a {existing!r} model; choose another "
                                f"directory for a {kind!r} run")
        path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path / RUN_FILE, {"kind": kind,
                                            "textlstm_version": textlstm.__version__})
        return cls(path, kind)

    @classmethod
    def open(cls, path, kind: str | tuple[str, ...]) -> "RunDir":
        """Open an existing run directory, failing clearly unless it holds a model of `kind`."""
        kinds = (kind,) if isinstance(kind, str) else tuple(kind)
        found = cls.read_kind(path)
        if found not in kinds:
            raise UserError(f"{path} holds a {found!r} model, not a {_describe_kinds(kinds)} model")
        return cls(path, found)

    @staticmethod
    def read_kind(path) -> str:
        """The model kind recorded in a run directory's run.json, after checking it is one."""
        path = pathlib.Path(path)
        if not path.exists():
            raise UserError(f"run directory {path} does not exist")
        if not path.is_dir():
            raise UserError(f"{path} is a file, not a run directory")
        run_file = path / RUN_FILE
        if not run_file.is_file():
            raise UserError(f"{path} is not a textlstm run directory (no {RUN_FILE})")
        try:
            info = json.loads(run_file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise UserError(f"{run_file} is corrupt ({error})") from None
        except OSError as error:
            raise UserError(f"cannot read {run_file}: {error.strerror}") from None
        if not isinstance(info, dict) or not isinstance(info.get("kind"), str):
            raise UserError(f"{run_file} is corrupt (expected an object with a \"kind\" string)")
        return info["kind"]

    def file(self, name: str) -> pathlib.Path:
        return self.path / name

    def write_recipe(self, recipe: dict):
        atomic_write_text(self.file(RECIPE_FILE), recipe_to_toml(recipe))

    def read_recipe(self, defaults: dict | None = None) -> dict:
        """The saved recipe; with `defaults`, resolved against them (restoring None values)."""
        recipe_file = self.file(RECIPE_FILE)
        if not recipe_file.is_file():
            raise UserError(f"run directory {self.path} has no {RECIPE_FILE}")
        if defaults is not None:
            return resolve_recipe(defaults, recipe_file)
        return load_recipe_file(recipe_file)
