"""Reading users' text files, with one clear error for each way a file can be unusable.

Training on a binary file or a Latin-1 file decoded with replacement characters wastes
hours before anyone notices, so text is decoded strictly as UTF-8 and refused with the
offending byte and offset. UTF-8 byte-order marks are dropped and Windows line endings
become "\\n", so the same corpus gives the same vocabulary on every platform.
"""

import os
import pathlib
import sys
from collections.abc import Sequence

from textlstm.errors import UserError, describe_os_error, no_such_file

_BOM = "\ufeff"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def check_not_binary(data: bytes, name: str):
    """Refuse UTF-16 text and binary data (a NUL byte) in one line naming `name` and the offset."""
    if data.startswith(_UTF16_BOMS):
        raise UserError(
            f"{name} is UTF-16 encoded; textlstm reads UTF-8 text, convert it first (e.g. iconv -f UTF-16 -t UTF-8)"
        )
    nul = data.find(b"\x00")
    if nul >= 0:
        raise UserError(f"{name} looks like a binary file (NUL byte at offset {nul}), not text")


def strip_byte_order_marks(text: str) -> str:
    """Text without U+FEFF: the byte-order mark that editors put at the start of a file, and
    that `cat a.txt b.txt` carries into the middle; it is never a character of the text."""
    return text.replace(_BOM, "") if _BOM in text else text


def _decode(data: bytes, name: str) -> str:
    """Strict UTF-8 decoding of a whole file's bytes; `name` is used in error messages.

    Binary data and UTF-16 are refused, byte-order marks dropped, "\\r\\n" becomes "\\n".
    """
    check_not_binary(data, name)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise UserError(
            f"{name} is not valid UTF-8 (byte 0x{data[error.start]:02x} at offset {error.start}, line {line})"
        ) from None
    return strip_byte_order_marks(text).replace("\r\n", "\n")


def check_text(text: str, name: str, from_os: bool = False) -> str:
    """`text` if every character of it can be written as UTF-8; else one `UserError` naming `name`
    (an argument, option or key), what the character is and where (character N, or line and column
    of a text of several lines).

    The characters refused are lone surrogates (U+D800..U+DFFF): JSON and Python string escapes
    can make them ("\\ud800"), and Python turns each byte of a command-line argument that is
    not UTF-8 into one of U+DC80..U+DCFF (`from_os=True` reports those as the byte). Left in,
    they end in SentencePiece, TensorFlow or the JSON writer as a TypeError or UnicodeEncodeError.
    """
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError as error:
        position, code = error.start, ord(text[error.start])
    if from_os and 0xDC80 <= code <= 0xDCFF:
        what = f"the byte 0x{code - 0xDC00:02x}, which is not UTF-8"
    else:
        what = f"a lone surrogate U+{code:04X}, which is no character"
    if "\n" in text:
        line_start = text.rfind("\n", 0, position) + 1
        where = f"line {text.count(chr(10), 0, position) + 1}, column {position - line_start + 1}"
    else:
        where = f"character {position + 1}"
    raise UserError(f"{name} is not valid Unicode text: {what}, at {where}")


def check_input_path(path, *, directory_ok: bool = False) -> pathlib.Path:
    """`path` as a `pathlib.Path` if it exists (a directory only when `directory_ok`); else one
    `UserError` ("no such file: PATH", or "PATH is a directory, expected a text file")."""
    path = pathlib.Path(path)
    if not path.exists():
        raise no_such_file(path)
    if path.is_dir() and not directory_ok:
        raise UserError(f"{path} is a directory, expected a text file")
    return path


def _open_text_file(path):
    """Open one text file for binary reading; a missing path, a directory or an OS error
    is one `UserError` naming it."""
    path = check_input_path(path)
    try:
        return open(path, "rb")
    except OSError as error:
        raise UserError(describe_os_error(error, "read", path)) from None


