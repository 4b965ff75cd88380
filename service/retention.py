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

from artifacts.store import ArtifactStore
from jobs.job_removal import prune_finished
from service.model_server import ModelServer
from service.periodic import PeriodicThread

log = logging.getLogger(__name__)


class RetentionThread(PeriodicThread):
    def __init__(
        self, server: ModelServer, store: ArtifactStore, keep_jobs: int, interval_s: float
    ) -> None:
        super().__init__("retention", interval_s)
        self.server, self.store, self.keep_jobs = server, store, keep_jobs

    def pass_once(self) -> int:
        engine = self.server.records.engine
        return len(prune_finished(engine, self.store, self.keep_jobs, self.server.in_use()))
