"""The generators the service knows about: the models table, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.deps import ModelsDep, RegistryDep
from service.errors import problems
from service.schemas import ModelList, ModelView

router = APIRouter(prefix="/models", tags=["models"])


@router.get("", responses=problems(422))
def list_models(
    registry: RegistryDep,
    models: ModelsDep,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ModelList:
    records, total = models.page(offset, limit)
    views = [ModelView.of(record, *registry.status_of(record)) for record in records]
    served = registry.served
    return ModelList(
        served=served.id if served else None, models=views, total=total, offset=offset,
        limit=limit,
    )
