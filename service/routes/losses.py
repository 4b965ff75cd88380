"""A job's loss curves: the per-iteration D and G losses its worker records with every
checkpoint (in the database, beside the job: a few hundred kilobytes at most, never the
100 MB training state), averaged down to at most ``max_points`` points."""

from __future__ import annotations

import math
from typing import Annotated

import anyio.to_thread
import numpy as np
from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from jobs.progress import JobProgress
from jobs.states import JobState
from service.deps import JobsDep
from service.errors import problems
from service.routes.jobs import JobId

router = APIRouter(prefix="/jobs", tags=["jobs"])

MAX_POINTS = 500


class LossHistory(BaseModel):
    job: str
    state: JobState
    checkpoint: str | None = Field(
        description="the checkpoint (JOB:STEP) the history was recorded with; null before the "
        "first"
    )
    iterations: int = Field(description="iterations recorded in that checkpoint")
    bucket: int = Field(description="iterations averaged into each point")
    step: list[int] = Field(description="the last iteration of each point's bucket")
    d_loss: list[float | None] = Field(description="mean discriminator loss (null: not finite)")
    g_loss: list[float | None] = Field(description="mean generator loss (null: not finite)")
    progress: JobProgress = Field(description="the job's live progress, as in GET /jobs/{id}")


def downsample(history: np.ndarray, max_points: int) -> tuple[int, list[int], np.ndarray]:
    """Average consecutive iterations into at most ``max_points`` buckets.

    Returns the bucket size, each bucket's last iteration (1-based) and the (points, 2) means;
    the last bucket may be shorter.
    """
    steps = history.shape[0]
    if steps == 0:
        return 1, [], history.reshape(0, 2)
    history = history.astype(np.float64)
    bucket = math.ceil(steps / max_points)
    whole = steps // bucket * bucket
    parts = [history[:whole].reshape(-1, bucket, 2).mean(axis=1)]
    ends = list(range(bucket, whole + 1, bucket))
    if whole < steps:
        parts.append(history[whole:].mean(axis=0, keepdims=True))
        ends.append(steps)
    return bucket, ends, np.concatenate(parts)


def _finite(values: np.ndarray) -> list[float | None]:
    return [float(value) if math.isfinite(value) else None for value in values.tolist()]


@router.get("/{job_id}/losses", responses=problems(404, 422), summary="A job's D and G loss curves")
async def job_losses(
    job_id: JobId,
    store: JobsDep,
    max_points: Annotated[
        int, Query(ge=2, le=5000, description="average the history down to this many points")
    ] = MAX_POINTS,
) -> LossHistory:
    record = await anyio.to_thread.run_sync(store.get, job_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no job with id {job_id!r}")
    history = await anyio.to_thread.run_sync(store.losses, job_id)
    progress = JobProgress.stored(record.progress)
    if history is None:
        return LossHistory(
            job=job_id, state=record.state, checkpoint=None, iterations=0, bucket=1,
            step=[], d_loss=[], g_loss=[], progress=progress,
        )
    bucket, ends, means = downsample(history, max_points)
    return LossHistory(
        job=job_id,
        state=record.state,
        checkpoint=f"{job_id}:{history.shape[0]}",
        iterations=history.shape[0],
        bucket=bucket,
        step=ends,
        d_loss=_finite(means[:, 0]),
        g_loss=_finite(means[:, 1]),
        progress=progress,
    )
