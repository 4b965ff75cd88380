"""A job's log lines as its events: what the worker logs while it runs the job, readable by
whoever watches it (``GET /jobs/{id}/events``), with absolute server paths cut.

A worker process runs one job at a time, so every line the project's code logs at INFO or
above while the job runs is the job's, whichever thread logs it (the checkpoint writer's
included). Lines are written by a thread of their own: logging never waits for the database,
and a database that is down loses log events, never training time.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from core.redaction import redact_paths
from jobs.events import EventKind
from jobs.job_store import JobStore

log = logging.getLogger(__name__)

# the loggers whose lines are a job's: the project's own packages
PACKAGES = ("worker", "shared_models", "artifacts", "registry", "jobs", "core")
FLUSH_TIMEOUT_S = 5.0
MAX_WAITING = 1000  # lines beyond this many unwritten ones are dropped


class JobLogEvents(logging.Handler):
    """Writes the job's log lines as log events, from a thread of its own."""

    def __init__(self, jobs: JobStore, job_id: str) -> None:
        super().__init__(logging.INFO)
        self.jobs = jobs
        self.job_id = job_id
        self.lines: queue.Queue[tuple[str, str] | None] = queue.Queue(MAX_WAITING)
        self.writer = threading.Thread(target=self._write, name="job-log-events", daemon=True)
        self.writer.start()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.split(".")[0] in PACKAGES and threading.current_thread() \
            is not self.writer

    def emit(self, record: logging.LogRecord) -> None:
        message = redact_paths(record.getMessage())
        try:
            self.lines.put_nowait((record.levelname, message))
        except queue.Full:
            pass  # a flood of lines: the job runs on, its watchers miss some

    def close(self) -> None:
        """Write what is waiting (for at most FLUSH_TIMEOUT_S), then stop the thread."""
        try:
            self.lines.put(None, timeout=FLUSH_TIMEOUT_S)
        except queue.Full:
            pass
        self.writer.join(FLUSH_TIMEOUT_S)
        super().close()

    def _write(self) -> None:
        failed = False
        while (line := self.lines.get()) is not None:
            level, message = line
            try:
                self.jobs.add_event(self.job_id, EventKind.LOG,
                                    {"level": level, "message": message})
            except Exception as error:  # noqa: BLE001 - a log event is never worth a job
                if not failed:
                    log.warning("job %s: log events not written: %s", self.job_id, error)
                failed = True


@contextmanager
def job_log_events(jobs: JobStore, job_id: str) -> Iterator[None]:
    """While the block runs, the process's log lines are the job's log events."""
    handler = JobLogEvents(jobs, job_id)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
