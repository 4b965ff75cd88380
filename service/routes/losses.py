"""A job's loss curves: the per-iteration D and G losses stored in its newest checkpoint.

Every checkpoint carries the run's whole loss history (a ``(steps, 2)`` tensor). Reading it
means loading the checkpoint (about 100 MB), so that happens in a worker thread, once per
checkpoint: histories are cached by (file, SHA-256), and polling the same job again only
lists its manifests. The response is averaged down to at most ``max_points`` points.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from pathlib import Path
from typing import Annotated, Any

import anyio
import anyio.to_thread
import torch
from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, Field

from service.deps import SettingsDep, StoreDep
from service.routes.jobs import JobId
from service.schemas import Problem
from shared_models.checkpoint import CheckpointError, Manifest, iter_manifests, load_checkpoint

log = logging.getLogger(__name__)
router = APIRouter(prefix="/jobs", tags=["jobs"])

MAX_POINTS = 500
CACHE_SIZE = 8

CheckpointKey = tuple[Path, str]  # (checkpoint file, its SHA-256)


class LossHistory(BaseModel):
    job: str
    state: str
    checkpoint: str | None = Field(
        description="the checkpoint (JOB:STEP) the history was read from; null before the first"
    )
    iterations: int = Field(description="iterations recorded in that checkpoint")
    bucket: int = Field(description="iterations averaged into each point")
    step: list[int] = Field(description="the last iteration of each point's bucket")
    d_loss: list[float | None] = Field(description="mean discriminator loss (null: not finite)")
    g_loss: list[float | None] = Field(description="mean generator loss (null: not finite)")
    progress: dict[str, Any] = Field(description="the job's live progress, as in GET /jobs/{id}")


def read_loss_history(checkpoint: Path) -> tuple[Manifest, torch.Tensor]:
    """Verify and load one checkpoint; return its manifest and its (steps, 2) loss history."""
    state, manifest = load_checkpoint(checkpoint, map_location="cpu")
    history = state.get("loss_history")
    if not isinstance(history, torch.Tensor) or history.ndim != 2 or history.shape[1] != 2:
        raise CheckpointError(f"{checkpoint}: no (steps, 2) loss history")
    return manifest, history.detach().to(torch.float64).clone()


def downsample(history: torch.Tensor, max_points: int) -> tuple[int, list[int], torch.Tensor]:
    """Average consecutive iterations into at most ``max_points`` buckets.

    Returns the bucket size, each bucket's last iteration (1-based) and the (points, 2) means;
    the last bucket may be shorter.
    """
    steps = history.shape[0]
    if steps == 0:
        return 1, [], history.reshape(0, 2)
    bucket = math.ceil(steps / max_points)
    whole = steps // bucket * bucket
    parts = [history[:whole].reshape(-1, bucket, 2).mean(dim=1)]
    ends = list(range(bucket, whole + 1, bucket))
    if whole < steps:
        parts.append(history[whole:].mean(dim=0, keepdim=True))
        ends.append(steps)
    return bucket, ends, torch.cat(parts)


def _finite(values: torch.Tensor) -> list[float | None]:
    return [value if math.isfinite(value) else None for value in values.tolist()]


class LossHistoryCache:
    """Loss histories by checkpoint, newest used last; each checkpoint is loaded once."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self.loads = 0  # checkpoints read from disk so far
        self._histories: OrderedDict[CheckpointKey, tuple[Manifest, torch.Tensor]] = OrderedDict()
        self._refused: set[CheckpointKey] = set()
        self._lock = anyio.Lock()

    async def newest(self, run_dir: Path) -> tuple[Manifest, torch.Tensor] | None:
        """The history in the run's newest valid checkpoint, or None when it has none."""
        manifests = await anyio.to_thread.run_sync(lambda: list(iter_manifests(run_dir)))
        for manifest in sorted(manifests, key=lambda m: m.step, reverse=True):
            key = (manifest.path, manifest.sha256)
            if key in self._refused:
                continue
            async with self._lock:  # one 100 MB load at a time, and never the same one twice
                found = self._histories.get(key)
                if found is None:
                    found = await self._load(manifest)
                    if found is None:
                        continue
                self._histories[key] = found
                self._histories.move_to_end(key)
                while len(self._histories) > self.size:
                    self._histories.popitem(last=False)
            return found
        return None

    async def _load(self, manifest: Manifest) -> tuple[Manifest, torch.Tensor] | None:
        self.loads += 1
        try:
            return await anyio.to_thread.run_sync(read_loss_history, manifest.path)
        except CheckpointError as error:
            if manifest.path.exists():  # a file pruned meanwhile is simply gone, not bad
                log.warning("no loss history from %s: %s", manifest.path, error)
                self._refused.add((manifest.path, manifest.sha256))
            return None


async def get_loss_cache(request: Request) -> LossHistoryCache:
    cache = getattr(request.app.state, "loss_cache", None)
    if cache is None:
        cache = request.app.state.loss_cache = LossHistoryCache()
    return cache


@router.get(
    "/{job_id}/losses",
    responses={404: {"model": Problem}, 422: {"model": Problem}},
    summary="A job's D and G loss curves",
)
async def job_losses(
    job_id: JobId,
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    max_points: Annotated[
        int, Query(ge=2, le=5000, description="average the history down to this many points")
    ] = MAX_POINTS,
) -> LossHistory:
    record = await anyio.to_thread.run_sync(store.get, job_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no job with id {job_id!r}")
    cache = await get_loss_cache(request)
    found = await cache.newest(settings.runs_dir / job_id)
    progress = {k: v for k, v in record.progress.items() if k != "checkpoint"}
    if found is None:
        return LossHistory(
            job=job_id, state=record.state.value, checkpoint=None, iterations=0, bucket=1,
            step=[], d_loss=[], g_loss=[], progress=progress,
        )
    manifest, history = found
    bucket, ends, means = downsample(history, max_points)
    return LossHistory(
        job=job_id,
        state=record.state.value,
        checkpoint=f"{job_id}:{manifest.step}",
        iterations=history.shape[0],
        bucket=bucket,
        step=ends,
        d_loss=_finite(means[:, 0]),
        g_loss=_finite(means[:, 1]),
        progress=progress,
    )
