"""Several models' digits in one PNG, drawn from the same noise, so rows compare digit for
digit.

Each model gets a labelled grid of ``n`` digits. Column i of every grid is drawn from the same
noise vector (``/generate``'s i-th digit for the seed) when the models share a noise size; a
conditional model draws the digits 0 to 9 in turn (or ``digit``) where an unconditional model
draws whichever digit its noise gives. The whole comparison is admitted as one render of all
its rows.
"""

from __future__ import annotations

import re
import secrets
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Query, Response, status
from fastapi.exceptions import RequestValidationError

from registry.model_records import MODEL_ID_PATTERN
from service.deps import AdmissionDep, BatcherDep, ModelServerDep
from service.routes.generate import (
    IMMUTABLE,
    PNG_HEADERS,
    PNG_RESPONSES,
    RANDOM,
    REVALIDATE,
    DigitParam,
    IfNoneMatch,
    PaddingParam,
    caching_headers,
    choose_model,
    etag,
    immutable,
    matches,
)
from shared_models.config import MAX_SEED
from shared_models.grids import labelled_grids_png
from shared_models.sampling import grid_inputs

router = APIRouter(tags=["generate"])

MAX_COMPARED = 8  # models in one comparison
MAX_COMPARED_DIGITS = 64  # digits per model
RESPONSES = {**PNG_RESPONSES, 200: {**PNG_RESPONSES[200], "headers": {
    "X-Model-Versions": {"description": "the models drawn from (JOB:STEP), top to bottom",
                         "schema": {"type": "string"}},
    **{name: PNG_HEADERS[name] for name in ("X-Seed", "Cache-Control", "ETag")},
}}}


def model_names(models: str) -> list[str]:
    """The comma-separated names of ``models``, each JOB or JOB:STEP, once each; a 422 that
    names what is wrong otherwise."""
    names = [name.strip() for name in models.split(",")]
    problem = None
    if len(names) > MAX_COMPARED:
        problem = f"at most {MAX_COMPARED} models are compared at once, got {len(names)}"
    elif bad := [name for name in names if not re.match(MODEL_ID_PATTERN, name)]:
        problem = f"{bad[0]!r} is not a model id (JOB or JOB:STEP)"
    elif len(set(names)) < len(names):
        twice = next(name for name in names if names.count(name) > 1)
        problem = f"{twice} is named twice"
    if problem:
        raise RequestValidationError(
            [{"loc": ("query", "models"), "msg": problem, "type": "value_error"}]
        )
    return names


@router.get("/compare", response_class=Response, responses=RESPONSES)
async def compare(
    server: ModelServerDep,
    admission: AdmissionDep,
    batcher: BatcherDep,
    models: Annotated[str, Query(
        max_length=MAX_COMPARED * 141,
        description=f"comma-separated JOB or JOB:STEP, 1 to {MAX_COMPARED} models",
    )],
    seed: Annotated[int | None, Query(ge=0, le=MAX_SEED, description="default: random")] = None,
    n: Annotated[int, Query(ge=1, le=MAX_COMPARED_DIGITS, description="digits per model")] = 10,
    nrow: Annotated[int, Query(ge=1, le=MAX_COMPARED_DIGITS, description="digits per row")] = 10,
    padding: PaddingParam = 2,
    digit: DigitParam = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """One PNG: a labelled grid per model, all drawn from the same seed's noise."""
    names = model_names(models)
    loaded = [await choose_model(server, name, digit) for name in names]
    chosen = secrets.randbelow(MAX_SEED) if seed is None else seed
    tag, cache_control = None, RANDOM
    if seed is not None:
        cache_control = IMMUTABLE if all(immutable(name) for name in names) else REVALIDATE
        tag = etag(server, ",".join(model.sha256 for model in loaded), "compare", str(seed),
                   tuple(names), n, nrow, padding, digit)
        if matches(if_none_match, tag):
            return Response(status_code=status.HTTP_304_NOT_MODIFIED,
                            headers=caching_headers(tag, cache_control))
    async with admission.slot(n * len(loaded)):
        grids = [
            (model.id, await batcher.images(model.generator,
                                            grid_inputs(model.generator, n, chosen, digit)))
            for model in loaded
        ]
    png = await anyio.to_thread.run_sync(labelled_grids_png, grids, nrow, padding)
    return Response(png, media_type="image/png", headers={
        "X-Model-Versions": ",".join(model.id for model in loaded),
        "X-Seed": str(chosen),
        **caching_headers(tag, cache_control),
    })
