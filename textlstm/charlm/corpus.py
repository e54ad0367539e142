"""Text in, characters out: the built-in corpus and the vocabulary (the corpus on disk: `tokens.py`)."""

import json
import pathlib
import sysconfig
from collections import Counter

import numpy as np

from textlstm.errors import UserError
from textlstm.rundir import atomic_write_json

DEFAULT_CORPUS_CHARS = 2_000_000  # ~2 MB: enough to learn from, small enough for minutes on a laptop
UNKNOWN = "\ufffd"  # stands for any character never seen in training


def default_corpus(max_chars=DEFAULT_CORPUS_CHARS):
    """The Python standard library's own top-level source files, sorted by name and capped.

    Every machine with textlstm installed has them, they are real text written by people,
    and reading them sorted makes the corpus the same on every run of one Python version.
    """
    stdlib = pathlib.Path(sysconfig.get_paths()["stdlib"])
    pieces, total = [], 0
    for path in sorted(stdlib.glob("*.py")):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        pieces.append(text)
        total += len(text)
        if total >= max_chars:
            break
    text = "".join(pieces)[:max_chars]
    if len(text) < 1_000_000:
        raise UserError(f"the built-in corpus at {stdlib} has only {len(text)} characters; pass --data FILE")
    return text


class CharVocabulary:
    """Characters of the training text, by frequency, with one entry for unknown characters."""

    def __init__(self, chars):
        self.chars = list(chars)
        if UNKNOWN not in self.chars:
            self.chars.insert(0, UNKNOWN)
        self.index = {char: i for i, char in enumerate(self.chars)}
        self.unknown_id = self.index[UNKNOWN]

    @classmethod
    def from_text(cls, text):
        counts = Counter(text)
        return cls([UNKNOWN] + sorted((c for c in counts if c != UNKNOWN), key=lambda c: (-counts[c], c)))

    def __len__(self):
        return len(self.chars)

    def encode(self, text):
        unknown = self.unknown_id
        return np.fromiter((self.index.get(char, unknown) for char in text), dtype=np.int32, count=len(text))

    def unknown_chars(self, text):
        return sorted({char for char in text if char not in self.index})

    def decode(self, ids):
        return "".join(self.chars[i] for i in ids)

    def save(self, path):
        atomic_write_json(path, {"chars": self.chars})

    @classmethod
    def load(cls, path):
        try:
            return cls(json.loads(pathlib.Path(path).read_text(encoding="utf-8"))["chars"])
        except (OSError, ValueError, KeyError) as error:
            raise UserError(f"vocabulary file {path} is missing or unreadable ({error})") from None


def unigram_entropy_bits(ids, vocab_size):
    """Bits per character of the best model that ignores context: the bar to beat."""
    counts = np.bincount(ids, minlength=vocab_size).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())
