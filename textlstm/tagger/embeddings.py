"""Pretrained word vectors (word2vec or GloVe text format) as an embedding matrix for a vocabulary.

The file is streamed once and only the vectors of vocabulary words are kept, so a 400k-word
GloVe file costs memory for the vocabulary only. A word missing from the file falls back to
its lowercase form (tweets write "LONDON" where GloVe has "london"); words still missing get
small seeded random vectors, padding gets zeros.
"""

import gzip
import os

import numpy as np

from textlstm.errors import UserError, no_such_file


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
        parts = [" ".join(parts[: len(parts) - dim])] + parts[len(parts) - dim:]  # word with spaces
    if len(parts) - 1 != dim:
        raise UserError(
            f"{where}: expected a word and {dim} numbers, found {len(parts) - 1} numbers"
        )
    try:
        return parts[0], np.asarray(parts[1:], dtype=np.float32)
    except ValueError:
        raise UserError(f"{where}: the vector has a value that is not a number") from None


def _header(parts):
    """The dimension announced by a word2vec "count dim" first line, or None."""
    if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
        return int(parts[1])
    return None


def load_word_vectors(path, vocab, dim=None, seed=0, scale=0.1):
    """The embedding matrix [len(vocab), dim] for `vocab` from a word-vector text file.

    Args:
        path: word2vec/GloVe text file ("word v1 v2 ...", optional "count dim" first line,
            optionally gzip-compressed with a .gz name).
        vocab: a `textlstm.tagger.vocab.Vocabulary`.
        dim: the expected vector size (default None: taken from the file).
        seed: seed for the random vectors of words not in the file (default 0).
        scale: missing words get values uniform in [-scale, scale] (default 0.1).

    Returns:
        (matrix, found): a float32 array and how many vocabulary words (reserved ids not
        counted) got a vector from the file, directly or through their lowercase form.
    """
    path = os.fspath(path)
    exact_ids = {}
    lower_ids = {}
    reserved = 2 if vocab.unknown else 1
    for index, word in enumerate(vocab.items):
        if index >= reserved:
            exact_ids.setdefault(word, []).append(index)
            lower_ids.setdefault(word.lower(), []).append(index)
    exact, lowered = {}, {}
    try:
        for number, line in _lines(path):
            parts = line.rstrip().split(" ")
            if parts == [""]:
                continue
            if number == 1 and _header(parts) is not None:
                dim = _check_dim(dim, _header(parts), f"{path}:1")
                continue
            if dim is None:
                dim = len(parts) - 1
                if dim < 1:
                    raise UserError(f"{path}:{number}: expected a word and its vector")
            word = parts[0]
            if len(parts) - 1 != dim or word in exact_ids or word.lower() in lower_ids:
                word, vector = _parse_vector(parts, dim, f"{path}:{number}")
                if word in exact_ids and word not in exact:
                    exact[word] = vector
                if word.lower() in lower_ids and word.lower() not in lowered:
                    lowered[word.lower()] = vector
    except FileNotFoundError:
        raise no_such_file(path, "word-vector file") from None
    except (OSError, EOFError) as error:
        raise UserError(f"{path}: cannot read word vectors ({error})") from None
    if dim is None:
        raise UserError(f"{path}: file is empty (expected word vectors)")
    matrix = np.random.default_rng(seed).uniform(-scale, scale, size=(len(vocab), dim))
    matrix = matrix.astype(np.float32)
    matrix[0] = 0.0
    found = 0
    for index, word in enumerate(vocab.items):
        if index < reserved:
            continue
        vector = exact.get(word)
        if vector is None:
            vector = lowered.get(word.lower())
        if vector is not None:
            matrix[index] = vector
            found += 1
    return matrix, found


def _check_dim(expected, announced, where):
    if expected is not None and expected != announced:
        raise UserError(f"{where}: vectors have {announced} dimensions, expected {expected}")
    return announced
