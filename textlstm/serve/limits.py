"""The caps a server puts on each request; every one is an option of `textlstm serve`."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Limits:
    """Per-request limits (defaults in parentheses), enforced before any model runs.

    Attributes:
        max_body_bytes: request body size in bytes (65536); larger is 413.
        max_prompt_chars: characters of a generation prompt (2000).
        max_length: characters generated per request (2000); pieces for a subword LM, as
            `length` counts them (the cap bounds the steps a request runs).
        max_sentences: sentences per tag or translate request (64).
        max_sentence_chars: characters per sentence, or per token list joined by spaces (1000).
        max_beam_size: beam size (and n_best) of a translation (16); n_best of tagging too.
        max_output_subwords: `max_length` of a translation, in subwords (256).
        timeout_s: seconds from arrival to answer, waiting for the model included (60); a
            stream is cut with an error event when it runs longer.
    """

    max_body_bytes: int = 65536
    max_prompt_chars: int = 2000
    max_length: int = 2000
    max_sentences: int = 64
    max_sentence_chars: int = 1000
    max_beam_size: int = 16
    max_output_subwords: int = 256
    timeout_s: float = 60.0
