"""`textlstm serve`: trained models behind a small HTTP/JSON server, with a page to try them.

Each run directory is loaded once with `textlstm.load` (the same objects as the Python API
and the CLI: one code path). Requests to one model are serialised: one call at a time per
model, run in a worker thread so the event loop keeps answering (see `slots.ModelSlot`).

    textlstm serve runs/shakespeare ner=runs/wnut17 --port 8080

Modules: `limits` (the configurable caps), `bodies` (JSON bodies checked into API
arguments), `slots` (a loaded model, its lock and its worker thread), `app` (the Starlette
routes), `guard` (Host and Origin checks), `connections` (uvicorn's h11 protocol with a
request-head deadline), `server` (binding and uvicorn's configuration) and `page.html` (the
page at `/`). Starlette and uvicorn come with the `[serve]` extra.
"""

INSTALL_HINT = 'pip install "textlstm[serve]"'


def require_extra():
    """Import-check Starlette and uvicorn; a missing one is one TextlstmError naming the install command."""
    from textlstm.errors import TextlstmError

    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as error:
        raise TextlstmError(
            f"textlstm serve needs the [serve] extra ({error.name} is not installed): {INSTALL_HINT}"
        ) from None
