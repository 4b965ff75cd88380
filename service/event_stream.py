"""Server-sent event streams of job events: one job's (``job_stream``) or every job's
(``all_jobs_stream``), resumable from the ``Last-Event-ID`` a reconnecting client sends.

One job's events are numbered 1, 2, ... in the order they committed, so its stream's event id
is that number and a reconnect asks for the ones after it. Every job's stream needs more: the
jobs' numbers are independent, and a global number would not do (two transactions can commit
in the other order than they numbered). Its id is a cursor (``Cursor``): a time on the
database's clock before which everything was delivered, and the newest number delivered of
each job with events after that time less ``WINDOW_S``. Nothing still held is lost or repeated
across a reconnect, to any replica, within ``MAX_RESUME_S``.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread

from jobs.events import EventKind, JobEvent
from jobs.job_store import JobStore
from jobs.states import TERMINAL
from service.event_feed import WINDOW_S, Batch, EventFeed, Subscription

RETRY_MS = 2000  # how long a client waits before it reconnects
PAGE = 1000  # events read from the database at a time


def encode(event: JobEvent, event_id: str) -> bytes:
    """One event in the text/event-stream format: its id, its kind as the event type, and
    its payload as one line of JSON (NaN and infinities as null, which JSON lacks)."""
    data = json.dumps(_finite(event.payload()), separators=(",", ":"))
    return f"id: {event_id}\nevent: {event.kind.value}\ndata: {data}\n\n".encode()


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def opening() -> bytes:
    return f"retry: {RETRY_MS}\n\n".encode()


HEARTBEAT = b": keep-alive\n\n"


def ends_job(event: JobEvent) -> bool:
    return event.kind is EventKind.STATE and event.data.get("state") in TERMINAL


# --- one job ---------------------------------------------------------------------------------


async def job_stream(
    jobs: JobStore, feed: EventFeed, subscription: Subscription, job_id: str, after: int,
    finished: bool, heartbeat_s: float,
) -> AsyncIterator[bytes]:
    """The job's events numbered above ``after``, then each new one as it is written, until
    the event that ends the job (or the replica shuts down). For a job that had ``finished``
    already, the events it holds after ``after`` and no more."""
    yield opening()
    await feed.following()
    last = after
    while True:  # what is held, a page at a time
        held = await anyio.to_thread.run_sync(jobs.events, job_id, last, PAGE)
        for event in held:
            yield encode(event, str(event.seq))
            if ends_job(event) and not finished:
                return
        if len(held) < PAGE:
            break
        last = held[-1].seq
    last = held[-1].seq if held else last
    if finished:
        return
    async for batch in _batches(subscription, heartbeat_s):
        if batch is None:
            yield HEARTBEAT
            continue
        mine = [event for event in batch.events if event.job_id == job_id and event.seq > last]
        if mine and mine[0].seq != last + 1:  # never expected; read the gap rather than skip it
            mine = await anyio.to_thread.run_sync(jobs.events, job_id, last, PAGE)
        for event in mine:
            yield encode(event, str(event.seq))
            last = event.seq
            if ends_job(event):
                return


async def _batches(subscription: Subscription, heartbeat_s: float
                   ) -> AsyncIterator[Batch | None]:
    """The subscription's batches, None after each ``heartbeat_s`` without one; ends when the
    feed ends the subscription."""
    while True:
        try:
            batch = await asyncio.wait_for(subscription.batches.get(), heartbeat_s)
        except TimeoutError:
            yield None
            continue
        if batch is None:
            return
        yield batch


# --- every job -------------------------------------------------------------------------------

# A stream resumes from a cursor at most this old; an older one gets a reset event first, and
# the events from now on (a client that was away this long reads the jobs again).
MAX_RESUME_S = 900.0
RESET = b"event: reset\ndata: {}\n\n"

CURSOR = re.compile(r"^([0-9]{1,12}(?:\.[0-9]{1,6})?)((?:~[A-Za-z0-9_-]{1,64}\.[0-9]{1,9})*)$")


@dataclass
class Cursor:
    """Where a stream of every job's events stands: every event written before
    ``since - WINDOW_S`` (the database's clock) was delivered, and of the later ones each
    job's numbered up to ``seen[job]``. ``written[job]`` is an upper bound on when that job's
    newest delivered event was written (to forget it once it is older than the window)."""

    since: float
    seen: dict[str, int] = field(default_factory=dict)
    written: dict[str, float] = field(default_factory=dict)

    def delivered(self, event: JobEvent) -> bool:
        return event.seq <= self.seen.get(event.job_id, 0)

    def deliver(self, event: JobEvent) -> None:
        self.seen[event.job_id] = event.seq
        self.written[event.job_id] = event.created_at

    def moved_to(self, since: float) -> None:
        """Everything committed before ``since`` has been delivered."""
        self.since = max(self.since, since)
        for job_id in [job for job, at in self.written.items() if at < self.since - WINDOW_S]:
            del self.seen[job_id], self.written[job_id]

    def encode(self) -> str:
        # rounded down: ``since`` may only understate what was delivered
        since = math.floor(self.since * 1000) / 1000
        return f"{since:.3f}" + "".join(f"~{job}.{seq}" for job, seq in self.seen.items())

    @classmethod
    def decode(cls, text: str) -> Cursor:
        match = CURSOR.match(text)
        if match is None:
            raise ValueError("not an event id this stream sent")
        since = float(match.group(1))
        cursor = cls(since)
        for part in filter(None, match.group(2).split("~")):
            job, seq = part.rsplit(".", 1)
            cursor.seen[job] = int(seq)
            cursor.written[job] = since  # its event was written before since, at the latest
        return cursor


async def all_jobs_stream(
    jobs: JobStore, feed: EventFeed, subscription: Subscription, cursor: Cursor,
    heartbeat_s: float,
) -> AsyncIterator[bytes]:
    """Every job's events as they are written, after those the cursor has seen. Ends only when
    the replica shuts down."""
    yield opening()
    await feed.following()
    polled_at = await anyio.to_thread.run_sync(jobs.clock)
    if cursor.since < polled_at - MAX_RESUME_S:
        yield RESET  # too far behind to replay: the client reads the jobs again
        cursor = await anyio.to_thread.run_sync(fresh_cursor, jobs)
    held = await anyio.to_thread.run_sync(jobs.events_since, cursor.since - WINDOW_S)
    for chunk in _undelivered(cursor, held):
        yield chunk
    cursor.moved_to(polled_at)
    async for batch in _batches(subscription, heartbeat_s):
        if batch is None:
            yield HEARTBEAT
            continue
        for chunk in _undelivered(cursor, batch.events):
            yield chunk
        cursor.moved_to(batch.polled_at)


def _undelivered(cursor: Cursor, events: list[JobEvent]) -> Iterator[bytes]:
    """Each of ``events`` the cursor has not seen, encoded with the cursor that includes it."""
    for event in events:
        if not cursor.delivered(event):
            cursor.deliver(event)
            yield encode(event, cursor.encode())


def fresh_cursor(jobs: JobStore) -> Cursor:
    """A cursor at the database's time now: every event written before counts as seen."""
    now = jobs.clock()
    cursor = Cursor(now)
    for event in jobs.events_since(now - WINDOW_S):
        cursor.deliver(event)
    return cursor
