"""PNG grids of generated digits."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status

from service.deps import GateDep, RegistryDep
from service.model_registry import InvalidModel, ModelNotFound
from service.schemas import MAX_SEED, Problem
from shared_models.sampling import MAX_SAMPLES, render_grid

router = APIRouter(tags=["generate"])

NO_MODEL = (
    "no trained generator yet: start a training job with POST /jobs, for example "
    "curl -X POST http://localhost:8000/jobs -H 'Content-Type: application/json' "
    "-d '{\"iterations\": 500}' ; then poll GET /jobs/{id}. /generate serves the first "
    "checkpoint as soon as it is written."
)


@router.get(
    "/generate",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}}, "description": "a grid of generated digits"},
        404: {"model": Problem}, 422: {"model": Problem}, 429: {"model": Problem},
        503: {"model": Problem},
    },
)
async def generate(
    registry: RegistryDep,
    gate: GateDep,
    n: Annotated[int, Query(ge=1, le=MAX_SAMPLES, description="number of digits")] = 64,
    nrow: Annotated[int, Query(ge=1, le=MAX_SAMPLES, description="digits per row")] = 8,
    padding: Annotated[int, Query(ge=0, le=32)] = 2,
    seed: Annotated[int | None, Query(ge=0, le=MAX_SEED, description="default: random")] = None,
    model: Annotated[
        str | None, Query(max_length=140, description="JOB or JOB:STEP (default: the served one)")
    ] = None,
) -> Response:
    try:
        loaded = registry.get(model)
    except ModelNotFound as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(error)) from error
    except InvalidModel as error:
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail=f"model {model} is invalid: {error}"
        ) from error
    if loaded is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=NO_MODEL)
    chosen_seed = secrets.randbelow(MAX_SEED) if seed is None else seed
    png = await gate.run(render_grid, loaded.generator, n, nrow, padding, chosen_seed)
    return Response(
        png,
        media_type="image/png",
        headers={
            "X-Model-Version": loaded.id,
            "X-Model-Sha256": loaded.manifest.sha256,
            "X-Seed": str(chosen_seed),
            "Cache-Control": "no-store" if seed is None or model is None else "max-age=86400",
        },
    )
