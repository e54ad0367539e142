"""Bits per character and perplexity from a cross-entropy loss in nats: what training logs per
epoch and what `textlstm evaluate` reports for a char LM."""

import math

LN2 = math.log(2.0)


def add_bits_per_char(logs, ids_per_char=(1.0, 1.0)):
    """Bits per character and perplexity (per id) from a loss in nats per id, for every loss in
    `logs`. `ids_per_char` (training, validation): 1 for characters; for subword units the
    pieces per character of the text the loss was measured on."""
    for prefix, ratio in zip(("", "val_"), ids_per_char):
        loss = logs.get(f"{prefix}loss")
        if loss is not None:
            logs[f"{prefix}bpc"] = loss * ratio / LN2
            logs[f"{prefix}perplexity"] = math.exp(min(loss, 50.0))
