"""A running job's heartbeat: renews the lease and watches for cancel, shutdown, time limit.

It runs in a thread beside the training loop, which only reads ``stop_reason`` (a plain
attribute) before each iteration, so checking costs the loop nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from enum import StrEnum

from jobs.job_store import JobStore

log = logging.getLogger(__name__)


class StopReason(StrEnum):
    CANCELLED = "cancelled"
    SHUTDOWN = "shutdown"  # the worker is stopping: checkpoint and hand the job back
    TIME_LIMIT = "time limit"
    LEASE_LOST = "lease lost"


class JobMonitor:
    def __init__(
        self,
        store: JobStore,
        job_id: str,
        owner: str,
        *,
        heartbeat_seconds: float,
        lease_seconds: float,
        max_seconds: float,
    ) -> None:
        self.store = store
        self.job_id = job_id
        self.owner = owner
        self.heartbeat_seconds = heartbeat_seconds
        self.lease_seconds = lease_seconds
        self.deadline = time.monotonic() + max_seconds
        self.stop_reason: StopReason | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"monitor-{job_id}", daemon=True)

    def __enter__(self) -> JobMonitor:
        self.check()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=10)

    def should_stop(self) -> bool:
        return self.stop_reason is not None

    def check(self) -> None:
        record = self.store.heartbeat(self.job_id, self.owner, self.lease_seconds)
        if record is None:
            self._stop(StopReason.LEASE_LOST)
        elif record.cancel_requested:
            self._stop(StopReason.CANCELLED)
        elif self.store.worker_stopping(self.owner):
            self._stop(StopReason.SHUTDOWN)
        elif time.monotonic() > self.deadline:
            self._stop(StopReason.TIME_LIMIT)

    def _stop(self, reason: StopReason) -> None:
        if self.stop_reason is None:
            log.info("job %s: stopping (%s)", self.job_id, reason)
            self.stop_reason = reason

    def _loop(self) -> None:
        while not self._done.wait(self.heartbeat_seconds):
            try:
                self.check()
            except Exception:  # noqa: BLE001 - a flaky disk must not kill the training thread
                log.exception("job %s: heartbeat failed", self.job_id)
