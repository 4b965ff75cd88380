"""Retention, run by the API: every ``DCGAN_RETENTION_INTERVAL_SECONDS`` each replica drops
finished jobs' rolling checkpoints and the models of finished jobs beyond the newest
``DCGAN_KEEP_FINISHED_JOBS`` (``jobs.job_removal.prune_finished``).

It runs here, not in the workers, because the API holds the serving policy: only it knows
which model is served (its own and the one the policy chooses now), and those are never
pruned, nor the pinned one. Replicas pruning at once do not collide: a row is deleted once,
and only the replica that deleted it deletes its objects.
"""

from __future__ import annotations

import logging
import threading

from artifacts.store import ArtifactStore
from jobs.job_removal import prune_finished
from service.model_server import ModelServer

log = logging.getLogger(__name__)


class RetentionThread(threading.Thread):
    def __init__(
        self, server: ModelServer, store: ArtifactStore, keep_jobs: int, interval_s: float
    ) -> None:
        super().__init__(name="retention", daemon=True)
        self.server, self.store = server, store
        self.keep_jobs, self.interval_s = keep_jobs, interval_s
        self._stop_event = threading.Event()

    def prune_once(self) -> int:
        protected = self.server.wanted()
        served = self.server.served
        if served is not None:
            protected.add(served.id)
        engine = self.server.records.engine
        return len(prune_finished(engine, self.store, self.keep_jobs, protected))

    def run(self) -> None:
        while not self._stop_event.wait(self.interval_s):
            try:
                self.prune_once()
            except Exception:  # noqa: BLE001 - try again next time (the database may be down)
                log.exception("retention pass failed")

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)
