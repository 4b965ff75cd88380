"""Prometheus scrape endpoint."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Request, Response

from service.metrics import CONTENT_TYPE

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    payload = await anyio.to_thread.run_sync(request.app.state.metrics.exposition)
    return Response(payload, media_type=CONTENT_TYPE)
