"""Bounds on a request's head, the request line and headers: its size and its header count,
answered with a 431 before the app looks at the request.

The server (service.http_protocol) already refuses a head that grows past the size bound
before it is complete; a complete head that arrived at once is measured here, as it was
sent: ``METHOD target HTTP/1.1``, then ``name: value`` per header, each line with its CRLF.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

# " HTTP/1.1\r\n" ends the request line, "\r\n" the head; ": " and "\r\n" frame each header
REQUEST_LINE_FRAMING = len(b"  HTTP/1.1\r\n") + len(b"\r\n")
HEADER_FRAMING = len(b": \r\n")


def head_size(scope: Scope) -> int:
    target = len(scope.get("raw_path") or scope["path"].encode())
    if scope["query_string"]:
        target += 1 + len(scope["query_string"])
    headers = sum(len(name) + len(value) + HEADER_FRAMING for name, value in scope["headers"])
    return len(scope["method"]) + target + REQUEST_LINE_FRAMING + headers


def head_problem(scope: Scope, max_bytes: int, max_count: int) -> str | None:
    count = len(scope["headers"])
    if count > max_count:
        return f"request with {count} headers: at most {max_count} are accepted"
    size = head_size(scope)
    if size > max_bytes:
        return f"request head larger than {max_bytes} bytes"
    return None


class HeaderLimits:
    def __init__(self, app: ASGIApp, max_bytes: int, max_count: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_count = max_count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = (head_problem(scope, self.max_bytes, self.max_count)
                   if scope["type"] == "http" else None)
        if problem is None:
            await self.app(scope, receive, send)
            return
        # the body, if any, is left unread: the connection goes with the answer
        response = JSONResponse({"detail": problem}, status_code=431,
                                headers={"Connection": "close"})
        await response(scope, receive, send)
