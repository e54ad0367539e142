"""Load the models, bind the socket, print where it listens, run uvicorn until Ctrl-C."""

import functools
import ipaddress
import pathlib
import socket
import sys

from textlstm.errors import TextlstmError

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def parse_specs(specs):
    """`["runs/a", "b=runs/x"]` → `{"a": "runs/a", "b": "runs/x"}`: a model is named after its
    run directory's last path component unless `NAME=` is given; names must be unique."""
    named = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or "/" in name:
            name, path = pathlib.Path(spec).resolve().name, spec
        if not name or any(c in name for c in "/?#% "):
            raise TextlstmError(f"cannot name a model after {spec!r}; give NAME=RUN_DIR")
        if name in named:
            raise TextlstmError(f"two models named {name!r} ({named[name]} and {path}); name one with NAME=RUN_DIR")
        named[name] = path
    return named


def is_loopback(host):
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in LOOPBACK


def bind(host, port):
    """A socket bound to (host, port), port 0 meaning a free one chosen by the system."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    # proto must say TCP: asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP, and
    # without it each small answer waits ~40 ms for the client's delayed ACK (Nagle's algorithm).
    sock = socket.socket(family, kind, proto or socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)  # connections wait in the backlog until uvicorn runs: no refusal after the first line
    except OSError as error:
        sock.close()
        raise TextlstmError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    return sock


def uvicorn_config(app, limits):
    """The `uvicorn.Config` of a server under `limits`: its connection caps and timeouts
    (`Limits.header_timeout_s` through `connections.HeadDeadlineProtocol`), uvicorn's logging
    quiet but for warnings."""
    import uvicorn

    from textlstm.serve.connections import HeadDeadlineProtocol

    return uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        http=functools.partial(HeadDeadlineProtocol, head_timeout_s=limits.header_timeout_s),
        timeout_keep_alive=limits.keep_alive_s,
        limit_concurrency=limits.max_connections,
        h11_max_incomplete_event_size=limits.max_body_bytes + 16384,
    )


def _room_for(connections):
    """Raise the soft limit on open files to hold `connections` sockets and the model files
    (up to the hard limit), so many idle clients cannot make accepting fail with EMFILE."""
    try:
        import resource
    except ImportError:  # not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(
            resource.RLIMIT_NOFILE, (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard), hard)
        )


def serve(specs, host="127.0.0.1", port=8080, limits=None, echo=print, allow_hosts=(), allow_origins=(), loading=None):
    """Serve the run directories `specs` (see `parse_specs`) until interrupted.

    The first line printed (stdout, flushed) is `serving N model(s) at http://HOST:PORT/`
    with the bound port, so `--port 0` is race-free for scripts and tests. Requests must name
    this server in their Host header, or one of `allow_hosts`, and come from its own page or
    one of `allow_origins` (`textlstm.serve.guard`). `loading` holds the `textlstm.load` keyword
    arguments used for every run served: `checkpoint` (None: each run's best), `quantize`.

    Raises:
        TextlstmError: a bad name, a run directory that does not load, a port in use.
    """
    import uvicorn

    import textlstm
    from textlstm.rundir import RunDir
    from textlstm.serve.app import build_app
    from textlstm.serve.limits import Limits
    from textlstm.serve.slots import ModelSlot

    limits = limits or Limits()
    named = parse_specs(specs)
    if not named:
        raise TextlstmError("give at least one RUN_DIR to serve")
    if not is_loopback(host):
        print(
            f"warning: listening on {host}, beyond this machine; the server has no authentication, "
            "anyone who can reach the port can use the models",
            file=sys.stderr,
        )
    for path in named.values():
        RunDir.read_kind(path)  # a missing or foreign directory fails before anything is bound
    sock = bind(host, port)  # before loading: a port in use fails fast
    slots = {name: ModelSlot(name, textlstm.load(path, **(loading or {}))) for name, path in named.items()}
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    echo(
        f"serving {len(slots)} model(s) at http://{shown}:{bound_port}/: "
        + ", ".join(
            f"{name} ({slot.kind}{', ' + slot.model.quantize if slot.model.quantize else ''})"
            for name, slot in slots.items()
        )
    )
    sys.stdout.flush()
    _room_for(limits.max_connections)
    config = uvicorn_config(build_app(slots, limits, allow_hosts, allow_origins), limits)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        for slot in slots.values():
            slot.close()
        sock.close()
