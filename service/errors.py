"""One JSON error shape for every 4xx/5xx: ``{"detail": "<what was wrong>"}``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from jobs.job_removal import JobInUse, JobNotFound, ModelNotFound
from service.render_admission import Overloaded
from service.schemas import Problem, ValidationProblem

log = logging.getLogger(__name__)

RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}


def problems(*codes: int, retry_after: tuple[int, ...] = ()) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route's error statuses, all ``{"detail": ...}`` JSON.

    422 is ``ValidationProblem`` (it adds ``errors``); the codes in ``retry_after`` also
    document the ``Retry-After`` header they always carry.
    """
    return {
        code: {
            "model": ValidationProblem if code == 422 else Problem,
            **({"headers": RETRY_AFTER} if code in retry_after else {}),
        }
        for code in codes
    }


def allowed_methods(request: Request) -> str:
    """Every method some route serves at this path (the router names only the first route's)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches(request.scope)
            if match != Match.NONE:
                methods |= route.methods
    return ", ".join(sorted(methods))


def describe_validation_error(error: dict[str, Any]) -> str:
    location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
    message = str(error.get("msg", "invalid value"))
    if error.get("type") == "extra_forbidden":
        message = "unknown field"
    return f"{location}: {message}" if location else message


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        detail = "; ".join(describe_validation_error(e) for e in exc.errors())
        return JSONResponse(
            {"detail": detail, "errors": errors},
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(Overloaded)
    async def overloaded(request: Request, exc: Overloaded) -> JSONResponse:
        return JSONResponse(
            {"detail": f"{exc}; retry in {exc.retry_after_s}s"},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after_s)},
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)


@contextmanager
def removal_refused(what: str) -> Iterator[None]:
    """A removal's refusals as answers: 404 for what is not there, 409 for what is in use."""
    try:
        yield
    except (JobNotFound, ModelNotFound) as missing:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(missing)) from missing
    except JobInUse as in_use:
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail=f"{what} cannot be deleted: {in_use}"
        ) from in_use
