"""The generators the service knows about: the models table, newest first, and why the
served one is served."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.deps import ModelsDep, ModelServerDep, PinsDep
from service.errors import problems
from service.routes.serving import serving_status
from service.schemas import ModelList, ModelView

router = APIRouter(prefix="/models", tags=["models"])


@router.get("", responses=problems(422))
def list_models(
    server: ModelServerDep,
    models: ModelsDep,
    pins: PinsDep,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ModelList:
    """Every stored checkpoint with its scores and status, whether the serving policy's gate
    lets promotion serve it, and which model is served and why."""
    records, total = models.page(offset, limit)
    gate = server.policy.gate
    views = [
        ModelView.of(record, *server.status_of(record), gate.verdict(record))
        for record in records
    ]
    serving = serving_status(server, pins)
    return ModelList(
        served=serving.model, serving=serving, models=views, total=total, offset=offset,
        limit=limit,
    )
