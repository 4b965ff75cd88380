"""PNG grids of generated digits, and latent-space interpolation strips.

Caching is honest: the same model (its serving artifact's SHA-256), seed and parameters always
give the same bytes, so such a response carries an ETag made of exactly those, and a request
whose If-None-Match holds it is answered 304 without rendering. Only a response from a model
named by ``JOB:STEP`` may be kept by caches (``max-age``, ``immutable``): the served model and
``model=JOB`` (the job's newest checkpoint) change, so their responses must be revalidated
(``no-cache``). A response drawn with a random seed is not repeatable: ``no-store``, no ETag.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Header, HTTPException, Query, Response, status
from fastapi.exceptions import RequestValidationError

from service.batching import RenderBatcher
from service.deps import AdmissionDep, BatcherDep, ModelServerDep
from service.errors import problems
from service.model_loader import InvalidModel, LoadedModel
from service.model_server import ModelNotFound, ModelServer
from service.render_admission import RenderAdmission
from shared_models.config import MAX_SAMPLES, MAX_SEED
from shared_models.grids import grid_png
from shared_models.sampling import SampleInputs, grid_inputs, interpolation_inputs

router = APIRouter(tags=["generate"])

NO_MODEL = (
    "no trained generator yet: start a training job with POST /jobs, for example "
    "curl -X POST http://localhost:8000/jobs -H 'Content-Type: application/json' "
    "-d '{\"iterations\": 500}' ; then poll GET /jobs/{id}. /generate serves the first "
    "checkpoint as soon as it is written."
)
IMMUTABLE = "public, max-age=31536000, immutable"  # JOB:STEP: these bytes never change
REVALIDATE = "no-cache"  # the served model or JOB: ask again, the ETag says if it changed
RANDOM = "no-store"  # a random seed: the next request draws other digits


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


PNG_HEADERS = {
    "X-Model-Version": _header("the model drawn from (JOB:STEP)"),
    "X-Model-Sha256": _header("SHA-256 of its serving artifact's weights"),
    "X-Seed": _header("the seed (or seeds) drawn with"),
    "Cache-Control": _header(f"{IMMUTABLE} for JOB:STEP, {REVALIDATE} otherwise, {RANDOM} "
                             "for a random seed"),
    "ETag": _header("model, seed and parameters (not for a random seed)"),
}
PNG_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
          "description": "a PNG image", "headers": PNG_HEADERS},
    304: {"description": "If-None-Match holds the ETag: the PNG you have is current",
          "headers": {"ETag": PNG_HEADERS["ETag"], "Cache-Control": PNG_HEADERS["Cache-Control"]}},
    **problems(404, 409, 422, 429, 503, retry_after=(429,)),
}
IfNoneMatch = Annotated[
    str | None, Header(description="an ETag from an earlier response", max_length=2048)
]

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
    server: ModelServer, model: str | None, digit: int | None
) -> LoadedModel:
    try:
        loaded = await server.get(model)
    except ModelNotFound as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(error)) from error
    except InvalidModel as error:
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail=f"model {model} is invalid: {error}"
        ) from error
    if loaded is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=NO_MODEL)
    if digit is not None and not loaded.num_classes:
        raise RequestValidationError([{
            "loc": ("query", "digit"),
            "msg": f"model {loaded.id} is not conditional, so it cannot draw a chosen digit; "
            "train one with \"conditional\": true, or leave out digit",
            "type": "value_error",
        }])
    return loaded


async def render(
    admission: RenderAdmission,
    batcher: RenderBatcher,
    loaded: LoadedModel,
    inputs: SampleInputs,
    nrow: int,
    padding: int,
) -> bytes:
    """Images from the shared batched forward pass, then this request's PNG (in a thread,
    unless the grid is small)."""
    async with admission.slot(inputs.rows):
        images = await batcher.images(loaded.generator, inputs)
        if images.shape[0] <= INLINE_PNG_MAX:
            return grid_png(images, nrow, padding)
        return await anyio.to_thread.run_sync(grid_png, images, nrow, padding)


def immutable(model: str | None) -> bool:
    """Named as JOB:STEP: one stored checkpoint, whose bytes never change."""
    return model is not None and ":" in model


def etag(server: ModelServer, sha256: str, route: str, seed: str, *params: object) -> str:
    """A strong ETag from what the bytes depend on: the route, the model's weights, the seed,
    the parameters and the device type (float results may differ between devices)."""
    key = repr((route, sha256, seed, params, server.loader.device.type))
    return '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'


async def model_identity(server: ModelServer, model: str | None) -> tuple[str, str] | None:
    """(id, SHA-256) of the model a request names, from its row: no load. None when there is
    none (the request then fails as usual)."""
    if model is None:
        served = server.served
        return None if served is None else (served.id, served.sha256)
    try:
        record = await anyio.to_thread.run_sync(server.find, model)
    except ModelNotFound:
        return None
    return record.id, record.sha256


async def unchanged(
    server: ModelServer, model: str | None, if_none_match: str | None, cache_control: str,
    route: str, seed: str, *params: object,
) -> Response | None:
    """304 when If-None-Match holds the ETag the response would have, else None."""
    if if_none_match is None:
        return None
    identity = await model_identity(server, model)
    if identity is None:
        return None
    tag = etag(server, identity[1], route, seed, *params)
    if not matches(if_none_match, tag):
        return None
    return Response(status_code=status.HTTP_304_NOT_MODIFIED,
                    headers={"X-Model-Version": identity[0], **caching_headers(tag, cache_control)})


def matches(if_none_match: str | None, tag: str) -> bool:
    """If-None-Match's weak comparison (RFC 9110 13.1.2): any listed tag, or *."""
    if if_none_match is None:
        return False
    listed = {part.strip().removeprefix("W/") for part in if_none_match.split(",")}
    return "*" in listed or tag in listed


