"""The OpenAPI document, as the server runs: readable operation ids, the bearer scheme only
where a token is enforced, and the error every operation can answer with.

FastAPI builds the document from the routes; this adds what the routes cannot say. The
operations that depend on ``require_token`` get the bearer security requirement and their
401 and 403 answers only when ``DCGAN_API_TOKEN`` is set, so a client generated from the
document of a server without a token sends none. Every operation documents the 500 answer
(``{"detail": "internal error"}``) that the catch-all error handler gives, and every one that
takes a body (or declares a bound for one) its 413, naming the route's bound
(service.body_limit), and its 408.

The answers of the middlewares that look at every request before it is routed are given to
every operation they apply to: 400 for an unknown Host (service.allowed_hosts) and 431 for a
head too large (service.header_limits) to all, 403 for a browser's cross-site request
(service.cross_site) to those that change something.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from service import body_limit
from service.auth import MARK, SCHEME

PROBLEM = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
TOKEN_ANSWERS = {
    "401": {"description": "no bearer token (WWW-Authenticate: Bearer)", **PROBLEM},
    "403": {"description": "a wrong bearer token, or a browser's cross-site request", **PROBLEM},
}
EVERY_REQUEST = {
    "400": {"description": "a Host outside DCGAN_ALLOWED_HOSTS", **PROBLEM},
    "431": {"description": "a request head over its size or header count bounds (the "
                           "connection is closed)", **PROBLEM},
}
CROSS_SITE = {"403": {"description": "a browser's cross-site request", **PROBLEM}}
CHANGES = {"post", "put", "patch", "delete"}


def operation_id(route: APIRoute) -> str:
    """The route function's name: submit_job, not submit_job_jobs_post."""
    return route.name


def body_answers(max_bytes: int, timeout_seconds: float) -> dict[str, Any]:
    return {
        "408": {"description": f"the body did not arrive within {timeout_seconds:g} s "
                               "(the connection is closed)", **PROBLEM},
        "413": {"description": f"a body larger than {max_bytes} bytes "
                               "(the connection is closed)", **PROBLEM},
    }


def install_openapi(app: FastAPI, token_enforced: bool, max_body_bytes: int,
                    body_timeout_seconds: float) -> None:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        for operations in schema["paths"].values():
            for method, operation in operations.items():
                operation["responses"].setdefault(
                    "500", {"description": "an unexpected error (logged)", **PROBLEM}
                )
                for status, answer in EVERY_REQUEST.items():
                    operation["responses"].setdefault(status, answer)
                if method in CHANGES:
                    operation["responses"].update(CROSS_SITE)
                # a route that reads its body itself declares no requestBody, but its bound
                declared = body_limit.MARK in operation
                bound = operation.pop(body_limit.MARK, max_body_bytes)
                if declared or "requestBody" in operation:
                    operation["responses"].update(body_answers(bound, body_timeout_seconds))
                if operation.pop(MARK, False) and token_enforced:
                    operation["security"] = [{SCHEME: []}]
                    operation["responses"].update(TOKEN_ANSWERS)
        if token_enforced:
            schema.setdefault("components", {}).setdefault("securitySchemes", {})[SCHEME] = {
                "type": "http",
                "scheme": "bearer",
                "description": "the service's DCGAN_API_TOKEN",
            }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
