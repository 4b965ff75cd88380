"""Requests that change state (POST, PUT, PATCH, DELETE) are refused when a browser sends them
from another origin.

Without DCGAN_API_TOKEN nothing else stops a page on any site from posting to the service
that its visitor runs on localhost: a form or a ``fetch`` needs no CORS permission to send,
only to read the answer, and by then a model was rolled back or a job cancelled. Browsers
say where a request comes from: ``Sec-Fetch-Site`` (``cross-site``, ``same-site`` for
another origin of the same site, ``same-origin``, ``none`` for what the user typed) and
``Origin`` on every POST, PUT, PATCH and DELETE. A request is refused with a 403 when

- ``Sec-Fetch-Site`` is ``cross-site`` or ``same-site``, or
- its ``Origin`` is not the Host it was sent to (``null``, a sandboxed page, never is).

Clients that are not browsers (curl, the Python client, the CLI) send neither header and are
served as before; so are the dashboard's and the API docs' requests, which are same-origin.
The Origin is compared with the Host by name and port (a port left out is the default of
the Origin's scheme), so behind a proxy the Host must be the one the browser used.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from service.allowed_hosts import split_host

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_PORTS = {"http": 80, "https": 443}


def same_host(origin: str, host: str) -> bool:
    try:
        parts = urlsplit(origin)
        origin_port = parts.port
    except ValueError:  # a port that is not a number
        return False
    default = DEFAULT_PORTS.get(parts.scheme)
    name, port = split_host(host)
    return (
        parts.hostname is not None and parts.hostname.rstrip(".") == name
        and (origin_port or default) == (port or default)
    )


def cross_site_reason(method: str, headers: Headers) -> str | None:
    """Why a browser's request must be refused, or None."""
    if method not in MUTATING:
        return None
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site in ("cross-site", "same-site"):
        return f"a {fetch_site} request (Sec-Fetch-Site: {fetch_site}) cannot {method} here"
    origin = headers.get("origin")
    if origin is None:
        return None
    host = headers.get("host")
    if host is None or not same_host(origin, host):
        return f"a request from Origin {origin!r} cannot {method} at Host {host!r}"
    return None


class CrossSiteGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            reason = cross_site_reason(scope["method"], Headers(scope=scope))
            if reason is not None:
                response = JSONResponse({"detail": f"cross-site request refused: {reason}"},
                                        status_code=403)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
