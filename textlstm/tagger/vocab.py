"""Vocabularies that map words, characters and tags to ids, saved as plain JSON in a run directory.

Id 0 is always padding, so padded batches and Keras masks (`mask_zero=True`) agree. Word and
character vocabularies reserve id 1 for unknown items; tag vocabularies do not, because a tag
never seen in training cannot be predicted and must be reported, not silently mapped.

A word vocabulary extended with the words of a vectors file (`embeddings.extend_with_vectors`)
keeps the training words first: ids below `trainable_rows` have trainable embeddings, the
rest only their frozen vectors. Its JSON adds "trainable_rows", "lowercase_fallback" and
"vector_dim" (the frozen vectors' size, for the memory estimate of `--resume`); a file
without them is an ordinary vocabulary, as before.
"""

import collections
import json
import os

from textlstm.errors import UserError, describe_os_error, no_such_file
from textlstm.files import atomic_write_text

WORDS_FILE, CHARS_FILE, TAGS_FILE = "words.json", "chars.json", "tags.json"  # a tagger run's vocabularies
PAD = "<pad>"
UNK = "<unk>"
FORMAT = "textlstm.vocabulary/1"


class Vocabulary:
    """An ordered list of items with reserved padding (0) and optional unknown (1) ids.

    Args:
        items: the items after the reserved ones, in id order (duplicates and the reserved
            names are dropped).
        unknown: reserve id 1 for items not in the vocabulary (default True). Without it,
            encoding an unseen item raises KeyError.
        lowercase: lowercase items before lookup (default False).
        trainable_rows: how many ids (reserved ones included) are training items with
            trainable embeddings; the ids from there on are words added from a vectors file
            (default None: every id).
        lowercase_fallback: an item not found is looked up again lowercased before it
            becomes unknown (default False; used with case-sensitive vectors-file words,
            since GloVe is lowercase and tweets write "LONDON").
        vector_dim: the size of the frozen vectors of an extended vocabulary (default None).
    """

    def __init__(
        self, items=(), unknown=True, lowercase=False, trainable_rows=None, lowercase_fallback=False, vector_dim=None
    ):
        self.unknown = bool(unknown)
        self.lowercase = bool(lowercase)
        self.lowercase_fallback = bool(lowercase_fallback)
        self.vector_dim = None if vector_dim is None else int(vector_dim)
        reserved = [PAD, UNK] if self.unknown else [PAD]
        self.itos = list(reserved)
        self.stoi = {name: index for index, name in enumerate(reserved)}
        for item in items:
            item = self._normal(item)
            if item not in self.stoi:
                self.stoi[item] = len(self.itos)
                self.itos.append(item)
        if trainable_rows is not None and not len(reserved) <= trainable_rows <= len(self.itos):
            raise ValueError(
                f"trainable_rows must be between {len(reserved)} and {len(self.itos)}, "
                f"received trainable_rows={trainable_rows}"
            )
        self._trainable_rows = None if trainable_rows is None else int(trainable_rows)

    @classmethod
    def from_counts(cls, counts, min_freq=1, max_size=None, unknown=True, lowercase=False):
        """A vocabulary of the items counted at least `min_freq` times, most frequent first.

        Ties are broken by the item itself so the same corpus always gives the same ids;
        `max_size` caps the number of non-reserved items.
        """
        merged = collections.Counter()
        for item, count in counts.items():
            merged[item.lower() if lowercase else item] += count
        kept = sorted(
            (item for item, count in merged.items() if count >= min_freq),
            key=lambda item: (-merged[item], item),
        )
        if max_size is not None:
            kept = kept[:max_size]
        return cls(kept, unknown=unknown, lowercase=lowercase)

    def _normal(self, item):
        return item.lower() if self.lowercase else item

    @property
    def pad_id(self):
        return 0

    @property
    def unk_id(self):
        return 1 if self.unknown else None

    @property
    def items(self):
        """All entries in id order, the reserved names included."""
        return list(self.itos)

    @property
    def trainable_rows(self):
        """Ids below this have trainable embeddings (all ids unless extended from a vectors file)."""
        return len(self.itos) if self._trainable_rows is None else self._trainable_rows

    @property
    def extended(self):
        """True when words from a vectors file follow the training words."""
        return self._trainable_rows is not None

    def __len__(self):
        return len(self.itos)

    def __contains__(self, item):
        return self._normal(item) in self.stoi

    def __eq__(self, other):
        return isinstance(other, Vocabulary) and self.to_dict() == other.to_dict()

    def __repr__(self):
        extra = f", trainable_rows={self._trainable_rows}" if self.extended else ""
        return f"Vocabulary(size={len(self)}, unknown={self.unknown}, lowercase={self.lowercase}{extra})"

    def index(self, item):
        """The id of one item: its own (its normal form's), else (with `lowercase_fallback`)
        its lowercase form's, else the unknown id, else KeyError."""
        found = self.stoi.get(self._normal(item))
        if found is None and self.lowercase_fallback:
            found = self.stoi.get(item.lower())
        if found is not None:
            return found
        if self.unknown:
            return 1
        raise KeyError(item)

    def encode(self, items):
        return [self.index(item) for item in items]

    def decode(self, ids):
        return [self.itos[int(index)] for index in ids]

    def to_dict(self):
        reserved = 2 if self.unknown else 1
        data = {"format": FORMAT, "unknown": self.unknown, "lowercase": self.lowercase}
        if self.extended:  # only then: other vocabularies are written as before
            data.update(
                trainable_rows=self._trainable_rows,
                lowercase_fallback=self.lowercase_fallback,
                vector_dim=self.vector_dim,
            )
        data["items"] = self.itos[reserved:]
        return data

    @classmethod
    def from_dict(cls, data, source="vocabulary"):
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise UserError(f"{source}: not a textlstm vocabulary (expected format {FORMAT!r})")
        items = data.get("items")
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise UserError(f"{source}: 'items' must be a list of strings")
        unknown = data.get("unknown", True)
        trainable_rows = data.get("trainable_rows")
        reserved = 2 if unknown else 1
        if trainable_rows is not None and (
            type(trainable_rows) is not int or not reserved <= trainable_rows <= reserved + len(items)
        ):
            raise UserError(
                f"{source}: 'trainable_rows' must be an integer from {reserved} to "
                f"{reserved + len(items)}, found {json.dumps(trainable_rows)}"
            )
        vector_dim = data.get("vector_dim")
        if vector_dim is not None and (type(vector_dim) is not int or vector_dim < 1):
            raise UserError(f"{source}: 'vector_dim' must be a positive integer, found {json.dumps(vector_dim)}")
        return cls(
            items,
            unknown=unknown,
            lowercase=data.get("lowercase", False),
            trainable_rows=trainable_rows,
            lowercase_fallback=bool(data.get("lowercase_fallback", False)),
            vector_dim=vector_dim,
        )

    def to_json(self):
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=0)

    @classmethod
    def from_json(cls, text, source="vocabulary"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise UserError(f"{source}: not valid JSON ({error})") from None
        return cls.from_dict(data, source=source)

    def save(self, path):
        """Write the vocabulary to `path` atomically, like every other run-directory file."""
        atomic_write_text(path, self.to_json() + "\n")

    @classmethod
    def load(cls, path):
        path = os.fspath(path)
        try:
            with open(path, encoding="utf-8") as stream:
                text = stream.read()
        except FileNotFoundError:
            raise no_such_file(path, "vocabulary file") from None
        except OSError as error:
            raise UserError(describe_os_error(error, "read vocabulary", path)) from None
        except UnicodeDecodeError as error:
            raise UserError(f"{path}: cannot read vocabulary ({error})") from None
        return cls.from_json(text, source=path)


def build_word_vocab(sentences, min_freq=1, max_size=None, lowercase=False):
    """Word vocabulary (with unknown id) from the tokens of a list of Sentences."""
    counts = collections.Counter(token for sentence in sentences for token in sentence.tokens)
    return Vocabulary.from_counts(counts, min_freq=min_freq, max_size=max_size, lowercase=lowercase)


def build_char_vocab(sentences, min_freq=1):
    """Character vocabulary (with unknown id) from every character of every token."""
    counts = collections.Counter(char for sentence in sentences for token in sentence.tokens for char in token)
    return Vocabulary.from_counts(counts, min_freq=min_freq)


def build_tag_vocab(sentences):
    """Tag vocabulary (padding only, no unknown id) from sentences that all carry tags."""
    counts = collections.Counter()
    for number, sentence in enumerate(sentences, 1):
        if sentence.tags is None:
            raise UserError(f"sentence {number} has no tags; a tag vocabulary needs tagged data")
        counts.update(sentence.tags)
    if not counts:
        raise UserError("no tags found: cannot build a tag vocabulary from empty data")
    return Vocabulary.from_counts(counts, unknown=False)
