"""A run's checkpoints: which ones it keeps, and which one a command or `textlstm.load` reads.

Besides `best.keras` (the best epoch by the monitored dev metric) and `last.keras` (where
training stopped; `--resume` continues from it), a run keeps the model of each of its last
`train.keep_checkpoints` epochs (default 3; 0 keeps none):

    checkpoints/epoch-NNN.keras   the model at the end of epoch NNN (optimizer state included)
    checkpoints/index.json        {"checkpoints": [{"epoch", "step", "monitor", "value", "file", "bytes"}, ...],
                                   "best": {"epoch", "step", "monitor", "value"}}

The trainer (`textlstm.training`) writes, at the end of each epoch and by the chief only,
`best.keras` (when the epoch improved), the epoch's file, then the index, then `last.keras`
and `state.json`, each atomically, and removes the epoch files that fall out of the index.
The index lists only files that exist: an epoch file without an entry (training was killed
between the two) is ignored here and removed, or rewritten, when training goes on (a resumed
run trains that epoch again, to the same weights). Numbering follows the run's own epochs, so a
resumed run goes on counting where it stopped.

A `checkpoint` argument (`--checkpoint` of every command that loads a model, `textlstm.load`,
`CharLM`, `Tagger`, `Translator`) is one of

    None or "best"   best.keras, else last.keras (a run stopped inside its first epoch)
    "last"           last.keras
    N, "N", "epoch-N"  the kept checkpoint of epoch N
    PATH             a .keras file (relative paths are tried from the working directory, then the run's)

and `resolve` turns it into the file, or into one `UserError` line (an epoch that is not kept names
the ones that are). This module is light: Keras is imported only by `load_model`.
"""

import contextlib
import json
import math
import os
import pathlib
import re

from textlstm.errors import UserError
from textlstm.rundir import BEST, LAST, STATE

DIRECTORY = "checkpoints"  # inside the run directory
INDEX = "index.json"  # inside DIRECTORY
KEEP_DEFAULT = 3  # train.keep_checkpoints when a recipe has none (runs written before it existed)
_EPOCH_FILE = re.compile(r"^epoch-(\d+)\.keras$")
_EPOCH_NAME = re.compile(r"^(?:epoch-?)?(\d+)$")  # "3", "epoch-3", "epoch-003", "epoch3"


def epoch_file_name(epoch: int) -> str:
    """The file name of epoch `epoch`'s checkpoint: "epoch-003.keras"."""
    return f"epoch-{epoch:03d}.keras"


def _run_path(run) -> pathlib.Path:
    """The directory of `run`: a `RunDir` or a path."""
    return pathlib.Path(getattr(run, "path", run))


def keep_count(run) -> int:
    """`train.keep_checkpoints` of the recipe saved in `run` (`KEEP_DEFAULT` where the recipe has none)."""
    from textlstm.recipes import load_recipe_file

    path = _run_path(run) / "recipe.toml"
    if not path.is_file():
        return KEEP_DEFAULT
    value = load_recipe_file(path).get("train", {}).get("keep_checkpoints")
    return KEEP_DEFAULT if value is None else int(value)


# --- the index ------------------------------------------------------------------------------


def read_index(run, strict=True) -> dict:
    """The run's checkpoint index, `{"checkpoints": [...], "best": {...} or None}`, listing only
    epoch files that exist, by epoch. A run without one (older runs; `keep_checkpoints = 0`) has
    an empty index. A damaged index is one `UserError` naming it, or with `strict=False` an index
    rebuilt from the epoch files found (their step and metric unknown)."""
    directory = _run_path(run) / DIRECTORY
    path = directory / INDEX
    data = {"checkpoints": [], "best": None}
    if path.is_file():
        try:
            data = _checked_index(json.loads(path.read_text(encoding="utf-8")), path)
        except (OSError, ValueError, UserError) as error:
            if strict:
                reason = error if isinstance(error, UserError) else f"{type(error).__name__}: {error}"
                raise UserError(f"checkpoint index {path} is damaged or unreadable ({reason})") from None
            data = {"checkpoints": [_entry_of_file(found) for found in _epoch_files(directory)], "best": None}
    entries = {}
    for entry in data["checkpoints"]:
        if (directory / entry["file"]).is_file():
            entries[entry["epoch"]] = entry
    return {"checkpoints": [entries[epoch] for epoch in sorted(entries)], "best": data.get("best")}


