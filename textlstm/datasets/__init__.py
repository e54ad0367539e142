"""The corpora textlstm's guides use, fetched from their official sources into a local cache.

    >>> from textlstm import datasets
    >>> folder = datasets.download("wnut17")      # fetched, checked and unpacked once; then reused
    >>> datasets.path("wnut17") / "wnut17train.conll"

The same from a shell: `textlstm data list`, `textlstm data download wnut17`, and
`textlstm train tagger --data "$(textlstm data path wnut17)/wnut17train.conll" ...`.

Corpora (`textlstm.datasets.catalog.CORPORA`): tinyshakespeare, warpeace, ud-ewt, wnut17, btc, multi30k,
glove-6b-50d. Each entry pins the official URLs (a fixed commit of the source repository, or Stanford's
release file for GloVe), and the SHA-256 and size of every file the corpus folder ends up holding: the same
bytes as the project's `../shared/data/<folder>/` files (test splits are held out there, and here too).

Where: the folder `$TEXTLSTM_DATA_DIR`, else `$XDG_CACHE_HOME/textlstm`, else `~/.cache/textlstm`; corpus
NAME lives in its subfolder NAME. `TEXTLSTM_DATA_MIRROR=URL` fetches every file from `URL/NAME/FILE`
(`FILE` is `Download.name`: the file name in the official URL) instead of the official host: a local copy,
an institutional mirror, or the tests' loopback server.

How (every step leaves either nothing or a whole, checked result):

1. Each file is fetched into `DATA_DIR/.downloads/NAME/FILE.part`; an interrupted fetch (Ctrl-C, a dropped
   connection) keeps the `.part`, and the next call resumes it with an HTTP Range request (a server that
   ignores Range sends the file again). A network failure is one `TextlstmError` line naming the URL and
   the reason.
2. The complete `.part` is checked against its pinned SHA-256 before it is renamed to `FILE`; a mismatch
   deletes it and is one line naming the file, the expected and the actual hash.
3. The downloads are unpacked (plain, gz, zip, tar.gz; the char-LM texts are split 90/5/5 by character,
   War and Peace first loses its Project Gutenberg header and footer) into `DATA_DIR/.NAME.partial-PID/`;
   archive members with an absolute path or `..` are refused. Every resulting file is checked against its
   SHA-256 and a manifest (`.textlstm-data.json`) is written, then the folder is renamed to `DATA_DIR/NAME`
   and the downloads are deleted. A corpus whose folder and manifest match the catalogue is cached:
   downloading it again does nothing and says so.

Two downloads of the same corpus at the same time are not supported (they share the `.part` files).
Only the standard library is used (`urllib`, `hashlib`, `zipfile`, `tarfile`, `gzip`): importing this
module is instant and needs no TensorFlow.

Errors: every problem (unknown name, not downloaded, network, checksum, disk) raises `TextlstmError` with
one line.
"""

import contextlib
import difflib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from textlstm.datasets.catalog import CORPORA, Corpus, Download, File
from textlstm.datasets.fetch import Progress, fetch, sha256_of
from textlstm.datasets.unpack import unpack
from textlstm.errors import TextlstmError, naming_path

__all__ = ["CORPORA", "Corpus", "Download", "File", "corpus", "data_dir", "download", "is_cached", "path"]

MANIFEST = ".textlstm-data.json"  # in a corpus folder: what was downloaded, with the SHA-256 of each file
DOWNLOADS = ".downloads"  # in the data folder: the .part files and checked downloads not yet unpacked


def data_dir() -> Path:
    """The cache folder: `$TEXTLSTM_DATA_DIR`, else `$XDG_CACHE_HOME/textlstm`, else `~/.cache/textlstm`."""
    chosen = os.environ.get("TEXTLSTM_DATA_DIR")
    if chosen:
        return Path(chosen).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME")
    if cache and os.path.isabs(cache):  # the XDG spec: a relative value is ignored
        return Path(cache) / "textlstm"
    return Path.home() / ".cache" / "textlstm"


def corpus(name: str) -> Corpus:
    """The catalogue entry of corpus `name`; an unknown name raises `TextlstmError` listing the known ones."""
    for entry in CORPORA:
        if entry.name == name:
            return entry
    names = [entry.name for entry in CORPORA]
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise TextlstmError(f"unknown corpus {name!r}{hint}; known corpora: {', '.join(names)}")


def source_url(entry: Corpus, item: Download) -> str:
    """Where `item` is fetched from: `$TEXTLSTM_DATA_MIRROR/NAME/FILE` when that is set, else the official URL."""
    mirror = os.environ.get("TEXTLSTM_DATA_MIRROR")
    return f"{mirror.rstrip('/')}/{entry.name}/{item.name}" if mirror else item.url


def is_cached(name: str) -> bool:
    """Whether corpus `name` is downloaded: its folder holds the manifest of the catalogue's files, each of
    the right size (sizes only: the SHA-256s were checked when it was written)."""
    return _cache_state(corpus(name)) == "cached"


