"""Training jobs: submit, list, look up, cancel, delete."""

from __future__ import annotations

import logging
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, HTTPException, Path, Query, Response, status

from jobs.job_removal import remove_job
from jobs.job_store import CapReached, JobStore
from jobs.queue import enqueue
from jobs.spec import JobSpec
from service.auth import GUARDED, TokenRequired
from service.deps import ArtifactsDep, CeleryDep, JobsDep, ModelServerDep, SettingsDep
from service.errors import problems, removal_refused
from service.schemas import JobPage, JobView

log = logging.getLogger(__name__)
router = APIRouter(prefix="/jobs", tags=["jobs"])

JobId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="job id")]


def find(store: JobStore, job_id: str) -> JobView:
    record = store.get(job_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no job with id {job_id!r}")
    return JobView.of(record)


@router.post(
    "", status_code=status.HTTP_202_ACCEPTED, dependencies=[TokenRequired], openapi_extra=GUARDED,
    responses=problems(400, 422, 429, 503, retry_after=(429, 503)),
)
async def submit_job(
    spec: JobSpec, response: Response, store: JobsDep, celery: CeleryDep, settings: SettingsDep,
) -> JobView:
    """Start a training job: queued now, run by the next free worker."""
    spec = spec.seeded()
    try:
        record = await anyio.to_thread.run_sync(
            store.submit, spec.model_dump(), spec.total_iterations, settings.queue,
            settings.max_active_jobs,
        )
    except CapReached as full:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"{full.active} jobs are already queued or running (the limit is "
            f"{full.limit}); wait for one to finish or cancel one",
            headers={"Retry-After": "30"},
        ) from full
    try:
        await anyio.to_thread.run_sync(enqueue, celery, store, record)
    except Exception as error:  # noqa: BLE001 - whatever the broker raised, say so
        log.error("could not enqueue job %s: %s", record.id, error)
        await anyio.to_thread.run_sync(
            store.fail, record.id, f"could not reach the job queue: {error}"
        )
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="the job queue (broker) is unreachable; the job was not started, try again",
            headers={"Retry-After": "10"},
        ) from error
    response.headers["Location"] = f"/jobs/{record.id}"
    return await anyio.to_thread.run_sync(find, store, record.id)


@router.get("", responses=problems(422))
def list_jobs(
    store: JobsDep,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> JobPage:
    """Jobs, newest first."""
    records, total = store.page(offset, limit)
    return JobPage(jobs=[JobView.of(r) for r in records], total=total, offset=offset, limit=limit)


@router.get("/{job_id}", responses=problems(404, 422))
def get_job(job_id: JobId, store: JobsDep) -> JobView:
    """One job: state, progress, parameters, its newest checkpoint."""
    return find(store, job_id)


@router.post(
    "/{job_id}/cancel", status_code=status.HTTP_202_ACCEPTED, dependencies=[TokenRequired],
    openapi_extra=GUARDED, responses=problems(404, 409, 422),
)
def cancel_job(job_id: JobId, store: JobsDep) -> JobView:
    """Cancel a job: a queued one at once; a running one stops at its next iteration, writes
    a checkpoint and ends cancelled. 409 when it has already finished."""
    job = find(store, job_id)
    if job.state.finished:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"job {job_id} already {job.state}")
    record = store.request_cancel(job_id)
    assert record is not None
    return JobView.of(record)


@router.delete(
    "/{job_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
    dependencies=[TokenRequired], openapi_extra=GUARDED, responses=problems(404, 409, 422),
)
async def delete_job(
    job_id: JobId, store: JobsDep, artifacts: ArtifactsDep, server: ModelServerDep
) -> Response:
    """Delete a finished job with its checkpoints, models and loss curve. 409 while it is
    queued or running (cancel it first) and while one of its models is served or pinned."""
    protected = await anyio.to_thread.run_sync(server.in_use)
    with removal_refused(f"job {job_id}"):
        await anyio.to_thread.run_sync(remove_job, store.engine, artifacts, job_id, protected)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