def _checked_index(data, path):
    if not isinstance(data, dict) or not isinstance(data.get("checkpoints"), list):
        raise UserError('expected an object with a "checkpoints" list')
    for entry in data["checkpoints"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("epoch"), int) or isinstance(entry["epoch"], bool):
            raise UserError(f"an entry without a whole epoch number: {json.dumps(entry)[:80]}")
        if entry.get("file") != epoch_file_name(entry["epoch"]):
            raise UserError(f"epoch {entry['epoch']} names the file {entry.get('file')!r}")
    if data.get("best") is not None and not isinstance(data["best"], dict):
        raise UserError('"best" is not an object')
    return data


def _epoch_files(directory: pathlib.Path):
    """The epoch checkpoint files in `directory` (temp files of unfinished writes start with "." and are left out)."""
    if not directory.is_dir():
        return []
    return sorted(path for path in directory.iterdir() if _EPOCH_FILE.match(path.name) and path.is_file())


def _entry_of_file(path: pathlib.Path) -> dict:
    epoch = int(_EPOCH_FILE.match(path.name).group(1))
    return {"epoch": epoch, "step": None, "monitor": None, "value": None, "file": path.name, "bytes": _size(path)}


def _size(path) -> int | None:
    try:
        return pathlib.Path(path).stat().st_size
    except OSError:
        return None


def _finite(value):
    """A metric for JSON: a float, or None when it is missing or not finite (JSON has no NaN)."""
    return float(value) if value is not None and math.isfinite(float(value)) else None


def record_epoch(run, save, epoch: int, step: int, monitor: str, value, keep: int, best: bool):
    """Write epoch `epoch`'s checkpoint and index it; drop the oldest beyond `keep`. For the trainer's chief.

    `save(path)` writes the model to `path` atomically; `value` is the epoch's `monitor` value and
    `best` whether this epoch is the new `best.keras`. With `keep` 0 nothing is written. The index
    is written (atomically) after the epoch file and before the files it drops are removed, so
    it never lists a missing file; an epoch file that is in no index (a write killed before the
    index, or a drop killed before the removal) is removed here. Raises `UserError` (a full disk).
    """
    from textlstm.rundir import atomic_write_json, make_directory

    if keep <= 0:
        return
    directory = make_directory(_run_path(run) / DIRECTORY)
    path = directory / epoch_file_name(epoch)
    save(path)
    index = read_index(run, strict=False)
    entries = [entry for entry in index["checkpoints"] if entry["epoch"] != epoch]
    metric = {"epoch": epoch, "step": step, "monitor": monitor, "value": _finite(value)}
    entries.append(dict(metric, file=path.name, bytes=_size(path)))
    entries = sorted(entries, key=lambda entry: entry["epoch"])[-keep:]
    atomic_write_json(directory / INDEX, {"checkpoints": entries, "best": metric if best else index["best"]})
    kept = {entry["file"] for entry in entries}
    for found in _epoch_files(directory):
        if found.name not in kept:
            with contextlib.suppress(FileNotFoundError):
                found.unlink()


# --- listing and choosing -------------------------------------------------------------------


def list_checkpoints(run) -> list[dict]:
    """One row per checkpoint the run holds: best, last, then each kept epoch, oldest first.

    Each row is `{"name", "path", "epoch", "step", "monitor", "value", "bytes"}` ("best", "last",
    "epoch-3"); a field that is not recorded (the epoch of `best.keras` in a run written before
    the index existed) is None. Raises `UserError` for a damaged index or state.json.
    """
    root = _run_path(run)
    index = read_index(root)
    epochs = index["checkpoints"]
    rows = []
    best = index["best"] or {}
    state = _state(root)
    if (root / BEST).is_file():
        value = best.get("value", state.get("best"))
        rows.append(_row("best", root / BEST, best.get("epoch"), best.get("step"), best.get("monitor"), value))
    if (root / LAST).is_file():
        epoch, step = state.get("epoch"), state.get("step")
        same = next((e for e in epochs if e["epoch"] == epoch and e["step"] == step), None)
        same = same or (best if best and best.get("step") == step else {})
        rows.append(_row("last", root / LAST, epoch, step, same.get("monitor"), same.get("value")))
    for entry in epochs:
        path = root / DIRECTORY / entry["file"]
        rows.append(
            _row(f"epoch-{entry['epoch']}", path, entry["epoch"], entry["step"], entry["monitor"], entry["value"])
        )
    return rows


