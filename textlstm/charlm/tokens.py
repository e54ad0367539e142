"""The char LM's corpus as a token file in the run directory, read on demand.

Corpora larger than memory: the text files are read piece by piece (`textio.stream_text_sources`,
4 MB at a time) and never held whole. A first pass checks every file (bad bytes are reported
with file, offset and line before anything is written) and counts the characters; the
vocabulary follows from the training part's counts exactly as `CharVocabulary.from_text` would
give it; a second pass encodes the text into `tokens.bin` (uint8 for a vocabulary of at most
256 entries, else uint16 or uint32), training part first, then the validation part.
`tokens.json` records the layout and the data settings it was made from, so `--resume` reuses
the file. A backward LM (`data.direction = "backward"`) gets the same file with the training
part and the validation part each reversed in place (`reverse_in_place`), so everything that
reads windows is the same for both directions. Training windows are read from it on demand
(`TokenFile`): memory does not grow with the corpus.

Token ids, the train/validation split and so the data order are those of the in-memory
pipeline they replace: the same text (files joined by "\\n"), the same cut (the end of the text is
held out), the same vocabulary order (frequency, then character).
"""

import dataclasses
import json
import math
import os
import sys
import time
import weakref
from pathlib import Path

import numpy as np

from textlstm.charlm import subword
from textlstm.charlm.corpus import UNKNOWN, CharVocabulary, default_corpus, is_backward
from textlstm.errors import UserError
from textlstm.files import _temp_beside, atomic_write_json
from textlstm.textio import TextPiece, stream_text_file, stream_text_sources

TOKENS_FILE = "tokens.bin"
TOKENS_INFO = "tokens.json"
FORMAT = 1
UNICODE_SIZE = 0x110000
PROGRESS_BYTES = 64 << 20  # corpora from this size on show progress on stderr


class TokenFile:
    """Ids of a token file, read on demand with positional reads (`os.pread`), never held whole.

    Not a memory map on purpose: the pages a map touches count in the process's memory, and
    random training windows touch (with the kernel's large page-cache folios) most of the file
    within a few thousand windows, so a 1 GB corpus showed up as 1 GB more RSS. Reads here go
    through the page cache without being mapped. Slicing (`ids[a:b]`) gives a view; NumPy
    functions see the ids as an array (`np.asarray(ids)` reads them).
    """

    def __init__(self, path, dtype, size, start=0, _handle=None):
        self.path, self.dtype, self.start, self.size = str(path), np.dtype(dtype), int(start), int(size)
        if _handle is None:
            _handle = os.open(self.path, os.O_RDONLY)
            weakref.finalize(self, os.close, _handle)
        self._handle = _handle
        self._owner = None  # a view keeps the file it came from (and so its open handle) alive

    def __len__(self):
        return self.size

    def __getitem__(self, key):
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("a TokenFile takes slices with step 1; read() gives an array")
        first, stop, _ = key.indices(self.size)
        view = TokenFile(self.path, self.dtype, max(stop - first, 0), self.start + first, self._handle)
        view._owner = self._owner or self
        return view

    def read(self, first=0, stop=None):
        """Ids `first` to `stop` (default: the end) as an array."""
        stop = self.size if stop is None else min(stop, self.size)
        count = max(stop - first, 0)
        data = os.pread(self._handle, count * self.dtype.itemsize, (self.start + first) * self.dtype.itemsize)
        return np.frombuffer(data, dtype=self.dtype, count=count)

    def windows(self, starts, length):
        """`[len(starts), length]` int32: the ids from each of `starts` (ids, not window numbers)."""
        starts = np.asarray(starts, np.int64)
        if len(starts) > 1 and np.all(np.diff(starts) == length - 1):  # back to back: one read
            block = self.read(int(starts[0]), int(starts[-1]) + length).astype(np.int32)
            return np.lib.stride_tricks.sliding_window_view(block, length)[:: length - 1][: len(starts)].copy()
        return np.stack([self.read(int(s), int(s) + length) for s in starts]).astype(np.int32)

    def __array__(self, dtype=None, copy=None):
        ids = self.read()
        return ids if dtype is None else ids.astype(dtype)


def token_dtype(vocab_size):
    """The narrowest unsigned type that holds every id of a vocabulary of `vocab_size` entries."""
    if vocab_size <= 1 << 8:
        return np.uint8
    return np.uint16 if vocab_size <= 1 << 16 else np.uint32


def code_points(text):
    """The text's characters as Unicode code points (uint32), without a Python loop."""
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4")


@dataclasses.dataclass
class Scan:
    """What the first pass learned: the pieces in order, each piece's length in characters
    and its character counts (sparse: code points, counts)."""

    pieces: list
    lengths: list
    counts: list
    description: str

    @property
    def chars(self):
        return int(sum(self.lengths))


