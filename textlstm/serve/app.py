"""The Starlette application: routes, JSON in and out, limits, errors.

Endpoints (all JSON; errors are `{"error": "one line"}`):
    GET  /                          the page to try each model (page.html)
    GET  /health                    {"status": "ok", "models": N}
    GET  /models                    [{"name", "kind", "run_dir", "recipe", ("tags")}]
    POST /models/{name}/generate    char LM; {"text", "seed"}, or Server-Sent Events with "stream": true
    POST /models/{name}/tag         tagger; {"tags": [[tag per token]]} or {"n_best": [[{"tags", "prob"}]]}
    POST /models/{name}/translate   translator; {"translations": [str]} or {"n_best": [[{"text", "score"}]]}

Status codes: 400 malformed JSON (nested too deeply, a number of too many digits included),
wrong types, values out of range (also a `TextlstmError` raised by the model for its
arguments: checked before a stream starts, so a streamed request is refused the same way);
403 a page of another origin (`guard`); 404 unknown model or path; 405 wrong method; 408 a
body that did not arrive within the timeout; 409 an endpoint the model's kind does not have;
413 body too large; 421 a Host header that does not name this server (`guard`); 504 past the
timeout; 500 any other error in the model (logged with its traceback; the server keeps serving).
"""

import asyncio
import json
import logging
import secrets
import time
from importlib import resources

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect
from starlette.responses import HTMLResponse, JSONResponse, StreamingResponse
from starlette.routing import Route

from textlstm import families
from textlstm.errors import TextlstmError
from textlstm.serve.bodies import BadRequest, generate_args, tag_args, translate_args
from textlstm.serve.guard import HostOriginGuard
from textlstm.serve.slots import Timeout

log = logging.getLogger("textlstm.serve")


class HTTPError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _error(status, message):
    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status)


async def _read_json(request, limits):
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise HTTPError(413, f"request body of {declared} bytes; this server takes at most {limits.max_body_bytes}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limits.max_body_bytes:
            raise HTTPError(413, f"request body over {limits.max_body_bytes} bytes")
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise HTTPError(400, "the request body is not UTF-8") from None
    except json.JSONDecodeError as error:
        raise HTTPError(400, f"malformed JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    except RecursionError:
        raise HTTPError(400, "malformed JSON: arrays or objects nested too deeply") from None
    except ValueError:  # Python's limit on the digits of an integer read from text
        raise HTTPError(400, "malformed JSON: a number with too many digits") from None


async def _read_json_by(request, limits, deadline):
    """`_read_json` within the request's deadline: a body sent too slowly is 408."""
    try:
        return await asyncio.wait_for(_read_json(request, limits), max(deadline - time.monotonic(), 0))
    except asyncio.TimeoutError:
        raise HTTPError(408, f"the request body did not arrive within the timeout ({limits.timeout_s:g} s)") from None


def _plain(value):
    """JSON-ready copies of API results (numpy floats to float, tuples to lists)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    return float(value)


def _sse(event, data):
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def build_app(slots, limits, allow_hosts=(), allow_origins=()):
    """The ASGI app serving `slots` (name → `ModelSlot`) under `limits`, to requests whose Host
    names this server or one of `allow_hosts` and that come from its own page or one of
    `allow_origins` (see `guard`)."""
    page = resources.files("textlstm.serve").joinpath("page.html").read_text(encoding="utf-8")
    # which family each route serves: each family's class names its route (`endpoint`)
    endpoint_kind = {cls.endpoint: kind for kind, cls in families.model_classes().items()}

    def slot_for(name, endpoint):
        if name not in slots:
            raise HTTPError(404, f"no model named {name!r}; loaded: {', '.join(slots) or 'none'}")
        slot = slots[name]
        if slot.endpoint != endpoint:
            raise HTTPError(
                409,
                f"model {name!r} is a {slot.kind} model; it has no /{endpoint} "
                f"(that is for {endpoint_kind[endpoint]} models)",
            )
        return slot

    async def index(request):
        return HTMLResponse(page)

    async def health(request):
        return JSONResponse({"status": "ok", "models": len(slots)})

    async def models(request):
        return JSONResponse([slot.summary() for slot in slots.values()])

    async def generate(slot, body, deadline):
        kwargs, stream = generate_args(body, limits)
        if kwargs["length"] is None:  # the recipe's decode.length, within this server's cap
            kwargs["length"] = min(slot.model.recipe["decode"]["length"], limits.max_length)
        if kwargs["seed"] is None:
            kwargs["seed"] = secrets.randbelow(2**31)  # drawn here so the answer can say it
        # every option checked now, before a stream answers 200: a bad one is 400 either way
        slot.model.decoding_options(**{name: value for name, value in kwargs.items() if name != "prompt"})
        if not stream:
            texts = await slot.call(lambda model: model.generate(**kwargs), deadline)
            return JSONResponse({"text": texts[0], "seed": kwargs["seed"]})

        async def events():
            try:
                async for piece in slot.stream(lambda model: model.stream(**kwargs), deadline):
                    yield _sse("piece", {"text": piece})
                yield _sse("done", {"seed": kwargs["seed"]})
            except (Timeout, TextlstmError) as error:
                yield _sse("error", {"error": str(error)})
            except Exception as error:
                log.exception("model %r failed while streaming", slot.name)
                yield _sse("error", {"error": f"model error: {type(error).__name__}: {error}"})

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        )

    async def tag(slot, body, deadline):
        kwargs = tag_args(body, limits)
        result = await slot.call(lambda model: model.tag(**kwargs), deadline)
        return JSONResponse({"tags" if kwargs["n_best"] == 1 else "n_best": _plain(result)})

    async def translate(slot, body, deadline):
        kwargs = translate_args(body, limits)
        result = await slot.call(lambda model: model.translate(**kwargs), deadline)
        if kwargs["n_best"] == 1:
            return JSONResponse({"translations": result})
        return JSONResponse(
            {"n_best": [[{"text": text, "score": float(score)} for text, score in hyps] for hyps in result]}
        )

    handlers = {"generate": generate, "tag": tag, "translate": translate}

    def endpoint(name):
        async def handle(request):
            deadline = time.monotonic() + limits.timeout_s
            try:
                slot = slot_for(request.path_params["name"], name)
                body = await _read_json_by(request, limits, deadline)
                return await handlers[name](slot, body, deadline)
            except HTTPError as error:
                return _error(error.status, error)
            except (BadRequest, TextlstmError) as error:
                return _error(400, error)
            except Timeout as error:
                return _error(504, f"{error} ({limits.timeout_s:g} s)")
            except ClientDisconnect:
                return _error(400, "the client disconnected")
            except Exception as error:
                log.exception("model %r failed", request.path_params["name"])
                return _error(500, f"model error: {type(error).__name__}: {error}")

        return handle

    async def not_found(request, exc):
        return _error(exc.status_code, f"{exc.detail}: {request.method} {request.url.path}")

    routes = [Route("/", index), Route("/health", health), Route("/models", models)]
    routes += [Route(f"/models/{{name}}/{name}", endpoint(name), methods=["POST"]) for name in handlers]
    from starlette.exceptions import HTTPException

    middleware = [Middleware(HostOriginGuard, allow_hosts=tuple(allow_hosts), allow_origins=tuple(allow_origins))]
    if allow_origins:  # pages of those origins may read the answers
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(allow_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Content-Type"],
            )
        )
    return Starlette(routes=routes, exception_handlers={HTTPException: not_found}, middleware=middleware)