def path(name: str) -> Path:
    """The folder of downloaded corpus `name`. Raises `TextlstmError` (one line saying the command to run)
    when it is not downloaded."""
    entry = corpus(name)
    folder = data_dir() / entry.name
    state = _cache_state(entry)
    if state == "cached":
        return folder
    how = f"run: textlstm data download {entry.name}"
    if state == "absent":
        raise TextlstmError(f"corpus {entry.name} is not downloaded (no {folder}); {how}")
    raise TextlstmError(f"corpus {entry.name} in {folder} is incomplete or from another version of textlstm; {how}")


def download(name: str, echo: Callable[[str], None] | None = None, progress: Progress | None = None) -> Path:
    """Fetch, check and unpack corpus `name` unless it is cached; returns its folder.

    `echo(line)` is told what happens (the licence notice, each file); `progress(bytes, total)` is called as
    a file arrives (`total` None when unknown). Raises `TextlstmError` in one line on any failure (see the
    module docstring for what is kept for a later call).
    """
    echo = echo or (lambda line: None)
    entry = corpus(name)
    root = data_dir()
    folder = root / entry.name
    if _cache_state(entry) == "cached":
        echo(f"{entry.name} is already downloaded in {folder}; nothing to do")
        return folder
    echo(f"{entry.name}: {entry.notice}")
    staging = root / DOWNLOADS / entry.name
    with naming_path(staging, "write"):
        staging.mkdir(parents=True, exist_ok=True)
    try:
        for item in entry.downloads:
            _fetch_checked(entry, item, staging, echo, progress)
        _build(entry, staging, folder)
    finally:
        _remove_if_empty(staging)
        _remove_if_empty(root / DOWNLOADS)
    with contextlib.suppress(OSError):
        shutil.rmtree(staging)
        _remove_if_empty(root / DOWNLOADS)
    count = len(entry.files)
    echo(f"{entry.name}: {count} file{'s' if count > 1 else ''} in {folder}")
    return folder


def _cache_state(entry: Corpus) -> str:
    """ "cached", "absent" (no folder) or "stale" (a folder whose manifest or files do not match)."""
    folder = data_dir() / entry.name
    if not folder.is_dir():
        return "absent"
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        recorded = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return "stale"
    if recorded != {file.name: file.sha256 for file in entry.files}:
        return "stale"
    for file in entry.files:
        try:
            if (folder / file.name).stat().st_size != file.size:
                return "stale"
        except OSError:
            return "stale"
    return "cached"


def _fetch_checked(entry: Corpus, item: Download, staging: Path, echo, progress):
    """`staging/FILE`, fetched (resuming a `.part`) and checked against its SHA-256 unless already there."""
    done, part = staging / item.name, staging / f"{item.name}.part"
    if done.is_file() and (item.sha256 is None or sha256_of(done) == item.sha256):
        echo(f"  {item.name}: fetched earlier")
        return
    url = source_url(entry, item)
    resumed = part.stat().st_size if part.is_file() else 0
    echo(f"  {item.name}: {'resuming' if resumed else 'fetching'} {url}" + (f" at byte {resumed:,}" if resumed else ""))
    fetch(url, part, item.size, progress, _user_agent())
    if item.sha256 is not None:
        actual = sha256_of(part)
        if actual != item.sha256:
            part.unlink()
            raise TextlstmError(
                f"checksum mismatch for {item.name} from {url}: expected sha256 {item.sha256}, got {actual}; "
                "the file was deleted"
            )
    with naming_path(done, "write"):
        os.replace(part, done)


def _build(entry: Corpus, staging: Path, folder: Path):
    """Unpack every download of `staging` into a temp folder beside `folder`, check it, rename it to `folder`."""
    root = folder.parent
    for stale in [*root.glob(f".{entry.name}.partial-*"), *root.glob(f".{entry.name}.old-*")]:  # a killed run's
        shutil.rmtree(stale, ignore_errors=True)
    temp = root / f".{entry.name}.partial-{os.getpid()}"
    try:
        with naming_path(temp, "write"):
            temp.mkdir(parents=True)
            for item in entry.downloads:
                unpack(item.unpack, staging / item.name, tuple(f.name for f in item.files), item.members, temp)
                _check_files(item, staging, temp)
            manifest = {
                "corpus": entry.name,
                "files": {file.name: file.sha256 for file in entry.files},
                "sources": [source_url(entry, item) for item in entry.downloads],
            }
            (temp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
            old = root / f".{entry.name}.old-{os.getpid()}"
            if folder.exists():  # a stale or incomplete one: out of the way first (a folder cannot be replaced)
                os.rename(folder, old)
            os.rename(temp, folder)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def _check_files(item: Download, staging: Path, temp: Path):
    for file in item.files:
        actual = sha256_of(temp / file.name)
        if actual != file.sha256:
            if item.sha256 is None:  # the download was not pinned itself: it is the suspect, fetch it anew
                (staging / item.name).unlink(missing_ok=True)
            raise TextlstmError(
                f"checksum mismatch for {file.name} (from {item.name}): expected sha256 {file.sha256}, "
                f"got {actual}; nothing was kept"
            )


def _remove_if_empty(directory: Path):
    with contextlib.suppress(OSError):
        directory.rmdir()


def _user_agent() -> str:
    from textlstm import __version__

    return f"textlstm/{__version__} (+textlstm data download)"
