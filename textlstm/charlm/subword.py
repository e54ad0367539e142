"""Subword units for the LM (`data.unit = "subword"`): a SentencePiece model of the training text.

The model is trained with `textlstm.sentencepiece_models.train_model` (the translator's trainer)
on lines sampled evenly from the training part (at most `SAMPLE_CHARS` characters, however
large the corpus), and kept in the run directory as `subwords.model`. Its settings make the
segmentation lossless, so generated pieces decode to exact text and bits per character can
be counted exactly:

- no normalization (`identity`), spaces kept as they are (no added or removed whitespace);
- "\\n" is a piece of its own (SentencePiece trains on lines, so it would otherwise be unknown);
- byte fallback: a character the model has no piece for (one never seen, or among the rarest
  0.05% of the text) is written as its UTF-8 bytes
  (`<0xE2>` ...), so nothing is unknown and every text round-trips.

Every piece stands for a known number of characters (`char_lengths`: a byte piece counts
one character for a UTF-8 lead byte, none for a continuation byte; the control pieces
none), which is how `evaluate` and the per-epoch validation turn nats per piece into bits
per character.

Reference: Kudo, "Subword Regularization" (ACL 2018) for the unigram model; Kudo and
Richardson, "SentencePiece" (EMNLP 2018 demo).
"""

import codecs
import re

import numpy as np

from textlstm import sentencepiece_models as spm_models
from textlstm.errors import UserError
from textlstm.files import atomic_write_bytes

SUBWORD_FILE = "subwords.model"
SAMPLE_CHARS = 10_000_000  # characters of training text SentencePiece learns from (its memory stays bounded)
MAX_PIECE_CHARS = 16  # SentencePiece max_sentencepiece_length: so a text of n characters has at least n / 16 pieces
LM_OPTIONS = dict(  # a lossless segmentation (see the module docstring)
    character_coverage=0.9995,  # the rarest characters (0.05% of the text) are left to byte pieces
    normalization_rule_name="identity",
    remove_extra_whitespaces=False,
    add_dummy_prefix=False,
    user_defined_symbols=["\n"],
    byte_fallback=True,
    allow_whitespace_only_pieces=True,
    max_sentence_length=1 << 16,
    max_sentencepiece_length=MAX_PIECE_CHARS,
)
CONTROL_IDS = (spm_models.PAD_ID, spm_models.UNK_ID, spm_models.BOS_ID, spm_models.EOS_ID)


class SubwordVocabulary:
    """The pieces of a SentencePiece model, with the interface of `CharVocabulary`.

    `encode(text) -> int32 [n]`, `decode(ids) -> str`, `len()`, `banned_ids` (never sampled:
    padding, unknown, sentence start and end, which the LM never sees), `char_lengths`
    (`int64 [vocabulary]`: characters each piece stands for).
    """

    unit = "subword"
    unit_name = "pieces"  # what its ids are, in messages

    def __init__(self, processor, path=None):
        self.processor, self.path = processor, path
        size = processor.get_piece_size()
        self.unknown_id = spm_models.UNK_ID
        self.banned_ids = CONTROL_IDS
        self.piece_bytes, self.char_lengths = [], np.zeros(size, np.int64)
        for i in range(size):
            data = _piece_bytes(processor, i)
            self.piece_bytes.append(data)
            if processor.is_byte(i):
                self.char_lengths[i] = 0 if 0x80 <= data[0] < 0xC0 else 1  # a continuation byte adds no character
            else:
                self.char_lengths[i] = len(data.decode("utf-8"))

    @classmethod
    def load(cls, run):
        """The model saved in the run directory `run`; a missing or damaged file is one `UserError`."""
        path = run.file(SUBWORD_FILE)
        return cls(spm_models.load_processor(path, run.path), path)

    def __len__(self):
        return len(self.piece_bytes)

    def encode(self, text):
        return np.asarray(self.processor.encode(text), dtype=np.int32)

    def decode(self, ids):
        return b"".join(self.piece_bytes[int(i)] for i in ids).decode("utf-8", errors="replace")

    def stream_decoder(self):
        """A function `ids -> str` for consecutive chunks of one text: a character whose bytes
        are split between two chunks comes out whole with the second."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        return lambda ids: decoder.decode(b"".join(self.piece_bytes[int(i)] for i in ids))

    def unknown_chars(self, text):
        return []  # byte fallback: every character has pieces

    def characters(self, ids):
        """Characters that the ids (an array or a token file) stand for, counted 1M ids at a time."""
        total = 0
        for start in range(0, len(ids), 1 << 20):
            total += int(self.char_lengths[np.asarray(ids[start : start + (1 << 20)], dtype=np.int64)].sum())
        return total

    def ids_for_chars(self, ids, chars):
        """How many of the first ids it takes to cover `chars` characters (all of them if fewer)."""
        done = 0
        for start in range(0, len(ids), 1 << 20):
            counts = np.cumsum(self.char_lengths[np.asarray(ids[start : start + (1 << 20)], dtype=np.int64)]) + done
            if len(counts) and counts[-1] >= chars:
                return start + int(np.searchsorted(counts, chars)) + 1
            done = int(counts[-1]) if len(counts) else done
        return len(ids)


def _piece_bytes(processor, i):
    if processor.is_control(i) or processor.is_unused(i):
        return b""
    if processor.is_unknown(i):
        return "\ufffd".encode("utf-8")
    piece = processor.id_to_piece(i)
    if processor.is_byte(i):
        return bytes([int(piece[3:-1], 16)])  # "<0xE2>"
    return piece.replace("\u2581", " ").encode("utf-8")


def sample_lines(pieces, chars, budget=SAMPLE_CHARS):
    """Lines of the first `chars` characters of the scanned `pieces` (`(TextPiece, length)`),
    about `budget` characters in all, taken evenly: the start of each piece's share."""
    share = min(1.0, budget / max(chars, 1))
    seen = 0
    for piece, length in pieces:
        if seen >= chars:
            return
        text = piece.text()[: chars - seen]
        seen += length
        take = text if share >= 1.0 else text[: max(1, int(len(text) * share))]
        yield from (line for line in take.split("\n") if line)


def train_vocabulary(train_scan, train_chars, vocab_size):
    """`(SubwordVocabulary, model bytes)`: SentencePiece trained on a sample of the training part
    (nothing written yet: `save_model` writes it into the run directory)."""
    import sentencepiece as spm

    lines = sample_lines(zip(train_scan.pieces, train_scan.lengths), train_chars)
    try:
        data = spm_models.train_model(lines, vocab_size, "unigram", **LM_OPTIONS)
    except UserError as error:
        sizes = re.search(r"smaller than required_chars\. (\d+) vs (\d+)", str(error))
        if sizes is None:
            raise
        raise UserError(
            f"data.vocab_size={vocab_size} is too small for this text: its characters, 256 byte "
            f"pieces and 5 control pieces need at least {sizes.group(2)}"
        ) from None
    return SubwordVocabulary(spm.SentencePieceProcessor(model_proto=data)), data


def save_model(run, data):
    atomic_write_bytes(run.file(SUBWORD_FILE), data)


def ids_per_char(vocab, corpus, valid_ids, seq_len):
    """`(training, validation)` pieces per character: of the whole training text, and of the
    characters that the validation windows predict (every id after the first of each whole window
    run, as `data.evaluation_batches` cuts them), so nats per piece become bits per character."""
    train = corpus.train_chars / max(corpus.text_chars[0], 1)
    predicted = (len(valid_ids) - 1) // seq_len * seq_len
    return train, predicted / max(vocab.characters(valid_ids[1 : 1 + predicted]), 1)
