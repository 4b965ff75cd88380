"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from service.deps import JobsDep, ModelServerDep, SettingsDep
from service.schemas import Problem

router = APIRouter(tags=["health"])


@router.get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "alive"}


@router.get(
    "/readyz", responses={503: {"model": Problem, "description": "job records unreachable"}}
)
def readyz(store: JobsDep, server: ModelServerDep, settings: SettingsDep) -> dict[str, object]:
    try:
        store.ping()
    except Exception as error:  # noqa: BLE001 - any failure means not ready
        raise HTTPException(503, detail=f"job records unreachable: {error}") from error
    served = server.served
    return {
        "status": "ready",
        "model": served.id if served else None,
        "broker": "embedded (SQLite)" if settings.embedded else "redis",
    }
