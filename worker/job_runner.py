"""Running one delivered job: claim it, train it through shared_models, record the outcome.

The Celery task is a thin wrapper around :func:`run_job`; everything here is plain Python
that the tests drive without Celery.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from shared_models.checkpoint import Manifest
from shared_models.data import ImageData, load_dataset
from shared_models.training import (
    Progress,
    Trainer,
    TrainHooks,
    TrainResult,
    describe_device,
    pick_device,
    train,
)
from worker.job_monitor import JobMonitor, StopReason
from worker.job_spec import network_configs, train_config
from worker.job_store import JobState, JobStore
from worker.log_context import job_context
from worker.settings import Settings

log = logging.getLogger(__name__)

CheckpointHook = Callable[[str, Manifest], dict | None]


@lru_cache(maxsize=4)
def cached_dataset(name: str, data_dir: Path) -> ImageData:
    """The training split, loaded (and hash-checked) once per worker process."""
    return load_dataset(name, data_dir, "train")


def run_dir_of(settings: Settings, job_id: str) -> Path:
    return settings.runs_dir / job_id


def run_job(
    store: JobStore,
    settings: Settings,
    job_id: str,
    owner: str,
    on_checkpoint: CheckpointHook | None = None,
) -> str:
    """Run a delivered job to its end; returns the state the job was left in."""
    with job_context(job_id):
        return _run_claimed(store, settings, job_id, owner, on_checkpoint)


def _run_claimed(
    store: JobStore,
    settings: Settings,
    job_id: str,
    owner: str,
    on_checkpoint: CheckpointHook | None,
) -> str:
    claim = store.claim(job_id, owner, settings.lease_seconds, settings.max_deliveries)
    if not claim.run:
        log.info("job %s: not running it here (%s)", job_id, claim.reason)
        return claim.reason
    record = claim.record
    assert record is not None
    monitor = JobMonitor(
        store, job_id, owner,
        heartbeat_seconds=settings.heartbeat_seconds,
        lease_seconds=settings.lease_seconds,
        max_seconds=settings.max_job_seconds,
    )
    try:
        with monitor:
            if monitor.stop_reason is StopReason.CANCELLED:
                store.finish(job_id, owner, JobState.CANCELLED)
                return JobState.CANCELLED
            result = _train(store, settings, job_id, record.params, monitor, on_checkpoint)
    except Exception as error:  # noqa: BLE001 - any failure is recorded with its message
        log.exception("job %s failed", job_id)
        store.finish(job_id, owner, JobState.FAILED, error=_describe(error))
        return JobState.FAILED
    return _conclude(store, job_id, owner, result, monitor.stop_reason, settings)


def _train(
    store: JobStore,
    settings: Settings,
    job_id: str,
    params: dict,
    monitor: JobMonitor,
    on_checkpoint: CheckpointHook | None,
) -> TrainResult:
    config = train_config(params)
    generator_config, discriminator_config = network_configs(params)
    device = pick_device(settings.device)
    store.update_progress(job_id, device=describe_device(device), total=config.iterations)
    data = cached_dataset(config.dataset, settings.data_dir.resolve())

    def report(progress: Progress) -> None:
        store.update_progress(
            job_id,
            step=progress.step,
            total=progress.total,
            d_loss=progress.d_loss,
            g_loss=progress.g_loss,
            iterations_per_s=round(progress.iterations_per_s, 3),
            eta_s=None if progress.eta_s is None else round(progress.eta_s, 1),
        )

    def record_checkpoint(manifest: Manifest) -> None:
        fields: dict = {"checkpoint": str(manifest.path), "checkpoint_step": manifest.step}
        if on_checkpoint is not None:
            fields.update(on_checkpoint(job_id, manifest) or {})
        store.update_progress(job_id, **fields)

    def started(trainer: Trainer) -> None:
        log.info("job %s: training on %s from step %d", job_id, device, trainer.step)
        store.update_progress(job_id, step=trainer.step, resumed_from=trainer.step or None)

    hooks = TrainHooks(
        should_stop=monitor.should_stop,
        on_progress=report,
        on_checkpoint=record_checkpoint,
        on_start=started,
        checkpoint_on_stop=lambda: monitor.stop_reason is not StopReason.LEASE_LOST,
        progress_every_s=1.0,
    )
    return train(
        config, data, run_dir_of(settings, job_id),
        generator_config=generator_config,
        discriminator_config=discriminator_config,
        device=device,
        resume=True,
        hooks=hooks,
    )


def _conclude(
    store: JobStore,
    job_id: str,
    owner: str,
    result: TrainResult,
    reason: StopReason | None,
    settings: Settings,
) -> str:
    summary: dict[str, Any] = {
        "step": result.step,
        "d_loss": result.d_loss,
        "g_loss": result.g_loss,
        "checkpoint": str(result.checkpoint) if result.checkpoint else None,
        "eta_s": 0 if not result.stopped else None,
    }
    if not result.stopped:
        store.finish(job_id, owner, JobState.SUCCEEDED, progress=summary)
        log.info("job %s succeeded at step %d", job_id, result.step)
        return JobState.SUCCEEDED
    if reason is StopReason.CANCELLED:
        store.finish(job_id, owner, JobState.CANCELLED, progress=summary)
        return JobState.CANCELLED
    if reason is StopReason.TIME_LIMIT:
        error = (
            f"stopped at step {result.step}: exceeded DCGAN_MAX_JOB_SECONDS "
            f"({settings.max_job_seconds}s); its last checkpoint is kept"
        )
        store.finish(job_id, owner, JobState.FAILED, error=error, progress=summary)
        return JobState.FAILED
    if reason is StopReason.SHUTDOWN:
        store.update_progress(job_id, **summary)
        store.hand_back(job_id, owner)
        log.info("job %s: checkpointed at step %d, handed back", job_id, result.step)
        return JobState.QUEUED
    log.warning("job %s: lease lost at step %d; another worker owns it", job_id, result.step)
    return "lease lost"


def _describe(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return f"{type(error).__name__}: {text}"


