"""PNG grids of generated digits, and latent-space interpolation strips."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, HTTPException, Query, Response, status

from service.batching import RenderBatcher
from service.deps import BatcherDep, GateDep, RegistryDep
from service.model_loader import InvalidModel, LoadedModel
from service.model_registry import ModelNotFound, ModelRegistry
from service.render_gate import RenderGate
from service.schemas import Problem
from shared_models.config import MAX_SEED
from shared_models.grids import grid_png
from shared_models.sampling import (
    MAX_SAMPLES,
    SampleInputs,
    grid_inputs,
    interpolation_inputs,
)

router = APIRouter(tags=["generate"])

NO_MODEL = (
    "no trained generator yet: start a training job with POST /jobs, for example "
    "curl -X POST http://localhost:8000/jobs -H 'Content-Type: application/json' "
    "-d '{\"iterations\": 500}' ; then poll GET /jobs/{id}. /generate serves the first "
    "checkpoint as soon as it is written."
)
PNG_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {}}, "description": "a PNG image"},
    404: {"model": Problem}, 409: {"model": Problem}, 422: {"model": Problem},
    429: {"model": Problem}, 503: {"model": Problem},
}

ModelParam = Annotated[
    str | None, Query(max_length=140, description="JOB or JOB:STEP (default: the served one)")
]
DigitParam = Annotated[
    int | None, Query(ge=0, le=9, description="conditional models only: draw this digit")
]
PaddingParam = Annotated[int, Query(ge=0, le=32)]
# a grid of this many digits or fewer is encoded on the event loop: its PNG takes less time
# (a few hundred microseconds at most) than handing it to a worker thread and back
INLINE_PNG_MAX = 16


async def choose_model(
    registry: ModelRegistry, model: str | None, digit: int | None
) -> LoadedModel:
    try:
        loaded = await registry.get(model)
    except ModelNotFound as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(error)) from error
    except InvalidModel as error:
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail=f"model {model} is invalid: {error}"
        ) from error
    if loaded is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=NO_MODEL)
    if digit is not None and not loaded.num_classes:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"digit: model {loaded.id} is not conditional, so it cannot draw a chosen "
            "digit; train one with \"conditional\": true, or leave out digit",
        )
    return loaded


async def render(
    gate: RenderGate,
    batcher: RenderBatcher,
    loaded: LoadedModel,
    inputs: SampleInputs,
    nrow: int,
    padding: int,
) -> bytes:
    """Images from the shared batched forward pass, then this request's PNG (in a thread,
    unless the grid is small)."""
    async with gate.slot():
        images = await batcher.images(loaded.generator, inputs)
        if images.shape[0] <= INLINE_PNG_MAX:
            return grid_png(images, nrow, padding)
        return await anyio.to_thread.run_sync(grid_png, images, nrow, padding)


def png_response(png: bytes, loaded: LoadedModel, seed: str, cacheable: bool) -> Response:
    return Response(
        png,
        media_type="image/png",
        headers={
            "X-Model-Version": loaded.id,
            "X-Model-Sha256": loaded.sha256,
            "X-Seed": seed,
            "Cache-Control": "max-age=86400" if cacheable else "no-store",
        },
    )


@router.get("/generate", response_class=Response, responses=PNG_RESPONSES)
async def generate(
    registry: RegistryDep,
    gate: GateDep,
    batcher: BatcherDep,
    n: Annotated[int, Query(ge=1, le=MAX_SAMPLES, description="number of digits")] = 64,
    nrow: Annotated[int, Query(ge=1, le=MAX_SAMPLES, description="digits per row")] = 8,
    padding: PaddingParam = 2,
    seed: Annotated[int | None, Query(ge=0, le=MAX_SEED, description="default: random")] = None,
    model: ModelParam = None,
    digit: DigitParam = None,
) -> Response:
    loaded = await choose_model(registry, model, digit)
    chosen = secrets.randbelow(MAX_SEED) if seed is None else seed
    inputs = grid_inputs(loaded.generator, n, chosen, digit)
    png = await render(gate, batcher, loaded, inputs, nrow, padding)
    return png_response(png, loaded, str(chosen), seed is not None and model is not None)


@router.get("/interpolate", response_class=Response, responses=PNG_RESPONSES)
async def interpolate(
    registry: RegistryDep,
    gate: GateDep,
    batcher: BatcherDep,
    seed_a: Annotated[int, Query(ge=0, le=MAX_SEED, description="start: /generate's first "
                                 "digit for this seed")],
    seed_b: Annotated[int, Query(ge=0, le=MAX_SEED, description="end")],
    steps: Annotated[int, Query(ge=2, le=64)] = 10,
    padding: PaddingParam = 2,
    model: ModelParam = None,
    digit: DigitParam = None,
) -> Response:
    """A one-row PNG strip walking the latent space by spherical interpolation."""
    loaded = await choose_model(registry, model, digit)
    inputs = interpolation_inputs(loaded.generator, seed_a, seed_b, steps, digit)
    png = await render(gate, batcher, loaded, inputs, steps, padding)
    return png_response(png, loaded, f"{seed_a}-{seed_b}", model is not None)
