"""Turn a verified download into the corpus files it yields, inside a temporary folder.

One function per `Download.unpack` kind (see `textlstm.datasets.catalog.Download`). Archive members are
read by name and copied out byte for byte (never `extractall`): a member whose name is absolute or holds
`..`, and a tar member that is a link or a device, is refused with one `TextlstmError` line.
"""

import gzip
import shutil
import tarfile
import zipfile
from pathlib import Path, PurePosixPath, PureWindowsPath

from textlstm.errors import TextlstmError

CHUNK = 1 << 20
TRAIN_END, VALID_END = 0.9, 0.95  # the char-LM splits: train, valid, and the rest (test) held out


def unpack(kind: str, source: Path, names: tuple[str, ...], members: tuple[str, ...], into: Path):
    """Write `names` (file names) into the folder `into` from the download `source`, by `kind`."""
    if kind == "plain":
        shutil.copyfile(source, into / names[0])
    elif kind == "gz":
        with gzip.open(source, "rb") as packed, open(into / names[0], "wb") as out:
            shutil.copyfileobj(packed, out, CHUNK)
    elif kind == "zip":
        _unzip(source, dict(zip(members, names, strict=True)), into)
    elif kind == "tar.gz":
        _untar(source, dict(zip(members, names, strict=True)), into)
    elif kind == "split":
        _write_splits(source.read_bytes().decode("utf-8"), names, into)
    elif kind == "gutenberg-split":
        _write_splits(gutenberg_text(source.read_bytes().decode("utf-8-sig")), names, into)
    else:
        raise ValueError(f"unknown unpack kind {kind!r}")


def check_member_name(name: str, archive) -> None:
    """Refuse an archive member whose name is absolute or climbs out with `..` (one line naming both)."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or PureWindowsPath(name).drive or ".." in parts:
        raise TextlstmError(f"refusing archive member {name!r} of {archive}: an absolute path or '..'")


def _target(into: Path, name: str) -> Path:
    target = into / name
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _missing(archive, wanted) -> TextlstmError:
    return TextlstmError(f"{archive} lacks {', '.join(sorted(wanted))}: not the archive expected")


def _unzip(archive: Path, wanted: dict, into: Path):
    """Copy the members `wanted` (member name -> file name) of a zip file; every member name is checked."""
    try:
        with zipfile.ZipFile(archive) as packed:
            infos = packed.infolist()
            for info in infos:
                check_member_name(info.filename, archive)
            found = {info.filename: info for info in infos if info.filename in wanted}
            if len(found) < len(wanted):
                raise _missing(archive, set(wanted) - set(found))
            for member, info in found.items():
                with packed.open(info) as source, open(_target(into, wanted[member]), "wb") as out:
                    shutil.copyfileobj(source, out, CHUNK)
    except zipfile.BadZipFile as error:
        raise TextlstmError(f"{archive} is not a usable zip file: {error}") from None


def _untar(archive: Path, wanted: dict, into: Path):
    """Copy the regular-file members `wanted` of a gzip'd tar file; every member is checked."""
    try:
        with tarfile.open(archive, "r:gz") as packed:
            found = {}
            for member in packed:
                check_member_name(member.name, archive)
                if not (member.isfile() or member.isdir()):
                    raise TextlstmError(f"refusing archive member {member.name!r} of {archive}: not a regular file")
                if member.name in wanted and member.isfile():
                    found[member.name] = True
                    with packed.extractfile(member) as source, open(_target(into, wanted[member.name]), "wb") as out:
                        shutil.copyfileobj(source, out, CHUNK)
            if len(found) < len(wanted):
                raise _missing(archive, set(wanted) - set(found))
    except (tarfile.TarError, EOFError, OSError) as error:
        if isinstance(error, OSError) and error.errno is not None:
            raise
        raise TextlstmError(f"{archive} is not a usable tar.gz file: {error}") from None


def gutenberg_text(text: str) -> str:
    """The book inside a Project Gutenberg e-book: the lines between its "*** START OF" line and its "End of
    the Project Gutenberg" (or "*** END OF") line, less the blank lines at both ends, `\\n` line ends and one
    final newline. Raises `TextlstmError` when a marker is missing."""
    lines = text.replace("\r\n", "\n").split("\n")
    start = next((i for i, line in enumerate(lines) if line.startswith("*** START OF")), None)
    end = next(
        (i for i, line in enumerate(lines) if line.startswith(("End of the Project Gutenberg", "*** END OF"))), None
    )
    if start is None or end is None or end <= start:
        raise TextlstmError("not a Project Gutenberg e-book: its START and END marker lines were not found")
    body = lines[start + 1 : end]
    while body and not body[0].strip():
        body.pop(0)
    while body and not body[-1].strip():
        body.pop()
    return "\n".join(body) + "\n"


def split_points(length: int) -> tuple[int, int]:
    """Where train ends and valid ends in a text of `length` characters: int(0.9 N), int(0.95 N)."""
    return int(TRAIN_END * length), int(VALID_END * length)


def _write_splits(text: str, names: tuple[str, ...], into: Path):
    """`names[0]` = the first 90% of the characters, `names[1]` = the next 5%, as UTF-8 (line ends as they are)."""
    n1, n2 = split_points(len(text))
    for name, piece in zip(names, (text[:n1], text[n1:n2]), strict=True):
        (into / name).write_bytes(piece.encode("utf-8"))
