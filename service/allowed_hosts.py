"""The Host allow-list, against DNS rebinding.

A web page on attacker.example can re-point its own name at 127.0.0.1 (or at any address the
visitor's browser reaches) and then call the service as if it were its own origin: the
browser's same-origin rules see one origin throughout. Those requests carry
``Host: attacker.example``, so the service answers only requests whose Host it knows
(``DCGAN_ALLOWED_HOSTS``) and refuses the rest with a 400.

IP literals (``127.0.0.1:8000``, ``[::1]``, a pod's address) are always served: no DNS answer
changes what they name, so they cannot be rebound, and probes and scrapers address the
service by them. A request without a Host header (HTTP/1.0) is served too: browsers always
send one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

SETTING = "DCGAN_ALLOWED_HOSTS"


def split_host(host: str) -> tuple[str, int | None]:
    """A Host header's name (lower case, without a trailing dot or IPv6 brackets) and port:
    ``"Example.COM.:8000"`` -> ``("example.com", 8000)``, ``"[::1]"`` -> ``("::1", None)``."""
    name, port = host.strip(), ""
    if name.startswith("["):
        name, _, rest = name[1:].partition("]")
        port = rest.removeprefix(":")
    elif name.count(":") == 1:
        name, _, port = name.partition(":")
    return name.lower().rstrip("."), int(port) if port.isdigit() else None


def is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostPatterns:
    """Names as DCGAN_ALLOWED_HOSTS lists them: ``example.com`` (that name), ``*.example.com``
    (the names under it, not example.com itself), ``*`` (any)."""

    def __init__(self, patterns: Iterable[str]) -> None:
        patterns = [pattern.strip().lower().rstrip(".") for pattern in patterns]
        self.any = "*" in patterns
        self.names = {pattern for pattern in patterns if not pattern.startswith("*")}
        self.suffixes = tuple(pattern[1:] for pattern in patterns if pattern.startswith("*."))

    def allows(self, host: str) -> bool:
        name, _ = split_host(host)
        return (
            self.any or is_ip_literal(name) or name in self.names
            or (bool(self.suffixes) and name.endswith(self.suffixes))
        )


class AllowedHosts:
    def __init__(self, app: ASGIApp, patterns: Iterable[str]) -> None:
        self.app = app
        self.patterns = HostPatterns(patterns)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = next((value for name, value in scope["headers"] if name == b"host"), None)
            if host is not None and not self.patterns.allows(host.decode("latin-1")):
                detail = (f"Host {host.decode('latin-1')!r} is not served here: "
                          f"add its name to {SETTING}")
                await JSONResponse({"detail": detail}, status_code=400)(scope, receive, send)
                return
        await self.app(scope, receive, send)
