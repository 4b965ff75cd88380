"""One model: its description, and the model itself to take away.

``GET /models/{id}`` is the models row, its status and its serving artifact's config.json.
``GET /models/{id}/export`` is what ``dcgan export`` writes, as one archive: the serving
artifact exactly as stored (its weights checked against the row's SHA-256), a sample grid and
a model card whose figures are the row's. Archives are built and kept by
``service.exports.ExportBuilds`` (a pool of their own, a bound on those waiting, a bounded
cache), in a temporary folder beside the model cache that is removed once read.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, HTTPException, Query, status
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from pydantic import Field

from artifacts.cache import ArtifactCache
from artifacts.store import ArtifactStore
from core.redaction import redact_paths
from registry.model_records import ModelRecord
from service.deps import ArtifactsDep, ExportsDep, ModelServerDep
from service.errors import problems
from service.model_server import ModelNotFound, ModelServer
from service.schemas import ModelView
from shared_models.generator_io import generator_from_weights
from shared_models.model_card import CARD_FILE, SAMPLES_FILE, write_model_card
from shared_models.pretrained import ARCHIVE_FORMATS, MEDIA_TYPES, write_archive
from shared_models.serving_artifact import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    ArtifactError,
    read_serving_artifact,
)
from shared_models.verified_files import VerifiedFileError, parse_manifest

router = APIRouter(prefix="/models", tags=["models"])

ModelIdParam = Annotated[
    str,
    PathParam(max_length=140, description="JOB:STEP, or JOB for the job's newest checkpoint"),
]
ArchiveFormat = Literal["zip", "tar.gz"]
NOT_SCORED = (
    "the worker that trained it scored no checkpoints (it had no cached evaluation "
    "classifier, or DCGAN_EVAL_SAMPLES was 0)"
)
ARCHIVE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {media: {} for media in MEDIA_TYPES.values()},
        "description": "the model folder as one archive",
    },
    **problems(404, 409, 422),
    **problems(429, retry_after=(429,)),
}


class ModelDetail(ModelView):
    config: dict[str, Any] | None = Field(
        description="the serving artifact's config.json (null when it cannot be read)"
    )
    export: str = Field(description="where to download the model")


@router.get("/{model_id}", responses=problems(404, 422))
async def describe_model(
    model_id: ModelIdParam, server: ModelServerDep, artifacts: ArtifactsDep
) -> ModelDetail:
    """The models row, its status and the serving artifact's config.json."""
    record = await find(server, model_id)
    config = await anyio.to_thread.run_sync(read_config, artifacts, record)
    view = ModelView.of(record, *server.status_of(record), server.policy.gate.verdict(record))
    return ModelDetail(**view.model_dump(), config=config, export=f"/models/{record.id}/export")


@router.get("/{model_id}/export", response_class=StreamingResponse,
            responses=ARCHIVE_RESPONSES)
async def export_model(
    model_id: ModelIdParam,
    server: ModelServerDep,
    exports: ExportsDep,
    kind: Annotated[ArchiveFormat, Query(alias="format", description="zip or tar.gz")] = "zip",
) -> StreamingResponse:
    """The model folder (model.safetensors, config.json, README.md, samples.png) as one
    archive, which ``Generator.from_pretrained`` loads as it is."""
    record = await find(server, model_id)
    reason = server.loader.reason(record.sha256)
    if reason is not None and server.loader.blocked(record.sha256):
        raise HTTPException(status.HTTP_409_CONFLICT, f"model {record.id} is invalid: {reason}")
    try:
        archive = await exports.archive(record, kind)
    except ArtifactError as error:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"model {record.id} is invalid: {redact_paths(str(error))}"
        ) from error
    except FileNotFoundError as error:  # deleted since its row was read
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"model {record.id} is no longer stored"
        ) from error
    return StreamingResponse(
        exports.send(archive),
        media_type=MEDIA_TYPES[kind],
        headers={
            "Content-Length": str(len(archive.content)),
            "Content-Disposition": f'attachment; filename="{archive.name}"',
            "X-Model-Version": record.id,
            "X-Model-Sha256": record.sha256,
        },
    )


async def find(server: ModelServer, model_id: str) -> ModelRecord:
    try:
        return await anyio.to_thread.run_sync(server.find, model_id)
    except ModelNotFound as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(error)) from error


def read_config(store: ArtifactStore, record: ModelRecord) -> dict[str, Any] | None:
    """config.json as stored, when it is a manifest every reader would parse (bounded in size
    and nesting, no NaN, which no JSON response can carry); else None."""
    key = f"{record.artifact_key}/{CONFIG_FILE}"
    try:
        return parse_manifest(store.get_bytes(key), key)
    except (OSError, ValueError, VerifiedFileError):
        return None


def build_archive(
    cache: ArtifactCache, record: ModelRecord, kind: str, scratch: Path
) -> tuple[Path, Path]:
    """(the temporary folder, the archive in it) for ``record``'s model, from the artifact
    on this machine (read in place, or downloaded once into the model cache)."""
    scratch.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=scratch))
    try:
        folder = cache.folder(record)
        weights, info = read_serving_artifact(folder, expected_sha256=record.sha256)
        generator = generator_from_weights(info.architecture, weights)
        card = work / "card"
        write_model_card(card, generator, info, record.metrics, metrics_note=NOT_SCORED,
                         model_id=record.id)
        files = {
            WEIGHTS_FILE: folder / WEIGHTS_FILE,
            CONFIG_FILE: folder / CONFIG_FILE,
            CARD_FILE: card / CARD_FILE,
            SAMPLES_FILE: card / SAMPLES_FILE,
        }
        root = folder_name(record)
        archive = work / f"{root}{ARCHIVE_FORMATS[kind]}"
        return work, write_archive(files, archive, kind, root)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def folder_name(record: ModelRecord) -> str:
    """``JOB-step_0000500``: the archive's top folder and file name (no colon)."""
    job = re.sub(r"[^A-Za-z0-9_.-]", "_", record.job_id)
    return f"{job}-step_{record.step:07d}"