def _progress(label, done_bytes, total_bytes, started):
    """A progress line on stderr for corpora of PROGRESS_BYTES and more: updated in place on a
    terminal, written once at the end otherwise (logs stay short)."""
    if total_bytes < PROGRESS_BYTES:
        return
    rate = done_bytes / max(time.perf_counter() - started, 1e-9) / 1e6
    line = f"{label}: {done_bytes / 1e6:,.0f} / {total_bytes / 1e6:,.0f} MB ({rate:.0f} MB/s)"
    if sys.stderr.isatty():
        print(f"\r{line}", end="\n" if done_bytes >= total_bytes else "", file=sys.stderr, flush=True)
    elif done_bytes >= total_bytes:
        print(line, file=sys.stderr, flush=True)


def _total_bytes(paths):
    total = 0
    for given in paths:
        path = Path(given)
        files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
        total += sum(p.stat().st_size for p in files if p.exists())
    return total


def scan(pieces, description="", total_bytes=0, label="reading corpus"):
    """First pass over `(TextPiece, text)`: checks (raised by the stream) and counts."""
    result, done, started = Scan([], [], [], description), 0, time.perf_counter()
    for piece, text in pieces:
        codes = code_points(text)
        histogram = np.zeros(int(codes.max()) + 1 if len(codes) else 0, np.int64)
        for start in range(0, len(codes), 1 << 20):  # bincount copies its input to int64: 1M at a time
            part = np.bincount(codes[start : start + (1 << 20)])
            histogram[: len(part)] += part
        present = np.flatnonzero(histogram)
        result.pieces.append(piece)
        result.lengths.append(len(codes))
        result.counts.append((present.astype(np.uint32), histogram[present]))
        done += piece.end - piece.start
        _progress(label, done, total_bytes, started)
    return result


