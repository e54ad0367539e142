"""Run directories, and writes that never leave a half-written file behind (`textlstm.files`).

A run directory is the self-contained unit of work: copy it to another machine and every
command that uses a trained model works from it alone. It holds

    run.json      the model kind ("charlm", "tagger", "seq2seq") and the textlstm version
    recipe.toml   the fully resolved recipe the model was trained with
    *.keras       models in Keras's native format
    ...           vocabularies, the metrics log and the training state for resume

Every file is written atomically (temp file in the same directory, fsync, `os.replace`),
so an interrupted run leaves the previous version of each file intact; an operating-system
error while writing (disk full, read-only file system, a path through a file) becomes one
`UserError` naming the path, and the temp file is removed. Only one process writes: under
distributed training that is the chief, see `is_chief`. A training holds `train.lock` in
the directory (`claim_for_training`), so a second training into it refuses at once, and
temp files that a killed write left behind are removed when the next training starts.
"""

import contextlib
import json
import os
import pathlib
import socket
import sys
import tempfile
import time

import textlstm
from textlstm import families
from textlstm.errors import UserError, describe_os_error
from textlstm.files import (  # noqa: F401  (kept importable from here: they moved below, to textlstm.files)
    _FILE_MODE,
    DIRECTORY_MODE,
    TEMP_MARK,
    _temp_beside,
    atomic_save_model,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    check_keras_archive,
    load_keras_model,
    make_directory,
    read_json_file,
)
from textlstm.recipes import load_recipe_file, recipe_to_toml, resolve_recipe

RUN_FILE = "run.json"
RECIPE_FILE = "recipe.toml"
LOCK_FILE = "train.lock"
# the checkpoint after the last step, the one at the best dev metric, and the training state
LAST, BEST, STATE = "last.keras", "best.keras", "state.json"
TRAINED_FILES = (STATE, LAST, BEST)  # a run with these has trained
# What a run writes, removed by `--overwrite` before the new run starts (nothing else is touched):
# the files every run writes, then each family's own (`families.Family.artefacts`).
RUN_ARTEFACTS = (
    RUN_FILE,
    RECIPE_FILE,
    STATE,
    "metrics.csv",
    BEST,
    LAST,
    "tensorboard",
    "checkpoints",  # the epoch checkpoints (textlstm.checkpoints)
) + families.artefacts()


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
        raise UserError(f"TF_CONFIG task index must be an integer, got {task.get('index')!r}") from None
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


def remove_entries(directory, names):
    """Remove these entries of `directory` where they exist: files, links, folders.

    Raises:
        UserError: a file that cannot be removed (named, with the reason).
    """
    import shutil

    for name in names:
        entry = pathlib.Path(directory) / name
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.exists() or entry.is_symlink():
            try:
                entry.unlink()
            except OSError as error:
                raise UserError(describe_os_error(error, "remove")) from None


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
        claim = _CLAIMS.get(_key(path))
        if (path / RUN_FILE).exists():
            existing = cls.read_kind(path)
            if existing != kind:
                raise UserError(
                    f"{path} already holds a {existing!r} model; choose another directory for a {kind!r} run"
                )
            if claim is not None and claim.overwrite:
                claim.clear_old_run()
        make_directory(path)
        atomic_write_json(path / RUN_FILE, {"kind": kind, "textlstm_version": textlstm.__version__})
        return cls(path, kind)

    @classmethod
    def open(cls, path, kind: str | tuple[str, ...]) -> "RunDir":
        """Open an existing run directory, failing clearly unless it holds a model of `kind` whose
        files fit together and its saved recipe the schema (`textlstm.runcheck.check_run`): every
        command, `textlstm.load` and `--resume` open runs here."""
        from textlstm.runcheck import check_run  # it reads the families' vocabularies, which use this module

        kinds = (kind,) if isinstance(kind, str) else tuple(kind)
        found = cls.read_kind(path)
        if found not in kinds:
            raise UserError(f"{path} holds a {found!r} model, not a {_describe_kinds(kinds)} model")
        check_run(path, found)
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
            raise UserError(describe_os_error(error, "read", run_file)) from None
        if not isinstance(info, dict) or not isinstance(info.get("kind"), str):
            raise UserError(f'{run_file} is corrupt (expected an object with a "kind" string)')
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


# --- one training per run directory ------------------------------------------------------

_CLAIMS: dict = {}  # resolved run path -> the RunClaim this process holds on it


def refuse_inside_a_run(path, what: str = "the output"):
    """One `UserError` if the file `path` would be written inside a run directory (one holding
    `run.json`, at any depth above it): there it could replace a checkpoint, the training state or
    a vocabulary, which a run must never lose. Files a run writes for itself do not come here."""
    given, folder = path, pathlib.Path(os.path.abspath(os.path.expanduser(os.fspath(path)))).parent
    for directory in (folder, *folder.parents):
        if (directory / RUN_FILE).is_file():
            raise UserError(f"{given} lies inside the run directory {directory}; write {what} outside it")


