"""SentencePiece subword models, trained as the first step of `train seq2seq` and kept in the run.

Ids are fixed for every model (`textlstm.sentencepiece_models`, shared with the subword LM):
0 pads, 1 is the unknown piece, 2 starts and 3 ends a sentence. With `joint = true` one model
(`subwords.model`) serves both languages; otherwise `source.model` and `target.model` are
trained separately.
The models are trained from the sentences in memory (no temp files) and written into the
run directory atomically, so a resumed run reuses exactly the same segmentation.
"""

from textlstm.errors import UserError
from textlstm.files import atomic_write_bytes
from textlstm.sentencepiece_models import BOS_ID, EOS_ID, PAD_ID, UNK_ID, load_processor, train_model  # noqa: F401

JOINT_FILE, SOURCE_FILE, TARGET_FILE = "subwords.model", "source.model", "target.model"
MODEL_TYPES = ("unigram", "bpe")


class Subwords:
    """The source and target segmenters of a run (the same object twice when joint)."""

    def __init__(self, source, target):
        self.source, self.target = source, target

    @classmethod
    def train(cls, run, source_lines, target_lines, vocab_size, model_type, joint):
        if model_type not in MODEL_TYPES:
            raise UserError(f"data.subword_model must be one of {', '.join(MODEL_TYPES)}, got {model_type!r}")
        if joint:
            data = train_model(source_lines + target_lines, vocab_size, model_type)
            atomic_write_bytes(run.file(JOINT_FILE), data)
        else:
            atomic_write_bytes(run.file(SOURCE_FILE), train_model(source_lines, vocab_size, model_type))
            atomic_write_bytes(run.file(TARGET_FILE), train_model(target_lines, vocab_size, model_type))
        return cls.load(run)

    @classmethod
    def load(cls, run):
        def processor(name):
            return load_processor(run.file(name), run.path)

        if run.file(JOINT_FILE).is_file():
            joint = processor(JOINT_FILE)
            return cls(joint, joint)
        return cls(processor(SOURCE_FILE), processor(TARGET_FILE))

    @property
    def source_vocab_size(self):
        return self.source.get_piece_size()

    @property
    def target_vocab_size(self):
        return self.target.get_piece_size()

    def encode_source(self, lines):
        return self.source.encode(list(lines))

    def encode_target(self, lines):
        return self.target.encode(list(lines))

    def decode_target(self, ids):
        return self.target.decode([int(i) for i in ids])

    def source_pieces(self, line):
        return self.source.encode(line, out_type=str)

    def target_pieces(self, ids):
        return [self.target.id_to_piece(int(i)) for i in ids]
