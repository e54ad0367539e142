"""SentencePiece models shared by the families that use subword units: the translator
(`seq2seq.subwords`) and the subword LM (`charlm.subword`), and the tagger's char LMs through it.

Ids are fixed for every model so the networks can rely on them: 0 pads, 1 is the unknown
piece, 2 starts and 3 ends a sentence. A model is trained from sentences in memory (no temp
files) and returned as bytes for the caller to write atomically; `load_processor` reads one
back, turning a missing or damaged file into one `UserError`.

Reference: Kudo and Richardson, "SentencePiece" (EMNLP 2018 demo).
"""

import io

import sentencepiece as spm

from textlstm.ctrl_c import ctrl_c_kept, raise_if_interrupted
from textlstm.errors import UserError, describe_os_error

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3


def train_model(sentences, vocab_size, model_type, seed_sentences=2_000_000, **options):
    """Serialized SentencePiece model trained on `sentences` (an iterable of str); `options` are
    more trainer settings, or replace these (the char LM's lossless units: `charlm.subword`).

    Raises `UserError` when SentencePiece cannot train; an exception raised while `sentences`
    are read (KeyboardInterrupt included) comes out as itself. Nothing is written: the caller
    writes the bytes returned, atomically.
    """
    buffer = io.BytesIO()
    settings = dict(
        vocab_size=vocab_size,
        model_type=model_type,
        character_coverage=1.0,  # keep every character of the training text (umlauts, ß)
        pad_id=PAD_ID,
        unk_id=UNK_ID,
        bos_id=BOS_ID,
        eos_id=EOS_ID,
        hard_vocab_limit=False,  # a small corpus gets a smaller vocabulary, not an error
        input_sentence_size=seed_sentences,
        shuffle_input_sentence=False,  # same input, same model
        num_threads=1,
        minloglevel=2,
    )
    sentences = _Watched(sentences)
    with ctrl_c_kept():  # the binding turns a Ctrl-C in one of its Python callbacks into a RuntimeError, or drops it
        try:
            spm.SentencePieceTrainer.train(sentence_iterator=sentences, model_writer=buffer, **{**settings, **options})
        except RuntimeError as error:
            raise_if_interrupted()  # a Ctrl-C SentencePiece turned into this RuntimeError
            if sentences.error is not None:  # SentencePiece reports it as its own RuntimeError
                raise sentences.error from None
            raise UserError(
                f"SentencePiece could not train a {model_type} model of "
                f"{vocab_size} pieces: {str(error).strip().splitlines()[-1]}"
            ) from None
        raise_if_interrupted()  # raised inside a callback SentencePiece called, and lost there
    return buffer.getvalue()


class _Watched:
    """An iterator that keeps the exception its source raised (Ctrl-C while the sentences are
    read, an unreadable file), which SentencePiece would turn into a RuntimeError of its own."""

    def __init__(self, iterable):
        self.source, self.error = iter(iterable), None

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return next(self.source)
        except StopIteration:
            raise
        except BaseException as error:
            self.error = error
            raise


def load_processor(path, run_path=None):
    """The SentencePiece model in the file `path` (of the run directory `run_path`); a missing,
    unreadable or damaged file is one `UserError`."""
    if not path.is_file():
        where = f"run directory {run_path} has no subword model {path.name}" if run_path else f"no subword model {path}"
        raise UserError(where)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UserError(describe_os_error(error, "read", path)) from None
    try:
        model = spm.SentencePieceProcessor(model_proto=data)
    except (RuntimeError, OSError) as error:
        reason = (str(error).strip().splitlines() or [""])[0][:120]
        raise UserError(f"subword model {path} is damaged or unreadable ({reason})") from None
    if model.get_piece_size() < 4:  # an empty file parses as a model with no pieces
        raise UserError(f"subword model {path} is damaged (it holds {model.get_piece_size()} pieces)")
    return model