def _key(path) -> str:
    return os.path.realpath(path)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # it exists but belongs to someone else
    return True


class RunClaim:
    """A training's hold on its run directory: the lock file, and whether to overwrite.

    The lock file `train.lock` holds the pid, host and start time of the training. A lock
    whose process is gone (same host, no such pid: a SIGKILL) is stale and is cleared.
    `release()` removes the lock, and the directory too if the claim made it and nothing
    was written into it.
    """

    def __init__(self, path, overwrite=False):
        self.path = pathlib.Path(path)
        self.overwrite = overwrite
        self.lock = self.path / LOCK_FILE
        self.made = []  # directories this claim created, deepest last
        self.held = False

    def acquire(self) -> "RunClaim":
        missing = [p for p in [self.path, *self.path.parents] if not p.exists()]
        make_directory(self.path)
        self.made = list(reversed(missing))
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})
        for _ in range(2):
            try:
                handle = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if self._clear_if_stale():
                    continue
                self._refuse()
            except OSError as error:
                raise UserError(describe_os_error(error, "create the lock file")) from None
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(record + "\n")
            self.held = True
            _CLAIMS[_key(self.path)] = self
            return self
        self._refuse()

    def _holder(self) -> dict | None:
        try:
            holder = json.loads(self.lock.read_text(encoding="utf-8"))
            return holder if isinstance(holder, dict) and isinstance(holder.get("pid"), int) else None
        except (OSError, ValueError):
            return None

    def _clear_if_stale(self) -> bool:
        holder = self._holder()
        if holder is None:  # unreadable: stale unless it was written just now (its owner may be writing it)
            try:
                stale = time.time() - self.lock.stat().st_mtime > 10
            except FileNotFoundError:
                return True
        else:
            stale = holder.get("host") == socket.gethostname() and not _process_alive(holder["pid"])
        if stale:
            with contextlib.suppress(FileNotFoundError):
                self.lock.unlink()
            print(f"note: removed a stale lock {self.lock} (its training is no longer running)", file=sys.stderr)
        return stale

    def _refuse(self):
        holder = self._holder() or {}
        who = f"process {holder['pid']} on {holder.get('host', '?')}" if "pid" in holder else "another process"
        raise UserError(
            f"run directory {self.path} is in use: {who} is training into it "
            f"(delete {self.lock} if that training is gone)"
        )

    def remove_stale_temp_files(self) -> int:
        """Remove the temp files of writes that a killed process never finished."""
        removed = 0
        for entry in self.path.glob(f".*{TEMP_MARK}*"):
            if entry.is_file():
                with contextlib.suppress(OSError):
                    entry.unlink()
                    removed += 1
        if removed:
            print(f"note: removed {removed} temp file(s) left in {self.path} by an interrupted write", file=sys.stderr)
        return removed

    def clear_old_run(self):
        """--overwrite: remove the files of the run that was here (only those a run writes)."""
        remove_entries(self.path, RUN_ARTEFACTS)
        self.overwrite = False  # once

    def release(self):
        if not self.held:
            return
        self.held = False
        _CLAIMS.pop(_key(self.path), None)
        with contextlib.suppress(OSError):
            self.lock.unlink()
        for directory in reversed(self.made):  # deepest first; only if still empty
            with contextlib.suppress(OSError):
                directory.rmdir()


def claim_for_training(path, kind: str, resume: bool = False, overwrite: bool = False) -> RunClaim | None:
    """Check that a training may write into `path`, lock it, and clean what a killed write left.

    A new training into a directory that already holds a run (a checkpoint or training
    state) is refused unless `overwrite` (the old run's files are then removed when the new run
    is created, so a refusal later on changes nothing); `resume` needs a run of `kind` there. Returns the claim (call
    `release()` when training ends), or None on a distributed worker other than the chief.
    """
    if not is_chief():
        return None
    if resume and overwrite:
        raise UserError("--resume continues the run and --overwrite replaces it; give one of them")
    path = pathlib.Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"run directory {path} is a file, not a directory")
    if resume:
        RunDir.open(path, kind)
    elif (path / RUN_FILE).exists():
        existing = RunDir.read_kind(path)
        if existing != kind:
            raise UserError(f"{path} already holds a {existing!r} model; choose another directory for a {kind!r} run")
        trained = any((path / name).exists() for name in TRAINED_FILES)
        if not overwrite and trained:
            raise UserError(
                f"{path} already holds a {kind} run; continue it with --resume, or replace it with --overwrite"
            )
        overwrite = True  # a start that failed before its first checkpoint holds nothing to keep
    claim = RunClaim(path, overwrite=overwrite).acquire()
    claim.remove_stale_temp_files()
    return claim
