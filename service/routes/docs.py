"""The API's documentation page, with every asset served by this service.

Swagger UI (``/docs``) comes from the fastapi-offline package's copy of its bundle, mounted at
``/docs-assets``: nothing is fetched from a CDN, so the page works on a host with no way out
(an air-gapped cluster) as anywhere else. There is no ReDoc page: its bundle loads its logo
from a CDN whatever it is told.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS_URL = "/docs-assets"
TITLE = "dcgan-service"

router = APIRouter(tags=["docs"])


@router.get("/docs", include_in_schema=False)
def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}/openapi.json",
        title=f"{TITLE} - Swagger UI",
        swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
        # no validator badge: it would ask validator.swagger.io
        swagger_ui_parameters={"validatorUrl": None, "tryItOutEnabled": False},
    )
