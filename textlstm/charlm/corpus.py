"""Text in, characters out: the built-in corpus and the vocabulary (the corpus on disk: `tokens.py`)."""

import json
import pathlib
import sysconfig
from collections import Counter

import numpy as np

from textlstm.charlm.subword import SubwordVocabulary
from textlstm.errors import UserError
from textlstm.files import atomic_write_json, read_json_file

DEFAULT_CORPUS_CHARS = 2_000_000  # ~2 MB: enough to learn from, small enough for minutes on a laptop
UNKNOWN = "\ufffd"  # stands for any character never seen in training
VOCAB_FILE = "vocab.json"  # the characters of a run (`textlstm.charlm.train` names it too)


def load_vocabulary(run, data):
    """The vocabulary of a char LM run: its characters (`vocab.json`), or for `data.unit =
    "subword"` its SentencePiece model (`subwords.model`). Missing or damaged: one `UserError`."""
    if is_subword({"data": data}):
        return SubwordVocabulary.load(run)
    return CharVocabulary.load(run.file(VOCAB_FILE))


def is_backward(recipe):
    """True for a backward LM (`data.direction = "backward"`): it reads text from its end to its start."""
    return recipe.get("data", {}).get("direction", "forward") == "backward"


def is_subword(recipe):
    """True for an LM of SentencePiece pieces (`data.unit = "subword"`) rather than characters."""
    return recipe.get("data", {}).get("unit", "char") == "subword"


def reading_order(sequence, backward):
    """A text or id sequence in the order an LM reads it: reversed for a `backward` LM
    (`is_backward`), as it is otherwise. Its own inverse, so it also turns what a backward LM
    produced the right way round."""
    return sequence[::-1] if backward else sequence


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
    """Characters of the training text, by frequency, with one entry for unknown characters.
    (`subword.SubwordVocabulary` has the same interface for pieces.)"""

    unit = "char"
    unit_name = "characters"  # what its ids are, in messages

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

    def stream_decoder(self):
        """`ids -> str` for consecutive chunks of one text (a character is one id: `decode`)."""
        return self.decode

    @property
    def banned_ids(self):
        """Ids never sampled: the unknown entry."""
        return (self.unknown_id,)

    def characters(self, ids):
        """Characters that the ids stand for: one each."""
        return len(ids)

    def save(self, path):
        atomic_write_json(path, {"chars": self.chars})

    @classmethod
    def load(cls, path):
        """The vocabulary saved by `save`; a missing or damaged file is one `UserError`."""
        data = read_json_file(path, "vocabulary file")
        chars = data.get("chars") if isinstance(data, dict) else None
        if not isinstance(chars, list) or not chars:
            raise UserError(
                f'vocabulary file {path} is damaged (expected {{"chars": [one string per '
                f"character]}}, found {_shape_of(data)})"
            )
        bad = next((c for c in chars if not isinstance(c, str) or len(c) != 1), None)
        if bad is not None or len(set(chars)) != len(chars):
            what = (
                f"entry {json.dumps(bad, ensure_ascii=False)} is not one character"
                if bad is not None
                else "it lists a character twice"
            )
            raise UserError(f"vocabulary file {path} is damaged ({what})")
        return cls(chars)


def _shape_of(value):
    """A short description of a JSON value for error messages: 'a list of 3 numbers'."""
    if isinstance(value, list):
        kinds = {type(item).__name__ for item in value}
        return f"a list of {len(value)} " + (
            "items"
            if len(kinds) != 1
            else {"int": "numbers", "float": "numbers", "str": "strings"}.get(kinds.pop(), "items")
        )
    if isinstance(value, dict):
        return "an object with keys " + ", ".join(sorted(map(str, value))[:5]) if value else "an empty object"
    return f"{json.dumps(value)}"


def unknown_characters_note(chars, limit=20):
    """The note naming characters that were read as the unknown entry (at most `limit` shown)."""
    chars = list(chars)
    shown = " ".join(repr(char) for char in chars[:limit])
    more = f" and {len(chars) - limit} more" if len(chars) > limit else ""
    return (
        f"note: {len(chars)} distinct character{'s were' if len(chars) != 1 else ' was'} not in the "
        f"vocabulary and read as unknown: {shown}{more}"
    )


def unigram_entropy_bits(ids, vocab_size):
    """Bits per character of the best model that ignores context: the bar to beat. `ids` is an
    array or a token file (`tokens.TokenFile`), counted a million ids at a time."""
    counts = np.zeros(vocab_size, np.float64)
    for start in range(0, len(ids), 1 << 20):
        counts += np.bincount(np.asarray(ids[start : start + (1 << 20)]), minlength=vocab_size)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def check_one_batch(chars, seq_len, batch_size, name="the training text", unit="characters"):
    """Refuse a text too short for one batch of `batch_size` windows of `seq_len` (+1) characters
    (or pieces, `unit`)."""
    windows = max(0, (chars - 1) // seq_len)
    if windows < batch_size:
        fix = f"train.batch_size to at most {windows}" if windows else f"data.seq_len below {max(chars - 1, 1)}"
        raise UserError(
            f"{name} has {chars:,} {unit}: {windows:,} windows of data.seq_len={seq_len} (+1), "
            f"fewer than one batch of train.batch_size={batch_size}; give more text or lower {fix}"
        )