def caching_headers(tag: str | None, cache_control: str) -> dict[str, str]:
    return {"Cache-Control": cache_control, **({"ETag": tag} if tag else {})}


def png_response(
    png: bytes, loaded: LoadedModel, seed: str, tag: str | None, cache_control: str
) -> Response:
    return Response(
        png,
        media_type="image/png",
        headers={
            "X-Model-Version": loaded.id,
            "X-Model-Sha256": loaded.sha256,
            "X-Seed": seed,
            **caching_headers(tag, cache_control),
        },
    )



@router.get("/generate", response_class=Response, responses=PNG_RESPONSES)
async def generate(
    server: ModelServerDep,
    admission: AdmissionDep,
    batcher: BatcherDep,
    n: Annotated[int, Query(ge=1, le=MAX_SAMPLES, description="number of digits")] = 64,
    nrow: Annotated[int, Query(ge=1, le=MAX_SAMPLES, description="digits per row")] = 8,
    padding: PaddingParam = 2,
    seed: Annotated[int | None, Query(ge=0, le=MAX_SEED, description="default: random")] = None,
    model: ModelParam = None,
    digit: DigitParam = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """A PNG grid of n generated digits (white on black), the same bytes for the same model,
    seed and parameters."""
    if seed is None:
        loaded = await choose_model(server, model, digit)
        chosen, tag, cache_control = secrets.randbelow(MAX_SEED), None, RANDOM
    else:
        chosen, cache_control = seed, IMMUTABLE if immutable(model) else REVALIDATE
        params = ("generate", str(seed), n, nrow, padding, digit)
        answer = await unchanged(server, model, if_none_match, cache_control, *params)
        if answer is not None:
            return answer
        loaded = await choose_model(server, model, digit)
        tag = etag(server, loaded.sha256, *params)
    inputs = grid_inputs(loaded.generator, n, chosen, digit)
    png = await render(admission, batcher, loaded, inputs, nrow, padding)
    return png_response(png, loaded, str(chosen), tag, cache_control)


@router.get("/interpolate", response_class=Response, responses=PNG_RESPONSES)
async def interpolate(
    server: ModelServerDep,
    admission: AdmissionDep,
    batcher: BatcherDep,
    seed_a: Annotated[int, Query(ge=0, le=MAX_SEED, description="start: /generate's first "
                                 "digit for this seed")],
    seed_b: Annotated[int, Query(ge=0, le=MAX_SEED, description="end")],
    steps: Annotated[int, Query(ge=2, le=64)] = 10,
    padding: PaddingParam = 2,
    model: ModelParam = None,
    digit: DigitParam = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """A one-row PNG strip walking the latent space by spherical interpolation."""
    seeds = f"{seed_a}-{seed_b}"
    cache_control = IMMUTABLE if immutable(model) else REVALIDATE
    params = ("interpolate", seeds, steps, padding, digit)
    answer = await unchanged(server, model, if_none_match, cache_control, *params)
    if answer is not None:
        return answer
    loaded = await choose_model(server, model, digit)
    tag = etag(server, loaded.sha256, *params)
    inputs = interpolation_inputs(loaded.generator, seed_a, seed_b, steps, digit)
    png = await render(admission, batcher, loaded, inputs, steps, padding)
    return png_response(png, loaded, seeds, tag, cache_control)
