"""Worker start-up and shutdown: limits check, recovery thread, checkpoint-on-SIGTERM.

On a warm shutdown (SIGTERM/SIGINT) the main process flags this worker (by its unique node
name) as stopping in the job records; the job's monitor thread in the pool process sees the
flag within a heartbeat, the training loop writes a checkpoint and the job goes back to the
queue for the next worker.
"""

from __future__ import annotations

import logging
from contextvars import Token
from typing import Any

from celery import Celery, signals

from core import tracing
from core.log_context import current_job
from worker.context import WorkerContext
from worker.local_names import LocalWorkerNames
from worker.recovery import RecoveryThread

log = logging.getLogger(__name__)


class Lifecycle:
    """The signal handlers of one worker app (connected strongly: they are bound methods)."""

    def __init__(self, app: Celery, context: WorkerContext) -> None:
        self.app = app
        self.context = context
        self.recovery: RecoveryThread | None = None
        self.job_tokens: list[Token[str | None]] = []
        self.local_names = LocalWorkerNames(context.settings.runs_dir)

    def connect(self) -> None:
        signals.setup_logging.connect(self.keep_our_logging, weak=False)
        signals.task_prerun.connect(self.enter_job, weak=False)
        signals.task_postrun.connect(self.leave_job, weak=False)
        signals.worker_init.connect(self.check_limits, weak=False)
        signals.worker_process_init.connect(self.after_fork, weak=False)
        signals.worker_process_shutdown.connect(self.stop_scorer, weak=False)
        signals.worker_ready.connect(self.start_recovery, weak=False)
        signals.worker_shutting_down.connect(self.hand_back_running_job, weak=False)
        signals.worker_shutdown.connect(self.clear_stopping_flag, weak=False)

    def keep_our_logging(self, **_: Any) -> None:
        """Connected, so Celery leaves the process's logging (JSON lines, job ids) alone."""

    def enter_job(self, args: Any = None, **_: Any) -> None:
        if args:
            self.job_tokens.append(current_job.set(str(args[0])))

    def leave_job(self, **_: Any) -> None:
        if self.job_tokens:
            current_job.reset(self.job_tokens.pop())

    def check_limits(self, **_: Any) -> None:
        self.context.settings.check_worker_limits()

    def after_fork(self, **_: Any) -> None:
        self.context.after_fork()

    def stop_scorer(self, **_: Any) -> None:
        """The pool process is going: its scorer finishes what it holds and exits, and its
        spans are sent (a pool process ends without the interpreter's exit hooks)."""
        if "scorer" in self.context.__dict__:
            self.context.scorer.close()
        tracing.flush()

    def start_recovery(self, sender: Any = None, **_: Any) -> None:
        hostname = getattr(sender, "hostname", None)
        if hostname:
            self.context.jobs.set_worker_stopping(hostname, False)
            self.local_names.add(hostname)
        self.recovery = RecoveryThread(self.app, self.context.settings, self.context.jobs)
        self.recovery.start()

    def hand_back_running_job(
        self, sender: Any = None, sig: str = "", how: str = "", **_: Any
    ) -> None:
        log.info("worker %s: %s shutdown on %s; running jobs will checkpoint", sender, how, sig)
        if sender:
            self.context.jobs.set_worker_stopping(str(sender))
        if self.recovery is not None:
            self.recovery.stop()

    def clear_stopping_flag(self, sender: Any = None, **_: Any) -> None:
        hostname = getattr(sender, "hostname", None)
        if hostname:
            self.local_names.remove(hostname)
            self.context.jobs.set_worker_stopping(hostname, False)
        tracing.flush()
