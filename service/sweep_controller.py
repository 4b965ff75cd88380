"""Sweeps, moved along by every API replica: each pass submits open sweeps' next members
(``jobs.sweeps``) and ends a sweep once its members have run and been scored, with its
ranking and, when it asks, the best member that passes the serving gate pinned.

Every replica runs one; the database decides: members are submitted once (their job ids), a
sweep is ended once (only the replica whose update ends it pins), so losing any replica loses
nothing. A member's scores arrive after its job ends (the scorer runs off the training loop):
a sweep waits for them, up to ``score_wait_s`` (DCGAN_SWEEP_SCORE_WAIT_SECONDS) after its last
member ended.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from celery import Celery

from jobs.job_store import JobStore
from jobs.queue import enqueue
from jobs.sweep_ranking import ranking, scores_settled
from jobs.sweeps import SweepRecord, SweepState, SweepStore
from registry.model_records import ModelRecords
from registry.promotion import Gate
from registry.serving_pins import PinAction, ServingPins
from service.periodic import PeriodicThread

log = logging.getLogger(__name__)

class SweepController(PeriodicThread):
    def __init__(
        self, sweeps: SweepStore, records: ModelRecords, pins: ServingPins, gate: Gate,
        celery: Celery, queue: str, max_active: int, interval_s: float,
        score_wait_s: float,
    ) -> None:
        super().__init__("sweeps", interval_s)
        self.sweeps, self.records, self.pins, self.gate = sweeps, records, pins, gate
        self.publish = partial(enqueue, celery, sweeps.jobs)
        self.queue, self.max_active, self.score_wait_s = queue, max_active, score_wait_s

    @property
    def jobs(self) -> JobStore:
        return self.sweeps.jobs

    def pass_once(self) -> None:
        for sweep in self.sweeps.running():
            self.advance(sweep)

    def advance(self, sweep: SweepRecord) -> None:
        if not self.sweeps.advance(sweep, self.queue, self.max_active, self.publish):
            return
        members = self.sweeps.member_jobs(sweep.id)
        ranked = ranking(sweep, members, self.records)
        last_end = max((job.finished_at or 0.0 for job in members.values()), default=0.0)
        waited = self.jobs.clock() - last_end
        if not scores_settled(ranked, sweep.score_samples) and waited < self.score_wait_s:
            return
        best = self.best_passing(ranked) if sweep.spec.get("at_end") == "pin_best" else None
        result: dict[str, Any] = {"ranking": ranked, "pinned": best}
        if not self.sweeps.end(sweep.id, SweepState.SUCCEEDED, result):
            return  # another replica ended it
        log.info("sweep %s ended: best %s", sweep.id,
                 ranked[0]["model"] if ranked and ranked[0]["rank"] else "none scored")
        if best is not None:
            self.pins.record(PinAction.PIN, best, None, f"the best member of sweep {sweep.id}")

    def best_passing(self, ranked: list[dict[str, Any]]) -> str | None:
        for row in ranked:
            record = self.records.get(row["model"]) if row["rank"] else None
            if record is not None and self.gate.verdict(record)[0]:
                return record.id
        return None
