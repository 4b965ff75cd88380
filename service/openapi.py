"""The OpenAPI document, as the server runs: readable operation ids, the bearer scheme only
where a token is enforced, and the error every operation can answer with.

FastAPI builds the document from the routes; this adds what the routes cannot say. The
operations that depend on ``require_token`` get the bearer security requirement and their
401 and 403 answers only when ``DCGAN_API_TOKEN`` is set, so a client generated from the
document of a server without a token sends none. Every operation documents the 500 answer
(``{"detail": "internal error"}``) that the catch-all error handler gives.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from service.auth import MARK, SCHEME

PROBLEM = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
TOKEN_ANSWERS = {
    "401": {"description": "no bearer token (WWW-Authenticate: Bearer)", **PROBLEM},
    "403": {"description": "a wrong bearer token", **PROBLEM},
}


def operation_id(route: APIRoute) -> str:
    """The route function's name: submit_job, not submit_job_jobs_post."""
    return route.name


def install_openapi(app: FastAPI, token_enforced: bool) -> None:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        for operations in schema["paths"].values():
            for operation in operations.values():
                operation["responses"].setdefault(
                    "500", {"description": "an unexpected error (logged)", **PROBLEM}
                )
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