def _read_file(path) -> str:
    """Read and decode one file; empty files are allowed here."""
    path = pathlib.Path(path)
    with _open_text_file(path) as handle:
        try:
            data = handle.read()
        except OSError as error:
            raise UserError(describe_os_error(error, "read", path)) from None
    return _decode(data, str(path))


def _require_content(text: str, name) -> str:
    if not text.strip():
        raise UserError(f"{name} is empty")
    return text


def read_text_file(path) -> str:
    """The whole file as text; missing, empty, binary or non-UTF-8 files are a `UserError`."""
    return _require_content(_read_file(path), path)


def read_lines(path, *, allow_empty: bool = False) -> list[str]:
    """The file's lines without their newlines.

    Lines end only at "\\n" (after "\\r\\n" is normalised), unlike `str.splitlines`, which
    also breaks at form feeds and Unicode separators and would misalign parallel corpora.
    """
    text = _read_file(path)
    if not allow_empty:
        _require_content(text, path)
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it does not start a new one
    return lines


def _files_below(directory: pathlib.Path) -> list[pathlib.Path]:
    """Regular files under `directory`, recursively, sorted, skipping hidden names."""
    found = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = [name for name in dirs if not name.startswith(".")]
        for name in files:
            candidate = pathlib.Path(root, name)
            if not name.startswith(".") and candidate.is_file():
                found.append(candidate)
    return sorted(found, key=lambda p: p.relative_to(directory).parts)


def read_text_sources(paths: Sequence[str]) -> list[tuple[str, str]]:
    """(path, text) for every file named or found below a named directory, in a fixed order.

    Files come in the order the paths were given; a directory contributes its files
    sorted by relative path. Any unreadable file is an error naming it.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not paths:
        raise UserError("no text files given")
    sources = []
    for given in paths:
        path = pathlib.Path(given)
        if path.is_dir():
            files = _files_below(path)
            if not files:
                raise UserError(f"{path} holds no text files")
        else:
            files = [path]
        sources.extend((str(file), read_text_file(file)) for file in files)
    return sources


def open_text_stream(path_or_dash, *, allow_empty: bool = False) -> str:
    """The text of a file, or of standard input for "-", with the same checks as a file.

    `allow_empty=True` accepts text with no content (e.g. only empty lines to translate).
    """
    if str(path_or_dash) != "-":
        return _read_file(path_or_dash) if allow_empty else read_text_file(path_or_dash)
    stream = getattr(sys.stdin, "buffer", None)
    if stream is not None:
        text = _decode(stream.read(), "<stdin>")
    else:  # a text-only stdin (some test harnesses): it is already decoded
        text = strip_byte_order_marks(sys.stdin.read()).replace("\r\n", "\n")
    return text if allow_empty else _require_content(text, "<stdin>")


def is_empty_input(path_or_dash) -> bool:
    """True for an existing regular file (not stdin) that holds no text but whitespace and
    byte-order marks; missing or unreadable files are False here and fail where they are read."""
    if path_or_dash is None or str(path_or_dash) == "-":
        return False
    path = pathlib.Path(path_or_dash)
    try:
        if not path.is_file() or path.stat().st_size > 4096:
            return False
        return not strip_byte_order_marks(path.read_bytes().decode("utf-8", "replace")).strip()
    except OSError:
        return False


def empty_input_note(source, verb) -> str:
    """The note `tag`, `translate` and `evaluate` print on stderr for an empty input (they
    then write nothing to stdout and exit 0)."""
    return f"note: {source} is empty; nothing to {verb}"


# --- streaming: files larger than memory ------------------------------------------------------

PIECE_BYTES = 4 << 20  # bytes read at a time when streaming a corpus (a piece's work needs ~15x that)


class TextPiece:
    """A byte range of a text file that decodes on its own (it starts and ends between
    characters and never between "\\r" and "\\n"); `text()` reads and decodes it again.
    With `path=None` it holds a literal text (a separator, or an in-memory corpus)."""

    def __init__(self, path=None, start=0, end=0, at_file_start=False, literal=""):
        self.path, self.start, self.end, self.at_file_start, self.literal = path, start, end, at_file_start, literal

    def text(self) -> str:
        if self.path is None:
            return self.literal
        with open(self.path, "rb") as handle:
            handle.seek(self.start)
            data = handle.read(self.end - self.start)
        return _normalize_piece(data.decode("utf-8"), self.at_file_start)


def _normalize_piece(text: str, at_file_start: bool) -> str:
    """What `_decode` does to a whole file, for one piece of it (every byte-order mark goes,
    wherever it is, so `at_file_start` makes no difference now)."""
    return strip_byte_order_marks(text).replace("\r\n", "\n")


def _safe_cut(block: bytes) -> int:
    """Where to end a piece within `block` (more bytes follow): before a character split across
    the block's end, and before a final "\\r" that may start "\\r\\n"."""
    cut = len(block)
    back = cut
    while back > 0 and cut - back < 4 and (block[back - 1] & 0xC0) == 0x80:
        back -= 1  # continuation bytes of a multi-byte character
    if back > 0 and block[back - 1] >= 0xC0:
        cut = back - 1  # the character's lead byte: it goes to the next piece, whole
    if cut > 0 and block[cut - 1] == 0x0D:
        cut -= 1
    return cut if cut > 0 else len(block)


