"""A job's events: what happened to it, in order, for whoever watches it.

Each job numbers its events from 1 (``seq``); the job store writes a state event with every
state change and a progress event with every progress report, the worker a checkpoint event
when a checkpoint is published, a scored event when its scores arrive and a log event for each
line the job logs. ``GET /jobs/{id}/events`` and ``GET /events`` stream them
(``service/event_feed.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import RowMapping

if TYPE_CHECKING:  # the store imports this module
    from jobs.job_store import JobRecord


class EventKind(StrEnum):
    STATE = "state"  # data: state, error, attempts, cancel_requested
    PROGRESS = "progress"  # data: the progress fields the report set
    CHECKPOINT = "checkpoint"  # data: model, step, final
    SCORED = "scored"  # data: model, scores
    LOG = "log"  # data: level, message (no absolute server paths)


@dataclass(frozen=True)
class JobEvent:
    job_id: str
    seq: int
    kind: EventKind
    data: dict[str, Any]
    created_at: float

    @classmethod
    def from_row(cls, row: RowMapping) -> JobEvent:
        fields = dict(row)
        fields["kind"] = EventKind(fields["kind"])
        return cls(**fields)

    def payload(self) -> dict[str, Any]:
        """What a client receives: the event's data with the job, the event's number and when
        it was written (seconds since the epoch, the database's clock)."""
        return {"job": self.job_id, "seq": self.seq, "at": round(self.created_at, 3),
                **self.data}


def state_event(record: JobRecord) -> tuple[EventKind, dict[str, Any]]:
    """The event a state change writes: the job's state as the change left it."""
    return EventKind.STATE, {
        "state": record.state.value,
        "error": record.error,
        "attempts": record.attempts,
        "cancel_requested": record.cancel_requested,
    }
