"""`textlstm evaluate` for a char LM: loss, bits per character and perplexity on any text.

The text is cut into the same windows as the validation set during training, so the
numbers are the ones training reported. It is streamed: encoded piece by piece into a
temporary token file and read back on demand, so any size fits in memory.
"""

import tempfile
from pathlib import Path

from textlstm.charlm import data as data_lib
from textlstm.charlm.corpus import CharVocabulary
from textlstm.charlm.model import DEFAULTS, char_loss
from textlstm.charlm.tokens import Encoder, TokenFile, write_tokens
from textlstm.charlm.train import KIND, VOCAB_FILE, add_bits_per_char
from textlstm.errors import UserError
from textlstm.rundir import RunDir
from textlstm.textio import stream_text_file
from textlstm.training import load_best_or_last


def evaluate_charlm(run_path, data_path):
    run = RunDir.open(run_path, KIND)
    recipe = run.read_recipe(DEFAULTS)
    vocab = CharVocabulary.load(run.file(VOCAB_FILE))
    encoder = Encoder(vocab)
    with tempfile.TemporaryDirectory(prefix="textlstm-evaluate-") as scratch:
        path = Path(scratch) / "tokens.bin"
        size = Path(data_path).stat().st_size if Path(data_path).is_file() else 0
        chars, _ = write_tokens(path, stream_text_file(data_path), encoder, size)  # checks every byte first
        if chars < 2:
            raise UserError(f"{data_path} has fewer than two characters; nothing to predict")
        ids = TokenFile(path, encoder.dtype, chars)
        seq_len = min(recipe["data"]["seq_len"], chars - 1)
        model = load_best_or_last(run)
        model.compile(loss=char_loss())
        batches = data_lib.evaluation_batches(ids, seq_len, recipe["train"]["batch_size"])
        loss = float(model.evaluate(batches, verbose=0))
        del ids, batches
    scores = {"loss": loss}
    add_bits_per_char(scores)
    return {
        "characters": (chars - 1) // seq_len * seq_len,
        "loss": loss,
        "bits_per_char": scores["bpc"],
        "perplexity": scores["perplexity"],
        "unknown_characters": len(encoder.unknown),
        "unknown_chars": sorted(encoder.unknown),
    }
