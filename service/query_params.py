"""Every query parameter of the API is one value: a name given twice (``?offset=1&offset=2``)
is refused with a 422 that names it, instead of one of the values being taken silently."""

from __future__ import annotations

from collections import Counter
from urllib.parse import parse_qsl

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send


def repeated_names(query_string: bytes) -> list[str]:
    """The query parameter names given more than once, in order of first appearance."""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    counts = Counter(name for name, _ in pairs)
    return [name for name in dict.fromkeys(name for name, _ in pairs) if counts[name] > 1]


class SingleQueryValues:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        repeated = repeated_names(scope.get("query_string", b"")) if scope["type"] == "http" else []
        if not repeated:
            await self.app(scope, receive, send)
            return
        errors = [
            {"loc": ["query", name], "msg": "given more than once; send it once",
             "type": "repeated_parameter"}
            for name in repeated
        ]
        detail = "; ".join(f"query.{error['loc'][1]}: {error['msg']}" for error in errors)
        response = JSONResponse({"detail": detail, "errors": errors}, status_code=422)
        await response(scope, receive, send)
