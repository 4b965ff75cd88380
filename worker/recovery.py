"""Recovering jobs whose worker died: expired leases and lost queue messages.

A worker that dies mid-job stops renewing its lease; once the lease expires (by the
database's clock) the job goes back to queued and gets a fresh message on its own queue, and
the next worker resumes it from its last stored checkpoint. Duplicate messages are harmless:
a delivery for a finished job, or one another worker holds, is acknowledged and dropped.
"""

from __future__ import annotations

import logging
import threading

from celery import Celery

from core.settings import Settings
from jobs.job_store import JobStore
from jobs.queue import enqueue

log = logging.getLogger(__name__)


def recover_once(app: Celery, settings: Settings, store: JobStore) -> list[str]:
    recovered = []
    for record in store.requeue_orphans():
        log.warning(
            "job %s: its worker %s stopped renewing the lease; requeued to resume from its "
            "last checkpoint", record.id, record.lease_owner,
        )
        recovered.append(record)
    recovered.extend(store.stale_queued(settings.requeue_queued_after_seconds))
    for record in recovered:
        enqueue(app, store, record)
    return [record.id for record in recovered]


class RecoveryThread(threading.Thread):
    def __init__(self, app: Celery, settings: Settings, store: JobStore) -> None:
        super().__init__(name="job-recovery", daemon=True)
        self.app, self.settings, self.store = app, settings, store
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                recover_once(self.app, self.settings, self.store)
            except Exception:  # noqa: BLE001 - keep watching through broker outages
                log.exception("job recovery pass failed")
            self._stop_event.wait(self.settings.reaper_interval_seconds)

    def stop(self) -> None:
        self._stop_event.set()