def _row(name, path, epoch, step, monitor, value):
    return {
        "name": name,
        "path": path,
        "epoch": epoch,
        "step": step,
        "monitor": monitor,
        "value": value,
        "bytes": _size(path),
    }


def _state(root: pathlib.Path) -> dict:
    """The run's state.json ({} where there is none or it cannot be read: the rows then say less)."""
    try:
        data = json.loads((root / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def resolve(run, checkpoint=None) -> pathlib.Path:
    """The model file that `checkpoint` names in `run` (see the module docstring for the forms).

    Raises:
        UserError: no trained model yet (best/last), an epoch that is not kept (the message names
            the kept ones), a missing file or one that is not a .keras file, a value of another type.
    """
    root = _run_path(run)
    if checkpoint is None or checkpoint == "best":
        path = root / BEST if (root / BEST).is_file() else root / LAST
        if not path.is_file():
            raise UserError(f"{root} holds no trained model yet (no {BEST} or {LAST}); train it first")
        return path
    if checkpoint == "last":
        if not (root / LAST).is_file():
            raise UserError(f"{root} holds no {LAST} yet; train it first")
        return root / LAST
    if isinstance(checkpoint, bool) or not isinstance(checkpoint, (int, str, os.PathLike)):
        raise UserError(
            f"checkpoint must be 'best', 'last', an epoch number or a path to a .keras file, "
            f"got {type(checkpoint).__name__} {checkpoint!r}"
        )
    if isinstance(checkpoint, int):
        return _epoch_path(root, checkpoint)
    text = os.fspath(checkpoint)
    match = _EPOCH_NAME.match(text.strip()) if isinstance(text, str) else None
    if match:
        return _epoch_path(root, int(match.group(1)))
    return _file_path(root, text)


def _epoch_path(root: pathlib.Path, epoch: int) -> pathlib.Path:
    entries = read_index(root)["checkpoints"]
    for entry in entries:
        if entry["epoch"] == epoch:
            return root / DIRECTORY / entry["file"]
    kept = ", ".join(str(entry["epoch"]) for entry in entries)
    held = f"the epochs kept are {kept}" if kept else "it keeps no epoch checkpoints (train.keep_checkpoints)"
    raise UserError(f"{root} has no checkpoint of epoch {epoch}; {held} (or give best, last or a .keras file)")


def _file_path(root: pathlib.Path, text: str) -> pathlib.Path:
    path = pathlib.Path(text).expanduser()
    if not path.exists() and not path.is_absolute() and (root / path).exists():
        path = root / path
    if not path.exists():
        raise UserError(
            f"no checkpoint file at {text} (give best, last, an epoch number or a path to a .keras file; "
            f"textlstm checkpoints {root} lists them)"
        )
    if path.is_dir() or path.suffix != ".keras":
        raise UserError(f"checkpoint {text} is not a .keras model file")
    return path


def load_model(run, checkpoint=None, custom_objects=None):
    """The Keras model (for inference, not compiled) of the checkpoint `checkpoint` of `run` (a `RunDir`).

    A file other than the run's own best.keras and last.keras (which `RunDir.open` checked) is
    checked first against the run's vocabularies and recipe (`runcheck.check_model_file`).
    Raises `UserError` as `resolve` does, or for a file that is damaged or belongs to another run.
    """
    from textlstm.rundir import load_keras_model

    path = resolve(run, checkpoint)
    root = _run_path(run)
    if path not in (root / BEST, root / LAST):
        from textlstm.runcheck import check_model_file

        check_model_file(root, run.kind, path)
    return load_keras_model(path, custom_objects=custom_objects)
