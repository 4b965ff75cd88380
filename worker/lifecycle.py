"""Worker start-up and shutdown: limits check, recovery thread, checkpoint-on-SIGTERM.

On a warm shutdown (SIGTERM/SIGINT) the main process flags this worker as stopping in the job
store; the job's monitor thread in the pool process sees the flag within a heartbeat, the
training loop writes a checkpoint and the job goes back to the queue for the next worker.
"""

from __future__ import annotations

import logging
from contextvars import Token
from typing import Any

from celery import signals

from worker.celery_app import app
from worker.log_context import current_job
from worker.recovery import RecoveryThread
from worker.resources import job_store
from worker.settings import get_settings

log = logging.getLogger(__name__)
_recovery: RecoveryThread | None = None
_job_tokens: list[Token[str | None]] = []


@signals.setup_logging.connect
def keep_our_logging(**_: Any) -> None:
    """Connected, so Celery leaves the process's logging (JSON lines, job ids) alone."""


@signals.task_prerun.connect
def enter_job(args: Any = None, **_: Any) -> None:
    if args:
        _job_tokens.append(current_job.set(str(args[0])))


@signals.task_postrun.connect
def leave_job(**_: Any) -> None:
    if _job_tokens:
        current_job.reset(_job_tokens.pop())


@signals.worker_init.connect
def check_limits(**_: Any) -> None:
    get_settings().check_worker_limits()


@signals.worker_ready.connect
def start_recovery(sender: Any = None, **_: Any) -> None:
    global _recovery
    hostname = getattr(sender, "hostname", None)
    if hostname:
        job_store().set_worker_stopping(hostname, False)
    _recovery = RecoveryThread(app, get_settings(), job_store())
    _recovery.start()


@signals.worker_shutting_down.connect
def hand_back_running_job(sender: Any = None, sig: str = "", how: str = "", **_: Any) -> None:
    log.info("worker %s: %s shutdown on %s; running jobs will checkpoint", sender, how, sig)
    if sender:
        job_store().set_worker_stopping(str(sender))
    if _recovery is not None:
        _recovery.stop()


@signals.worker_shutdown.connect
def clear_stopping_flag(sender: Any = None, **_: Any) -> None:
    hostname = getattr(sender, "hostname", None)
    if hostname:
        job_store().set_worker_stopping(hostname, False)
