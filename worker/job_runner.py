"""Running one delivered job: claim it, train it through shared_models, record the outcome.

The Celery task is a thin wrapper around :func:`run_job`; everything here is plain Python
that the tests drive without Celery. The job trains in the worker's scratch folder
(``$DCGAN_RUNS_DIR/<job id>``), starting from the newest checkpoint in the artifact store,
and every checkpoint is published to the store and the models table as it is written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core import tracing
from core.log_context import job_context
from core.redaction import redact_paths
from jobs.events import EventKind
from jobs.job_store import JobRecord
from jobs.progress import JobProgress, Precision, TrainedSegment
from jobs.spec import JobSpec
from jobs.states import JobState
from shared_models.data import ImageData, load_dataset
from shared_models.training import (
    Progress,
    SavedCheckpoint,
    Trainer,
    TrainHooks,
    TrainResult,
    describe_device,
    pick_device,
)
from shared_models.training.run_folder import plan_run, run
from worker.context import WorkerContext
from worker.job_log import job_log_events
from worker.job_monitor import JobMonitor, StopReason
from worker.persistence import best_effort, persistently
from worker.publisher import CheckpointPublisher
from worker.tracking import JobTracking

log = logging.getLogger(__name__)

CheckpointHook = Callable[[str, SavedCheckpoint], None]


@lru_cache(maxsize=4)
def cached_dataset(name: str, data_dir: Path) -> ImageData:
    """The training split, loaded (and hash-checked) once per worker process."""
    return load_dataset(name, data_dir, "train")


def run_job(
    context: WorkerContext, job_id: str, owner: str, on_checkpoint: CheckpointHook | None = None
) -> str:
    """Run a delivered job to its end; returns the state the job was left in.

    ``on_checkpoint`` runs after each checkpoint is published (by default: the checkpoint is
    handed to the scorer process).
    """
    with job_context(job_id), job_log_events(context.jobs, job_id):
        return JobRun(context, job_id, owner, on_checkpoint).run()


class JobRun:
    def __init__(
        self,
        context: WorkerContext,
        job_id: str,
        owner: str,
        on_checkpoint: CheckpointHook | None,
    ) -> None:
        self.context = context
        self.settings = context.settings
        self.jobs = context.jobs
        self.job_id = job_id
        self.owner = owner
        self.on_checkpoint = on_checkpoint
        self.publisher = CheckpointPublisher(
            context.store, context.models, context.jobs, self.settings.runs_dir
        )

    def run(self) -> str:
        settings = self.settings
        claim = self.jobs.claim(
            self.job_id, self.owner, settings.lease_seconds, settings.max_deliveries
        )
        if not claim.run:
            log.info("job %s: not running it here (%s)", self.job_id, claim.reason)
            return claim.reason
        assert claim.record is not None
        self.tracking = JobTracking(self.context.tracker, self.jobs, claim.record)
        monitor = JobMonitor(
            self.jobs, self.job_id, self.owner,
            heartbeat_seconds=settings.heartbeat_seconds,
            lease_seconds=settings.lease_seconds,
            max_seconds=settings.max_job_seconds,
        )
        try:
            with monitor:
                if monitor.stop_reason is StopReason.CANCELLED:
                    self._finish(JobState.CANCELLED)
                    return JobState.CANCELLED
                result = self._train(claim.record, monitor)
        except Exception as error:  # noqa: BLE001 - any failure is recorded with its message
            log.exception("job %s failed", self.job_id)
            self._finish(JobState.FAILED, error=_describe(error))
            return JobState.FAILED
        return self._conclude(result, monitor.stop_reason)

    def _train(self, record: JobRecord, monitor: JobMonitor) -> TrainResult:
        spec = JobSpec.model_validate(record.params)
        config = spec.train_config()
        generator_config, discriminator_config = spec.network_configs()
        device = pick_device(self.settings.device)
        self._progress(JobProgress(
            device=describe_device(device), worker=self.owner, total=config.iterations
        ))
        self.tracking.start(spec)
        data = cached_dataset(config.dataset, self.settings.data_dir.resolve())
        persistently(lambda: self.publisher.fetch_newest(self.job_id), "fetching the checkpoint")

        def report(progress: Progress) -> None:
            self._progress(JobProgress(
                step=progress.step,
                total=progress.total,
                d_loss=progress.d_loss,
                g_loss=progress.g_loss,
                iterations_per_s=round(progress.iterations_per_s, 3),
                eta_s=None if progress.eta_s is None else round(progress.eta_s, 1),
            ))
            self.tracking.losses(progress)

        def publish(saved: SavedCheckpoint) -> None:
            # on the checkpoint writer's thread: training goes on meanwhile
            model = persistently(
                lambda: self.publisher.publish(self.job_id, saved, config.keep_checkpoints),
                f"publishing checkpoint {saved.manifest.step}",
            )
            self._progress(JobProgress(checkpoint_step=saved.manifest.step))
            best_effort(lambda: self.jobs.add_event(self.job_id, EventKind.CHECKPOINT, {
                "model": model.id, "step": model.step, "final": model.final,
            }), "a checkpoint event")
            if self.on_checkpoint is not None:
                self.on_checkpoint(self.job_id, saved)
            else:
                self.context.scorer.submit(self.job_id, model.id)
            self.tracking.checkpoint(saved, model)

        def started(trainer: Trainer) -> None:
            segment = trainer.segment
            log.info("job %s: training on %s from step %d (%s%s)", self.job_id, device,
                     trainer.step, segment.precision, ", compiled" if segment.compile else "")
            self._progress(JobProgress(
                step=trainer.step,
                resumed_from=trainer.step or None,
                precision=Precision(asked=segment.asked_precision, resolved=segment.precision),
                compile=segment.compile,
                segments=_segments([*trainer.earlier_segments, segment.to_dict()]),
            ))

        hooks = TrainHooks(
            should_stop=monitor.should_stop,
            on_progress=report,
            on_checkpoint=publish,
            checkpoint_scope=lambda step: tracing.span("checkpoint.save", job=self.job_id,
                                                       step=step),
            on_start=started,
            checkpoint_on_stop=lambda: monitor.stop_reason is not StopReason.LEASE_LOST,
            progress_every_s=1.0,
        )
        # the job's newest checkpoint, fetched above, is continued when there is one
        plan = plan_run(self.settings.runs_dir / self.job_id, config, generator_config,
                        discriminator_config, resume=True)
        return run(plan, data, device, hooks)

    def _conclude(self, result: TrainResult, reason: StopReason | None) -> str:
        summary = JobProgress(
            step=result.step,
            d_loss=result.d_loss,
            g_loss=result.g_loss,
            eta_s=0 if not result.stopped else None,
        )
        if not result.stopped:
            self._finish(JobState.SUCCEEDED, progress=summary)
            self.publisher.clear_scratch(self.job_id)
            log.info("job %s succeeded at step %d", self.job_id, result.step)
            return JobState.SUCCEEDED
        if reason is StopReason.CANCELLED:
            self._finish(JobState.CANCELLED, progress=summary)
            self.publisher.clear_scratch(self.job_id)
            return JobState.CANCELLED
        if reason is StopReason.TIME_LIMIT:
            error = (
                f"stopped at step {result.step}: exceeded DCGAN_MAX_JOB_SECONDS "
                f"({self.settings.max_job_seconds}s); its last checkpoint is kept"
            )
            self._finish(JobState.FAILED, error=error, progress=summary)
            return JobState.FAILED
        if reason is StopReason.SHUTDOWN:
            persistently(lambda: self.jobs.update_progress(self.job_id, summary),
                         "recording the progress")
            persistently(lambda: self.jobs.hand_back(self.job_id, self.owner),
                         "handing the job back")
            log.info("job %s: checkpointed at step %d, handed back", self.job_id, result.step)
            self.tracking.end(None)  # the run stays open for the next delivery
            return JobState.QUEUED
        log.warning("job %s: lease lost at step %d; another worker owns it", self.job_id,
                    result.step)
        self.tracking.end(None)  # the run goes on with the worker that holds the lease now
        return "lease lost"

    def _finish(self, state: JobState, error: str | None = None,
                progress: JobProgress | None = None) -> None:
        persistently(
            lambda: self.jobs.finish(self.job_id, self.owner, state, error=error,
                                     progress=progress),
            f"recording that the job {state}",
        )
        self.tracking.end(state)

    def _progress(self, report: JobProgress) -> None:
        best_effort(lambda: self.jobs.update_progress(self.job_id, report),
                    "a progress report")


def _segments(stored: list[dict[str, Any]]) -> list[TrainedSegment]:
    """The run's sessions as reported; one a checkpoint holds in another shape is left out
    (a progress report never stops training)."""
    reported = []
    for segment in stored:
        try:
            reported.append(TrainedSegment.model_validate(segment))
        except ValidationError:
            log.warning("a segment of the run is not reported: %r", segment)
    return reported


def _describe(error: BaseException) -> str:
    text = redact_paths(str(error).strip()) or type(error).__name__
    return f"{type(error).__name__}: {text}"
