"""Prometheus scrape endpoint."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Response

from service.deps import MetricsDep
from service.metrics import CONTENT_TYPE

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response)
async def metrics(registry: MetricsDep) -> Response:
    payload = await anyio.to_thread.run_sync(registry.exposition)
    return Response(payload, media_type=CONTENT_TYPE)