def stream_text_file(path, piece_bytes=None):
    """`(TextPiece, text)` for consecutive pieces of one file, with `read_text_file`'s checks
    done on the way (missing, directory, UTF-16, binary, invalid UTF-8 with offset and line,
    empty), each a `UserError` naming the file; the texts joined equal `read_text_file(path)`."""
    piece_bytes = piece_bytes or PIECE_BYTES
    path = pathlib.Path(path)
    with _open_text_file(path) as handle:
        offset, lines, carry, content = 0, 0, b"", False
        while True:
            try:
                block = carry + handle.read(piece_bytes)
            except OSError as error:
                raise UserError(describe_os_error(error, "read", path)) from None
            at_end = len(block) == len(carry)
            if not block:
                break
            if offset == 0 and block.startswith(_UTF16_BOMS):
                raise UserError(
                    f"{path} is UTF-16 encoded; textlstm reads UTF-8 text, "
                    "convert it first (e.g. iconv -f UTF-16 -t UTF-8)"
                )
            cut = len(block) if at_end else _safe_cut(block)
            data, carry = block[:cut], block[cut:]
            nul = data.find(b"\x00")
            if nul >= 0:
                raise UserError(f"{path} looks like a binary file (NUL byte at offset {offset + nul}), not text")
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as error:
                line = lines + data.count(b"\n", 0, error.start) + 1
                raise UserError(
                    f"{path} is not valid UTF-8 (byte 0x{data[error.start]:02x} at offset "
                    f"{offset + error.start}, line {line})"
                ) from None
            text = _normalize_piece(text, offset == 0)
            content = content or bool(text.strip())
            yield TextPiece(str(path), offset, offset + cut, offset == 0), text
            offset, lines = offset + cut, lines + data.count(b"\n")
            if at_end and not carry:
                break
    if not content:
        raise UserError(f"{path} is empty")


def stream_text_sources(paths, piece_bytes=None):
    """`(TextPiece, text)` over every file named or found below a named directory, in
    `read_text_sources`'s order, with a "\\n" piece between files: the texts joined equal
    `"\\n".join` of that function's texts, without holding more than a piece in memory."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not paths:
        raise UserError("no text files given")
    first = True
    for given in paths:
        path = pathlib.Path(given)
        files = _files_below(path) if path.is_dir() else [path]
        if path.is_dir() and not files:
            raise UserError(f"{path} holds no text files")
        for file in files:
            if not first:
                yield TextPiece(literal="\n"), "\n"
            first = False
            yield from stream_text_file(file, piece_bytes)
