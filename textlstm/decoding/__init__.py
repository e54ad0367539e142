"""Decoding that depends only on a model's step function, never on the model itself.

`step(token_ids [B] int32, state) -> (logits [B, V], new_state)` is the whole contract:
samplers choose a token from logits, `sample_sequence` runs the sampling loop, and
`beam_search` runs a batched, batch-invariant beam search.
"""

from textlstm.decoding.beam_search import beam_search
from textlstm.decoding.samplers import (
    SAMPLERS,
    GreedySampler,
    TemperatureSampler,
    TopKSampler,
    TopKTopPSampler,
    TopPSampler,
    choose_sampler,
    get_sampler,
    sample_sequence,
)

__all__ = [
    "SAMPLERS",
    "GreedySampler",
    "TemperatureSampler",
    "TopKSampler",
    "TopKTopPSampler",
    "TopPSampler",
    "beam_search",
    "choose_sampler",
    "get_sampler",
    "sample_sequence",
]
