"""Pretrained word vectors (word2vec or GloVe text format) for a word vocabulary.

The file is streamed once. `extend_with_vectors` adds every word of the file to the training
vocabulary, with its vector, so words never seen in training are still looked up (their
vectors form the tagger's frozen table, `word_embedding.WordEmbedding`). A training word
missing from the file falls back to its lowercase form (tweets write "LONDON" where GloVe
has "london"); words still missing get small seeded random vectors, padding gets zeros.
"""

import gzip
import os

import numpy as np

from textlstm.errors import UserError, describe_os_error, no_such_file


def _lines(path):
    """(line number, decoded line) pairs; decoding per line gives exact error line numbers."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as stream:
        for number, raw in enumerate(stream, 1):
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError:
                raise UserError(f"{path}:{number}: not valid UTF-8") from None


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_vector(parts, dim, where):
    """(word, values) of one split line whose vector must have `dim` numbers."""
    if len(parts) - 1 != dim and len(parts) > dim + 1 and not _is_number(parts[1]):
        parts = [" ".join(parts[: len(parts) - dim])] + parts[len(parts) - dim :]  # word with spaces
    if len(parts) - 1 != dim:
        raise UserError(f"{where}: expected a word and {dim} numbers, found {len(parts) - 1} numbers")
    try:
        return parts[0], np.asarray(parts[1:], dtype=np.float32)
    except ValueError:
        raise UserError(f"{where}: the vector has a value that is not a number") from None


def _header(parts):
    """The dimension announced by a word2vec "count dim" first line, or None."""
    if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
        return int(parts[1])
    return None


def _rows(path, max_rows=0, found_dim=None):
    """(word, float32 vector) of each row of a word-vector file, streamed once, in file order.

    Args:
        path: word2vec/GloVe text file ("word v1 v2 ...", optional "count dim" first line,
            optionally gzip-compressed with a .gz name).
        max_rows: read only the first `max_rows` rows, the header not counted (default 0: all).
        found_dim: a list that receives the vector size once it is known (the caller's
            way to learn it from a generator): the header's, else the first row's.

    Raises:
        UserError: one line naming the file (and line) for a missing or unreadable file,
            bad UTF-8, a row with another count of numbers than the header or the first row,
            a value that is not a number, or an empty file.
    """
    path = os.fspath(path)
    rows, dim = 0, None
    try:
        for number, line in _lines(path):
            parts = line.rstrip().split(" ")
            if parts == [""]:
                continue
            if number == 1 and _header(parts) is not None:
                dim = _header(parts)
                continue
            if max_rows and rows >= max_rows:
                break
            rows += 1
            if dim is None:
                dim = len(parts) - 1
                if dim < 1:
                    raise UserError(f"{path}:{number}: expected a word and its vector")
            yield _parse_vector(parts, dim, f"{path}:{number}")
    except FileNotFoundError:
        raise UserError(
            f"{no_such_file(path, 'word-vector file')} (data.word_vectors: give the file with "
            f"--word-vectors PATH; a recipe without vectors, such as tagger-ner, needs none)"
        ) from None
    except (OSError, EOFError) as error:
        if isinstance(error, OSError) and error.errno is not None:  # the machine (EACCES, EIO), not the file
            raise UserError(describe_os_error(error, "read word vectors", path)) from None
        raise UserError(f"{path}: cannot read word vectors ({error})") from None
    if dim is None:
        raise UserError(f"{path}: file is empty (expected word vectors)")
    if found_dim is not None:
        found_dim.append(dim)


class _Matches:
    """The file's vector for each training word: its exact form's, else its lowercase form's
    (the first row of each form wins)."""

    def __init__(self, vocab):
        reserved = 2 if vocab.unknown else 1
        self.words = vocab.items[reserved:]
        self.exact_words = set(self.words)
        self.lower_words = {word.lower() for word in self.words}
        self.exact, self.lowered = {}, {}

    def wanted(self, word):
        return word in self.exact_words or word.lower() in self.lower_words

    def add(self, word, vector):
        if word in self.exact_words and word not in self.exact:
            self.exact[word] = vector
        if word.lower() in self.lower_words and word.lower() not in self.lowered:
            self.lowered[word.lower()] = vector

    def matrix(self, vocab, dim, seed, scale):
        """([len(vocab), dim] float32, words found): padding zeros, misses small seeded random."""
        matrix = np.random.default_rng(seed).uniform(-scale, scale, size=(len(vocab), dim)).astype(np.float32)
        matrix[0] = 0.0
        found = 0
        for index, word in enumerate(self.words, len(vocab) - len(self.words)):
            vector = self.exact.get(word)
            if vector is None:
                vector = self.lowered.get(word.lower())
            if vector is not None:
                matrix[index] = vector
                found += 1
        return matrix, found


def extend_with_vectors(path, vocab, max_rows=0, seed=0, scale=0.1):
    """The training vocabulary extended with the words of a vectors file, and their vectors.

    The file is streamed once. Every row's word whose normal form (lowercased for a
    lowercasing vocabulary) is not yet in the vocabulary is added after the training words,
    in file order; its vector is the row of that exact form if the file has one, else the
    first row with that normal form. The new vocabulary looks a word up by its normal form,
    then (when case-sensitive) by its lowercase form, then as unknown.

    Args:
        path: the vectors file (see `_rows`).
        vocab: the training word `Vocabulary` (with the unknown id; not extended).
        max_rows: read only the file's first `max_rows` rows (default 0: all of them).
        seed, scale: training words the file lacks, and `<unk>`, get values uniform in
            [-scale, scale] from this seed (defaults 0 and 0.1).

    Returns:
        (extended, matrix, found): the extended `Vocabulary` (`trainable_rows` = len(vocab),
        `vector_dim` = the file's size), the frozen table [len(extended), dim] float32 (zeros
        for padding), and how many training words (reserved ids not counted) got a vector.
        Memory: the table, plus the added rows once more while it is assembled.

    Raises:
        UserError: see `_rows`.
    """
    if vocab.extended:
        raise ValueError("extend_with_vectors needs a training vocabulary, received one already extended")
    matches, found_dim = _Matches(vocab), []
    added, added_rows, exact = {}, [], []  # normal form -> its index in added_rows
    for word, vector in _rows(path, max_rows, found_dim):
        if matches.wanted(word):
            matches.add(word, vector)
        key = word.lower() if vocab.lowercase else word
        if key in vocab.stoi:
            continue
        index = added.get(key)
        if index is None:
            added[key] = len(added_rows)
            added_rows.append(vector)
            exact.append(word == key)
        elif word == key and not exact[index]:  # "paris" beats an earlier "Paris" in a lowercased vocabulary
            added_rows[index], exact[index] = vector, True
    dim = found_dim[0]
    trained, found = matches.matrix(vocab, dim, seed, scale)
    matrix = np.empty((len(vocab) + len(added_rows), dim), np.float32)
    matrix[: len(vocab)] = trained
    for index, vector in enumerate(added_rows, len(vocab)):
        matrix[index] = vector
    del added_rows
    reserved = 2 if vocab.unknown else 1
    extended = type(vocab)(
        vocab.items[reserved:] + list(added),
        unknown=vocab.unknown,
        lowercase=vocab.lowercase,
        trainable_rows=len(vocab),
        lowercase_fallback=not vocab.lowercase,
        vector_dim=dim,
    )
    assert len(extended) == len(matrix), (len(extended), len(matrix))
    return extended, matrix, found