def scan_sources(paths):
    """The first pass over the training files (or the built-in corpus when there are none)."""
    if not paths:
        text = default_corpus()
        return scan([(TextPiece(literal=text), text)], "the Python standard library's source (built-in corpus)")
    shown = ", ".join(str(p) for p in paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    return scan(stream_text_sources(paths), shown, _total_bytes(paths))


def vocabulary_of(scan_result, chars):
    """`CharVocabulary.from_text` of the first `chars` characters of the scanned text."""
    totals = np.zeros(UNICODE_SIZE, np.int64)
    seen = 0
    for piece, length, (codes, counts) in zip(scan_result.pieces, scan_result.lengths, scan_result.counts):
        if seen + length <= chars:
            totals[codes] += counts
        elif seen < chars:  # the piece the cut falls in: count its first part again
            head = code_points(piece.text())[: chars - seen]
            np.add.at(totals, head, 1)
        seen += length
    present = np.flatnonzero(totals)
    order = sorted((chr(code) for code in present if chr(code) != UNKNOWN), key=lambda c: (-totals[ord(c)], c))
    return CharVocabulary([UNKNOWN] + order)


def valid_cut(chars, valid_fraction):
    """Where the text of `chars` characters is cut: the last `valid_fraction` of it (rounded up) is
    held out for validation (not random windows, so no overlap leaks into training)."""
    if not 0.0 < valid_fraction < 1.0:
        raise UserError(f"data.valid_fraction must be between 0 and 1, got {valid_fraction}")
    return chars - math.ceil(chars * valid_fraction)


class Encoder:
    """Characters to ids of `vocab` (unknown characters to its unknown entry), remembering the
    unknown characters it met."""

    def __init__(self, vocab):
        self.dtype = token_dtype(len(vocab))
        self.table = np.full(UNICODE_SIZE, vocab.unknown_id, dtype=self.dtype)
        self.table[[ord(char) for char in vocab.chars]] = np.arange(len(vocab), dtype=self.dtype)
        self.unknown_id = vocab.unknown_id
        self.unknown = set()

    def __call__(self, text):
        codes = code_points(text)
        ids = self.table[codes]
        missing = codes[(ids == self.unknown_id) & (codes != ord(UNKNOWN))]
        if len(missing):
            self.unknown.update(chr(code) for code in np.unique(missing))
        return ids

    def flush(self):
        """The ids still held back at the end of a text: none (see `SubwordEncoder`)."""
        return np.zeros(0, self.dtype)


class SubwordEncoder:
    """Texts to piece ids for the token file (`tokens.write_tokens`). The text of consecutive
    calls is one text: everything after its last newline waits for the next call (or `flush`),
    so the 4 MB pieces a corpus is read in never cut a word (SentencePiece segments each
    stretch between spaces and newlines on its own)."""

    def __init__(self, vocab):
        self.vocab, self.dtype, self.unknown, self.carry = vocab, token_dtype(len(vocab)), set(), ""

    def __call__(self, text):
        text = self.carry + text
        cut = text.rfind("\n") + 1
        self.carry = text[cut:]
        return self._encode(text[:cut])

    def flush(self):
        text, self.carry = self.carry, ""
        return self._encode(text)

    def _encode(self, text):
        return np.asarray(self.vocab.processor.encode(text), dtype=self.dtype) if text else np.zeros(0, self.dtype)


def make_encoder(vocab):
    """The encoder of `vocab`'s units: `Encoder` for characters, `SubwordEncoder` for pieces."""
    if getattr(vocab, "unit", "char") == "subword":
        return SubwordEncoder(vocab)
    return Encoder(vocab)


def write_tokens(path, texts, encoder, total_bytes=0, label="encoding corpus", reverse=False):
    """Encode every text of the iterable `texts` of `(piece, text)` into `path`, atomically;
    returns `(ids written, ids per part)` where a part ends at each `None` item (the encoder
    gives what it held back at each part's end: `flush`).

    With `reverse` (a backward LM), each part is then reversed in place (`reverse_in_place`)
    before the file takes its name, so the file holds every part read from its end to its start.
    """
    written, parts, done, started = 0, [], 0, time.perf_counter()
    with _temp_beside(Path(path), ".bin") as temp:
        with open(temp, "w+b") as handle:
            part = 0
            for item in _ending_with_none(texts):
                ids = encoder.flush() if item is None else encoder(item[1])
                handle.write(ids.tobytes())
                written += len(ids)
                part += len(ids)
                if item is None:
                    parts.append(part)
                    part = 0
                    continue
                done += item[0].end - item[0].start
                _progress(label, done, total_bytes, started)
            handle.flush()
            if reverse:
                bounds = np.cumsum([0, *parts]).tolist()
                for first, stop in zip(bounds, bounds[1:]):
                    reverse_in_place(handle.fileno(), encoder.dtype, first, stop)
            os.fsync(handle.fileno())
    return written, parts


def _ending_with_none(items):
    yield from items
    yield None


def reverse_in_place(handle, dtype, first, stop, block=1 << 20):
    """Reverse the ids `first` to `stop` of the open token file `handle` (a file descriptor
    opened for reading and writing) in place, swapping blocks of at most `block` ids from both
    ends: memory stays at two blocks whatever the file's size."""
    itemsize = np.dtype(dtype).itemsize
    low, high = first, stop
    while high - low > 1:
        count = min(block, (high - low) // 2)
        head = np.frombuffer(os.pread(handle, count * itemsize, low * itemsize), dtype)
        tail = np.frombuffer(os.pread(handle, count * itemsize, (high - count) * itemsize), dtype)
        os.pwrite(handle, tail[::-1].tobytes(), low * itemsize)
        os.pwrite(handle, head[::-1].tobytes(), (high - count) * itemsize)
        low, high = low + count, high - count


def _data_key(data):
    """The data settings a token file was made from: reused on resume only when they match."""
    key = {
        "paths": [str(p) for p in data["paths"]],
        "valid": str(data["valid"] or ""),
        "valid_fraction": float(data["valid_fraction"]) if not data["valid"] else None,
    }
    if data.get("direction", "forward") != "forward":  # absent for forward: older token files still match
        key["direction"] = data["direction"]
    if data.get("unit", "char") != "char":  # likewise absent for characters
        key["unit"], key["vocab_size"] = data["unit"], int(data["vocab_size"])
    return key


@dataclasses.dataclass
class TokenCorpus:
    """The training and validation ids of a run, read on demand from its token file (`TokenFile`).
    `train_chars` and `valid_chars` count ids: characters, or pieces for subword units."""

    tokens: np.ndarray
    train_chars: int
    valid_chars: int
    description: str
    unknown_valid_chars: list
    text_chars: tuple = (0, 0)  # characters of the training and validation text (the ids are pieces for subwords)

    @property
    def train(self):
        return self.tokens[: self.train_chars]

    @property
    def valid(self):
        return self.tokens[self.train_chars : self.train_chars + self.valid_chars]

    @classmethod
    def open(cls, run, vocab_size, data=None):
        """The run's token file, or None when there is none, it does not match `data`'s settings,
        or it is damaged (then it is made again)."""
        try:
            info = json.loads(run.file(TOKENS_INFO).read_text(encoding="utf-8"))
            dtype = np.dtype(info["dtype"])
            size = info["train_chars"] + info["valid_chars"]
            if (
                info.get("format") != FORMAT
                or info["vocab_size"] != vocab_size
                or dtype != token_dtype(vocab_size)
                or run.file(TOKENS_FILE).stat().st_size != size * dtype.itemsize
                or (data is not None and info["data"] != _data_key(data))
            ):
                return None
        except (OSError, ValueError, KeyError, TypeError):
            return None
        tokens = TokenFile(run.file(TOKENS_FILE), dtype, size)
        return cls(
            tokens,
            info["train_chars"],
            info["valid_chars"],
            info.get("description", ""),
            info.get("unknown_valid_chars", []),
            tuple(info.get("text_chars", (info["train_chars"], info["valid_chars"]))),
        )


def scan_corpus(data):
    """First pass over the training text and, when `data.valid` names one, the validation file:
    every check, and the counts. Returns `(train scan, valid scan or None)`."""
    train = scan_sources(data["paths"])
    valid = scan(stream_text_file(data["valid"]), str(data["valid"])) if data["valid"] else None
    return train, valid


def split_of(data, train_scan):
    """`(training characters, validation characters)` of the scanned text."""
    if data["valid"]:
        return train_scan.chars, None
    cut = valid_cut(train_scan.chars, data["valid_fraction"])
    return cut, train_scan.chars - cut


def part_texts(data, train_scan, valid_scan):
    """`(piece, text)` of the training part, `None`, then those of the validation part (the
    end of the training text, or the validation file): the second pass's input."""
    train_chars, _ = split_of(data, train_scan)
    seen = 0
    for piece in train_scan.pieces:
        text = piece.text()
        if valid_scan is None and seen <= train_chars < seen + len(text):  # the cut: the validation part starts
            yield piece, text[: train_chars - seen]
            yield None
            yield TextPiece(), text[train_chars - seen :]
        else:
            yield piece, text
        seen += len(text)
    if valid_scan is not None:
        yield None
        for piece in valid_scan.pieces:
            yield piece, piece.text()


def ids_at_least(vocab, data, train_scan, valid_scan, train_chars, valid_chars, batch_ids):
    """`(training ids, validation ids)`, or lower bounds of them (a piece has at most
    `subword.MAX_PIECE_CHARS` characters) where those already show one batch of `batch_ids` and one
    window fit; else counted exactly by encoding (then the text is small)."""
    from textlstm.charlm.data import evaluation_window  # not at the top: that module imports TensorFlow

    train_ids, valid_ids = -(-train_chars // subword.MAX_PIECE_CHARS), -(-valid_chars // subword.MAX_PIECE_CHARS)
    if train_ids > batch_ids and valid_ids > evaluation_window(data):
        return train_ids, valid_ids
    encoder, counts = SubwordEncoder(vocab), [0]
    for item in part_texts(data, train_scan, valid_scan):
        if item is None:
            counts[-1] += len(encoder.flush())
            counts.append(0)
        else:
            counts[-1] += len(encoder(item[1]))
    counts[-1] += len(encoder.flush())
    return counts[0], counts[1]


def build_token_file(run, data, vocab, train_scan, valid_scan):
    """Second pass: encode the scanned text with `vocab` (characters or pieces) into the run's
    token file, the training part and the validation part each on its own."""
    encoder = make_encoder(vocab)
    train_chars, valid_chars = split_of(data, train_scan)
    valid_chars = valid_scan.chars if valid_scan is not None else valid_chars
    texts = lambda: part_texts(data, train_scan, valid_scan)  # noqa: E731
    total = sum(p.end - p.start for p in train_scan.pieces) + (
        sum(p.end - p.start for p in valid_scan.pieces) if valid_scan else 0
    )
    backward = is_backward({"data": data})  # the training and validation parts each read end to start
    written, (train_ids, valid_ids) = write_tokens(run.file(TOKENS_FILE), texts(), encoder, total, reverse=backward)
    tokens = TokenFile(run.file(TOKENS_FILE), encoder.dtype, written)
    unknown = sorted(encoder.unknown)  # the training part has none: the vocabulary is its own
    atomic_write_json(
        run.file(TOKENS_INFO),
        {
            "format": FORMAT,
            "dtype": np.dtype(encoder.dtype).name,
            "vocab_size": len(vocab),
            "train_chars": int(train_ids),
            "valid_chars": int(valid_ids),
            "data": _data_key(data),
            "description": train_scan.description,
            "unknown_valid_chars": unknown,
            "direction": data.get("direction", "forward"),
            "unit": data.get("unit", "char"),
            "text_chars": [int(train_chars), int(valid_chars)],
        },
    )
    return TokenCorpus(
        tokens, int(train_ids), int(valid_ids), train_scan.description, unknown, (int(train_chars), int(valid_chars))
    )
