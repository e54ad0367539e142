"""HTTP downloads that resume: a `.part` file grown with Range requests, then checked against its SHA-256.

Only the standard library (`urllib`). A server that ignores Range (answers 200) restarts the file; a
connection cut in the middle of a body is retried from where it stopped while each try makes progress.
"""

import contextlib
import hashlib
import http.client
import os
import re
import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from textlstm.errors import TextlstmError, describe_os_error

CHUNK = 1 << 20  # bytes read and written at a time
TIMEOUT_S = 60  # a server silent this long counts as a network error
ATTEMPTS = 3  # tries in one call while each brings new bytes

Progress = Callable[[int, int | None], None]  # (bytes in the .part, bytes expected or None)


class NetworkError(Exception):
    """The server could not be reached or stopped sending; `reason` says why, in words."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def sha256_of(path, chunk: int = CHUNK) -> str:
    """The SHA-256 of a file, hex, read `chunk` bytes at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(url: str, part: Path, size: int | None = None, progress: Progress | None = None, user_agent: str = ""):
    """Grow `part` until it holds the whole of `url` (`size` bytes where known).

    An existing `part` is resumed with `Range: bytes=N-`. Raises `TextlstmError` in one line: a network
    failure names the URL and the reason and keeps `part` for a later call; an HTTP error (404, ...)
    likewise; a failure to write names `part`.
    """
    reason = None
    for _ in range(ATTEMPTS):
        before = _size(part)
        if size is not None and before == size:
            return
        try:
            _fetch_once(url, part, size, progress, user_agent)
            return
        except NetworkError as error:
            reason = error.reason
        except urllib.error.HTTPError as error:
            if error.code == 416 and _size(part):  # the .part is not a prefix the server recognises: start again
                part.unlink()
                continue
            reason = f"HTTP {error.code} {error.reason}"
            break
        if _size(part) <= before:  # no progress: trying again at once would fail the same way
            break
    kept = _size(part)
    keep = f"; {kept:,} bytes kept in {part}, run the same command again to resume" if kept else ""
    mirror = (
        ""
        if kept or os.environ.get("TEXTLSTM_DATA_MIRROR")
        else " (no network here? TEXTLSTM_DATA_MIRROR=URL reads the same files from a mirror)"
    )
    raise TextlstmError(f"cannot download {url}: {reason}{keep}{mirror}")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _fetch_once(url, part: Path, size, progress, user_agent):
    offset = _size(part)
    if size is not None and offset > size:  # longer than the file can be: not a prefix of it
        part.unlink()
        offset = 0
    request = urllib.request.Request(url, headers={"User-Agent": user_agent or "textlstm"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError:
        raise
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        raise NetworkError(_reason(error)) from None
    with response:
        status = getattr(response, "status", 200)
        if offset and status == 206:
            start = _content_range_start(response.headers.get("Content-Range", ""))
            if start != offset:
                raise NetworkError(f"the server answered a request for bytes {offset}- with bytes {start}-")
        elif offset:  # 200 (Range ignored, or a file:// URL): the whole file comes again
            offset = 0
        length = response.headers.get("Content-Length")
        expected = offset + int(length) if length and length.isdigit() else size
        written = _copy_body(response, part, offset, expected, progress)
    if expected is not None and written < expected:
        raise NetworkError(f"the connection closed after {written:,} of {expected:,} bytes")


def _copy_body(response, part: Path, offset: int, expected, progress) -> int:
    """Write the body after the first `offset` bytes of `part`; returns the bytes `part` then holds."""
    try:
        handle = open(part, "r+b" if offset else "wb")
    except OSError as error:
        raise TextlstmError(describe_os_error(error, "write", part)) from None
    with handle:
        handle.seek(offset)
        handle.truncate()
        written = offset
        while True:
            try:
                block = response.read(CHUNK)
            except (http.client.HTTPException, OSError) as error:  # IncompleteRead, reset, timeout
                raise NetworkError(_reason(error)) from None
            if not block:
                break
            try:
                handle.write(block)
            except OSError as error:
                raise TextlstmError(describe_os_error(error, "write", part)) from None
            written += len(block)
            if progress is not None:
                progress(written, expected)
        with contextlib.suppress(OSError):
            handle.flush()
            os.fsync(handle.fileno())
    return written


def _content_range_start(header: str) -> int | None:
    found = re.match(r"\s*bytes\s+(\d+)-", header)
    return int(found.group(1)) if found else None


def _reason(error: BaseException) -> str:
    """The reason of a network failure in words: "Connection refused", "timed out", ..."""
    if isinstance(error, http.client.IncompleteRead):
        return f"the connection closed after {len(error.partial):,} more bytes"
    if isinstance(error, urllib.error.URLError):
        if not isinstance(error.reason, BaseException):
            return str(error.reason)
        error = error.reason
    if isinstance(error, socket.timeout | TimeoutError):
        return f"no answer in {TIMEOUT_S} s"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve the host name ({error.strerror or error})"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__
