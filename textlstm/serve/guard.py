"""Only requests addressed to this server, and from its own page or allowed origins.

A page on another site can make a browser send requests to a server on the visitor's
machine: cross-origin POSTs (answered even if the page cannot read them), and with DNS
rebinding (the attacker's name made to resolve to 127.0.0.1) requests that look same-origin
to the browser. Both are refused here, before any route runs:

- the `Host` header must name the server: a loopback name (localhost, 127.0.0.1, ::1), the
  address the client connected to, or a name given with `--allow-host`, on the server's port
  (or no port); otherwise 421 Misdirected Request. A request without a Host header (HTTP/1.0)
  is let through: a browser always sends one.
- an `Origin` header must be the server's own (`scheme://Host`, the page at /) or one given
  with `--allow-origin`; otherwise 403. Allowed other origins get CORS headers
  (`starlette.middleware.cors.CORSMiddleware`).

Reference: the DNS-rebinding advice of the Host-header checks in Django's ALLOWED_HOSTS and
Starlette's TrustedHostMiddleware (which ignores ports; this one does not).
"""

import json

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def split_host(value):
    """`"[::1]:8080"` → `("::1", 8080)`, `"Example.COM"` → `("example.com", None)`; a port that is
    not a number gives port -1 (matches nothing)."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif value.count(":") == 1:
        name, port = value.split(":")
    else:
        name, port = value, None  # a bare IPv6 address has several colons and no port
    if port is None:
        return name, None
    return name, int(port) if port.isdigit() and len(port) <= 5 else -1


class HostOriginGuard:
    """ASGI middleware refusing requests for other hosts (421) and from other origins (403).

    Args:
        app: the ASGI app to protect.
        allow_hosts: more `HOST` or `HOST:PORT` entries the Host header may name; "*" any.
        allow_origins: more origins (`https://app.example`) requests may come from; "*" any.
    """

    def __init__(self, app, allow_hosts=(), allow_origins=()):
        self.app = app
        self.any_host = "*" in allow_hosts
        self.allow_hosts = {split_host(host) for host in allow_hosts if host != "*"}
        self.any_origin = "*" in allow_origins
        self.allow_origins = {origin.strip().lower().rstrip("/") for origin in allow_origins}

    def host_allowed(self, host, server):
        """Whether the Host header value `host` names this server, listening at `server` (address, port)."""
        name, port = split_host(host)
        address, bound_port = server or (None, None)
        if (name, port) in self.allow_hosts or self.any_host:
            return True
        if port is not None and port != bound_port:
            return False
        return name in LOOPBACK_NAMES or name == (address or "").lower() or (name, None) in self.allow_hosts

    def origin_allowed(self, origin, host, scheme):
        origin = origin.strip().lower().rstrip("/")
        return (
            self.any_origin
            or origin in self.allow_origins
            or (host is not None and origin == f"{scheme}://{host.strip().lower()}")
        )

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = {
                name.decode("latin-1"): value.decode("latin-1")
                for name, value in scope["headers"]
                if name in (b"host", b"origin")
            }
            host, origin = headers.get("host"), headers.get("origin")
            if host is not None and not self.host_allowed(host, scope.get("server")):
                return await _refuse(
                    send,
                    421,
                    f"Host {host!r} is not this server; a server reached by that "
                    "name on purpose is started with --allow-host",
                )
            if origin is not None and not self.origin_allowed(origin, host, scope.get("scheme", "http")):
                return await _refuse(
                    send,
                    403,
                    f"requests from pages of {origin!r} are refused; a server meant "
                    "for them is started with --allow-origin",
                )
        await self.app(scope, receive, send)


async def _refuse(send, status, message):
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
