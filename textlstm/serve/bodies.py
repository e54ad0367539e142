"""JSON request bodies checked into Python API arguments, one clear line for each mistake.

Pure Python (no web framework), so the rules are testable alone. Every function takes the
decoded JSON value and the `Limits`, and returns keyword arguments for the model object; a
wrong type, an unknown field or a value over a cap raises `BadRequest` (answered as 400).
No field names a file: models are addressed only by the names the server was started with.
Every range is checked by the one validator (`textlstm.spec`): sampler numbers against their
declarations (the ranges of the CLI, the API and the recipe, in the same words), the rest
against this server's caps (`Limits`), so an answer never depends on how far a request got
before failing.
"""

import math

from textlstm import schema
from textlstm.errors import UserError
from textlstm.spec import Spec, shown


class BadRequest(ValueError):
    """A request the server refuses; `str(error)` is the one-line message sent back."""


def _fields(body, allowed, required=()):
    if not isinstance(body, dict):
        raise BadRequest(f"the request body must be a JSON object, got {_type(body)}")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}; allowed: {', '.join(allowed)}")
    for name in required:
        if name not in body:
            raise BadRequest(f"missing field {name!r}")
    return body


def _type(value):
    """How an error names what it got: the kind of JSON value, or the value itself for a
    non-finite number (NaN, Infinity), whose kind would not say what was wrong with it."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        type(None): "null",
        int: "an integer",
        float: "a number",
    }.get(type(value), type(value).__name__)


def _int(body, name, minimum, maximum=None, spec=None):
    """An integer of JSON within `spec` (a declaration of `textlstm.settings`), else within
    `minimum`..`maximum` (this server's caps), both checked by the one validator (`textlstm.spec`)."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{name} must be an integer, got {_type(value)}")
    return _declared(name, value, spec if spec is not None else Spec(int, minimum, maximum))


def _float(body, name, spec=None):
    """A finite number (an integer is one), within `spec` (a `schema.Spec`) when given."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**300:
        raise BadRequest(f"{name} must be a finite number, got {shown(value)}")  # float() would overflow
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadRequest(f"{name} must be a finite number, got {_type(value)}")
    return _declared(name, float(value), spec)


def _declared(name, value, spec):
    if spec is None or value is None:
        return value
    try:
        return spec.check(name, value)
    except UserError as error:
        raise BadRequest(str(error)) from None


def _bool(body, name):
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise BadRequest(f"{name} must be true or false, got {_type(value)}")
    return value


def generate_args(body, limits):
    """`{"prompt", "length", "sampler", "temperature", "top_k", "top_p", "seed", "stream"}` →
    (kwargs for `CharLM.generate`/`stream`, stream flag). None: the recipe's value (the
    sampler's name and the options it uses are checked by the API itself)."""
    _fields(body, ("prompt", "length", "sampler", "temperature", "top_k", "top_p", "seed", "stream"))
    prompt = body.get("prompt", "")
    if not isinstance(prompt, str):
        raise BadRequest(f"prompt must be a string, got {_type(prompt)}")
    if len(prompt) > limits.max_prompt_chars:
        raise BadRequest(f"prompt has {len(prompt)} characters; this server takes at most {limits.max_prompt_chars}")
    sampler = body.get("sampler")
    if sampler is not None and not isinstance(sampler, str):
        raise BadRequest(f"sampler must be a string, got {_type(sampler)}")
    kwargs = {
        "prompt": prompt,
        "length": _int(body, "length", 1, limits.max_length),
        "sampler": sampler,
        "temperature": _float(body, "temperature", schema.TEMPERATURE),
        "top_k": _int(body, "top_k", 1, spec=schema.TOP_K),
        "top_p": _float(body, "top_p", schema.TOP_P),
        "seed": _int(body, "seed", 0, 2**31 - 1),
    }
    return kwargs, _bool(body, "stream")


def _sentences(body, limits, allow_tokens):
    sentences = body["sentences"]
    if not isinstance(sentences, list):
        raise BadRequest(f"sentences must be an array, got {_type(sentences)}")
    if len(sentences) > limits.max_sentences:
        raise BadRequest(f"{len(sentences)} sentences; this server takes at most {limits.max_sentences} a request")
    for index, sentence in enumerate(sentences):
        if allow_tokens and isinstance(sentence, list):
            if not all(isinstance(token, str) for token in sentence):
                raise BadRequest(f"sentences[{index}] must hold only strings")
            size = len(" ".join(sentence))
        elif isinstance(sentence, str):
            size = len(sentence)
        else:
            kinds = "a string or an array of token strings" if allow_tokens else "a string"
            raise BadRequest(f"sentences[{index}] must be {kinds}, got {_type(sentence)}")
        if size > limits.max_sentence_chars:
            raise BadRequest(f"sentences[{index}] has {size} characters; at most {limits.max_sentence_chars}")
    return sentences


def tag_args(body, limits):
    """`{"sentences": [str | [str]], "n_best"}` → kwargs for `Tagger.tag`."""
    _fields(body, ("sentences", "n_best"), required=("sentences",))
    n_best = _int(body, "n_best", 1, limits.max_beam_size)
    return {"sentences": _sentences(body, limits, allow_tokens=True), "n_best": n_best or 1}


def translate_args(body, limits):
    """`{"sentences": [str], "beam_size", "length_penalty", "n_best", "max_length"}` → kwargs
    for `Translator.translate` (None: the recipe's value)."""
    _fields(body, ("sentences", "beam_size", "length_penalty", "n_best", "max_length"), required=("sentences",))
    length_penalty = _float(body, "length_penalty", schema.SEQ2SEQ["decode.length_penalty"])
    return {
        "sentences": _sentences(body, limits, allow_tokens=False),
        "beam_size": _int(body, "beam_size", 1, limits.max_beam_size),
        "length_penalty": length_penalty,
        "n_best": _int(body, "n_best", 1, limits.max_beam_size) or 1,
        "max_length": _int(body, "max_length", 1, limits.max_output_subwords),
    }
