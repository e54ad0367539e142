"""The caps a server puts on each request and connection; every one is an option of `textlstm serve`."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Limits:
    """Per-request and per-connection limits (defaults in parentheses), enforced before any model runs.

    Attributes:
        max_body_bytes: request body size in bytes (65536); larger is 413.
        max_prompt_chars: characters of a generation prompt (2000).
        max_length: characters generated per request (2000); pieces for a subword LM, as
            `length` counts them (the cap bounds the steps a request runs).
        max_sentences: sentences per tag or translate request (64).
        max_sentence_chars: characters per sentence, or per token list joined by spaces (1000).
        max_beam_size: beam size (and n_best) of a translation (16); n_best of tagging too.
        max_output_subwords: `max_length` of a translation, in subwords (256).
        timeout_s: seconds from arrival to answer, reading the body and waiting for the model
            included (60); a stream is cut with an error event when it runs longer.
        header_timeout_s: seconds a connection has to send a whole request head (request line and
            headers), from its opening or from the end of its last answer (10); a connection
            that has not is closed, whether it sent nothing or a byte at a time (slow loris).
        keep_alive_s: seconds an idle keep-alive connection stays open after an answer (5).
        max_connections: open connections, idle ones included (2048); a request arriving with
            more open is answered 503 (uvicorn's `limit_concurrency`).
    """

    max_body_bytes: int = 65536
    max_prompt_chars: int = 2000
    max_length: int = 2000
    max_sentences: int = 64
    max_sentence_chars: int = 1000
    max_beam_size: int = 16
    max_output_subwords: int = 256
    timeout_s: float = 60.0
    header_timeout_s: float = 10.0  # a client on a slow link sends a head in well under a second
    keep_alive_s: int = 5  # uvicorn's default
    max_connections: int = 2048  # 1,000 idle connections still leave room to serve
