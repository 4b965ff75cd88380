"""Models in and out of the registry by hand: ``POST /models`` brings in an exported model
(``registry.model_import``), ``DELETE /models/{id}`` removes one.

The body is the export archive itself (``GET /models/{id}/export`` or ``dcgan export`` packed),
a raw ``application/zip`` or gzip'd tar, within the archive bound of ``from_pretrained``; it is
written to a temporary file as it streams in and read with the same bounded archive reader.
A new model is scored by a worker as a job's checkpoints are, before the gate may promote it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError

from artifacts.store import ArtifactStore
from core.redaction import redact_paths
from jobs.job_removal import remove_model
from jobs.queue import enqueue_scoring
from registry.model_import import import_artifact
from registry.model_records import ModelRecord, ModelRecords
from service.auth import GUARDED, TokenRequired
from service.body_limit import larger_body
from service.deps import ArtifactsDep, CeleryDep, ModelsDep, ModelServerDep, SettingsDep
from service.errors import problems, removal_refused
from service.routes.model_files import ModelIdParam, find
from service.schemas import ModelView
from shared_models.pretrained import ARCHIVE_FORMATS, MAX_ARCHIVE_BYTES, extract_artifact
from shared_models.serving_artifact import ArtifactError

router = APIRouter(prefix="/models", tags=["models"])

ARCHIVE_TYPES = {"application/zip": "zip", "application/gzip": "tar.gz",
                 "application/x-gzip": "tar.gz"}
WRITE_BYTES = 1 << 20
BINARY = {"schema": {"type": "string", "format": "binary"}}
IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "description": "an exported model: the archive GET /models/{id}/export answers",
        "content": {media_type: BINARY for media_type in ARCHIVE_TYPES},
    },
}


@router.post(
    "", status_code=status.HTTP_201_CREATED, dependencies=[TokenRequired],
    openapi_extra={**GUARDED, **larger_body(MAX_ARCHIVE_BYTES), **IMPORT_BODY},
    responses={200: {"model": ModelView, "description": "these weights are here already: "
                     "the model that holds them"}, **problems(413, 415, 422)},
)
async def import_model(
    request: Request,
    response: Response,
    models: ModelsDep,
    artifacts: ArtifactsDep,
    server: ModelServerDep,
    celery: CeleryDep,
    settings: SettingsDep,
    source: Annotated[str, Query(max_length=500, description="where it came from, in words "
                                 "(a file name, a URL), kept with the model")] = "upload",
) -> ModelView:
    """Bring in an exported model (201), or find the one with the same weights (200); a
    worker scores a new one before the serving policy's gate considers it."""
    content_type = request.headers.get("content-type", "")
    kind = ARCHIVE_TYPES.get(content_type.split(";")[0].strip().lower())
    if kind is None:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            detail="send the exported model's archive as the body, with Content-Type "
            "application/zip or application/gzip (a .tar.gz); got "
            f"{content_type[:100] or 'none'!r}",
        )
    with tempfile.TemporaryDirectory(prefix=".dcgan-import-") as temp:
        archive = Path(temp) / f"model{ARCHIVE_FORMATS[kind]}"
        await receive(request, archive)
        try:
            record, created = await anyio.to_thread.run_sync(
                bring_in, models, artifacts, archive, kind, Path(temp) / "model", source
            )
        except ArtifactError as error:
            raise RequestValidationError([{
                "loc": ("body",), "type": "value_error",
                "msg": f"not an exported model: {redact_paths(str(error))}",
            }]) from error
    if created:
        response.status_code = status.HTTP_201_CREATED
        response.headers["Location"] = f"/models/{record.id}"
        if settings.eval_samples:
            await anyio.to_thread.run_sync(enqueue_scoring, celery, record.id, settings.queue)
    else:
        response.status_code = status.HTTP_200_OK
    return ModelView.of(record, *server.status_of(record), server.policy.gate.verdict(record))


async def receive(request: Request, archive: Path) -> None:
    """The body into ``archive``, written off the event loop a megabyte at a time."""
    with await anyio.to_thread.run_sync(archive.open, "wb") as out:
        pending = bytearray()
        async for chunk in request.stream():
            pending += chunk
            if len(pending) >= WRITE_BYTES:
                await anyio.to_thread.run_sync(out.write, bytes(pending))
                pending.clear()
        await anyio.to_thread.run_sync(out.write, bytes(pending))


def bring_in(
    models: ModelRecords, store: ArtifactStore, archive: Path, kind: str, into: Path,
    source: str,
) -> tuple[ModelRecord, bool]:
    folder = extract_artifact(archive, kind, into, with_card=True)
    return import_artifact(models, store, folder, source)


@router.delete(
    "/{model_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
    dependencies=[TokenRequired], openapi_extra=GUARDED, responses=problems(404, 409, 422),
)
async def delete_model(
    model_id: ModelIdParam, server: ModelServerDep, artifacts: ArtifactsDep
) -> Response:
    """Delete one model (an imported one, or one checkpoint of a finished job) with its stored
    files. 409 while it is served or pinned, or while its job is queued or running."""
    record = await find(server, model_id)
    protected = await anyio.to_thread.run_sync(server.in_use)
    with removal_refused(f"model {record.id}"):
        await anyio.to_thread.run_sync(
            remove_model, server.records.engine, artifacts, record.id, protected
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
