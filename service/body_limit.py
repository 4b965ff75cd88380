"""Bounds on reading a request body: how large it may be, per route, and how long it may take.

Every route takes bodies of at most DCGAN_MAX_BODY_BYTES unless it declares its own bound
(``openapi_extra=larger_body(64 * 2**20)``; the OpenAPI document then names that bound in the
route's 413). The bound is checked against Content-Length when the app first asks for the
body, after routing and before any of it is read, and again as it streams in: 413. The whole
body must arrive within DCGAN_BODY_TIMEOUT_SECONDS of the request head: 408. Both answers
close the connection, since the rest of the body is left unread.

The route is known only once routing has run, hence the check at the first read: a route that
never reads its body is not refused for it (uvicorn buffers a bounded part and drops the
rest). FastAPI's own ``max_body_size`` is not used: its 413 is plain text on some paths and
does not name the bound.
"""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MARK = "x-dcgan-max-body-bytes"  # a route's bound, in its openapi_extra
CLOSE = {"Connection": "close"}


def larger_body(max_bytes: int) -> dict[str, Any]:
    """A route's ``openapi_extra`` for bodies up to ``max_bytes`` (merge it with other marks:
    ``openapi_extra={**GUARDED, **larger_body(n)}``)."""
    return {MARK: max_bytes}


def route_bound(scope: Scope, default: int) -> int:
    """The body bound of the route this request was routed to (routing has run)."""
    extra = getattr(scope.get("route"), "openapi_extra", None) or {}
    return int(extra.get(MARK, default))


class BodyTooLarge(HTTPException):
    """HTTPExceptions, so FastAPI's body parsing passes them on to the error handler."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body larger than {max_bytes} bytes", CLOSE)


class BodyTooSlow(HTTPException):
    def __init__(self, timeout_seconds: float) -> None:
        super().__init__(408, f"request body not received within {timeout_seconds:g} s", CLOSE)


class BodyLimits:
    def __init__(self, app: ASGIApp, default_max_bytes: int, timeout_seconds: float) -> None:
        self.app = app
        self.default_max_bytes = default_max_bytes
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        deadline = time.monotonic() + self.timeout_seconds
        received = 0
        complete = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, complete
            if complete:  # the body is in; what comes now is the disconnect, whenever it comes
                return await receive()
            max_bytes = route_bound(scope, self.default_max_bytes)
            if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
                raise BodyTooLarge(max_bytes)
            message = None
            with anyio.move_on_after(max(0.0, deadline - time.monotonic())):
                message = await receive()
            if message is None:
                raise BodyTooSlow(self.timeout_seconds)
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLarge(max_bytes)
                complete = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except (BodyTooLarge, BodyTooSlow) as error:
            if not started:  # else the response stays incomplete: uvicorn closes the connection
                await answer(send, error)


async def answer(send: Send, error: HTTPException) -> None:
    body = json.dumps({"detail": error.detail}).encode()
    await send({
        "type": "http.response.start",
        "status": error.status_code,
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *((name.lower().encode(), value.encode())
                      for name, value in (error.headers or {}).items())],
    })
    await send({"type": "http.response.body", "body": body})
