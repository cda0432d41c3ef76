"""Request hygiene: which Host, Origin, body size and Content-Type the API accepts, and the middleware that says no.

These stop a web page in the operator's browser from driving a loopback daemon:
- ``Host`` must be the bound address, a loopback name, or a configured name
  (DNS rebinding makes ``evil.example`` resolve to 127.0.0.1; its requests still
  say ``Host: evil.example``), else 421;
- a request with an ``Origin`` header must come from the service's own origin
  (``http://`` plus the accepted Host: the dashboard's own ``fetch`` writes) or
  an allowed origin (none by default), else 403;
- a write (POST, PUT, PATCH, DELETE) must say ``Content-Type: application/json``,
  which a page cannot send cross-origin without a preflight, else 415;
- a body over ``max_body_bytes`` gets 413, before it is read when it declares
  its length.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from aiohttp import web

from selfinstruct.errors import ConfigError

__all__ = ["HostPolicy", "split_host", "origin_allowed", "hygiene_middleware"]

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Reply = Callable[..., web.Response]


def split_host(value: str) -> tuple[str, int | None] | None:
    """``"Name:8700"`` -> ``("name", 8700)``, ``"[::1]:80"`` -> ``("::1", 80)``; None when malformed."""
    value = value.strip().lower()
    if not value:
        return None
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[1:end], value[end + 1:]
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:] if rest else None
    elif value.count(":") == 1:
        name, port_text = value.split(":")
    elif ":" in value:
        return None  # a bare IPv6 address is not a valid Host header
    else:
        name, port_text = value, None
    if port_text is None:
        return name, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return None
    return name, int(port_text)


@dataclass
class HostPolicy:
    """Accepted Host headers. ``port`` is set once the listening socket is bound (``--port 0`` picks one)."""

    bound_host: str
    allowed: Iterable[str] = ()
    port: int | None = None
    _names: set[str] = field(default_factory=set, init=False)              # any port
    _pairs: set[tuple[str, int]] = field(default_factory=set, init=False)  # exactly this port

    def __post_init__(self) -> None:
        for entry in self.allowed:
            parsed = split_host(entry)
            if parsed is None:
                raise ConfigError(f"allowed_hosts entries are 'name' or 'name:port', got {entry!r}")
            name, port = parsed
            if port is None:
                self._names.add(name)
            else:
                self._pairs.add((name, port))

    def accepts(self, header: str | None) -> bool:
        parsed = split_host(header or "")
        if parsed is None:
            return False
        name, port = parsed
        if name in self._names or (port is not None and (name, port) in self._pairs):
            return True
        if name in _LOOPBACK_NAMES or name == self.bound_host.strip("[]").lower():
            # A client omits the port only for 80; anything else must be the port we listen on.
            return (port or 80) == self.port
        return False


def origin_allowed(origin: str, allowed: Iterable[str], *, host: str | None = None) -> bool:
    """``origin`` is one of ``allowed``, or the service's own (``http://HOST``, HOST the request's checked Host)."""
    origin = origin.strip().rstrip("/").lower()
    if host is not None and origin == f"http://{host.strip().lower()}":
        return True
    return origin in {a.rstrip("/").lower() for a in allowed}


def hygiene_middleware(hosts: HostPolicy, *, origins: tuple[str, ...], max_body: int,
                       reply: Reply) -> Callable[..., Awaitable[web.StreamResponse]]:
    """One middleware for the four rules, in this order: Host (421), Origin (403), size (413), type (415)."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not hosts.accepts(request.headers.get("Host")):
            return reply(421, "this service does not answer for that Host; add the name to allowed_hosts in the "
                              "service's --config file if it is yours")
        origin = request.headers.get("Origin")
        if origin is not None and not origin_allowed(origin, origins, host=request.headers.get("Host")):
            return reply(403, f"requests from origin {origin!r} are not allowed (allowed_origins in the "
                              f"service's --config file)")
        if request.content_length is not None and request.content_length > max_body:
            return reply(413, f"the body is {request.content_length} bytes; the limit is {max_body}",
                         headers={"Connection": "close"})
        if request.method in _WRITES and request.content_type != "application/json":
            return reply(415, f"{request.method} needs 'Content-Type: application/json', got "
                              f"{request.headers.get('Content-Type', 'none')!r}")
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:  # a body without a length, cut off while read
            return reply(413, f"the body is over the limit of {max_body} bytes", headers={"Connection": "close"})

    return check
