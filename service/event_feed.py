"""The job events a replica hands to its open streams: one poller per API process.

While at least one stream is open, the feed asks the database every
``DCGAN_EVENT_POLL_SECONDS`` which jobs have events it has not seen (one indexed query on the
jobs changed lately, whatever the number of streams), reads those events and gives every
stream the same batch. Workers, the scorer and other replicas write events straight to the
database, so a stream on any replica sees every job's events, in embedded mode too.

A stream first subscribes and waits until the feed follows the database, then reads from the
database what it missed (``service.event_stream``); the batches that arrive meanwhile repeat
some of it, and each job's event numbers tell which.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import anyio.to_thread

from jobs.events import JobEvent
from jobs.job_store import JobStore

log = logging.getLogger(__name__)

# An event's transaction commits within this long of its created_at (the database's clock when
# the transaction wrote it): the jobs changed in the last WINDOW_S are the ones to look at.
WINDOW_S = 30.0
MAX_WAITING_BATCHES = 256  # a stream this far behind is ended (its client resumes)
PRUNE_EVERY_S = 600.0


@dataclass(frozen=True)
class Batch:
    """The events one poll found, each job's in order; every event committed before
    ``polled_at`` (the database's clock) is in this batch or an earlier one."""

    polled_at: float
    events: list[JobEvent]


class Subscription:
    """One stream's place in the feed: the batches since it subscribed, then None when the
    feed closes or the stream falls too far behind."""

    def __init__(self) -> None:
        self.batches: asyncio.Queue[Batch | None] = asyncio.Queue(MAX_WAITING_BATCHES + 1)

    def offer(self, batch: Batch | None) -> bool:
        """Hand the stream a batch; False (and the stream is ended) when it is too far behind."""
        if batch is not None and self.batches.qsize() < MAX_WAITING_BATCHES:
            self.batches.put_nowait(batch)
            return True
        self.batches.put_nowait(None)
        return False


class EventFeed:
    def __init__(self, jobs: JobStore, poll_s: float, keep_progress_s: float) -> None:
        self.jobs = jobs
        self.poll_s = poll_s
        self.keep_progress_s = keep_progress_s
        self.subscribers: set[Subscription] = set()
        self.closed = False
        self._known: dict[str, int] | None = None  # job -> newest event number handed out
        self._polled_at = 0.0
        self._pruned_at = 0.0
        self._wanted = asyncio.Event()
        self._following = asyncio.Event()  # set once the feed knows every job's newest event
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-feed")

    async def stop(self) -> None:
        self.close()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    def close(self) -> None:
        """End every open stream now, and each one opened later at once (the replica is
        shutting down)."""
        self.closed = True
        self._following.set()  # no stream waits for a feed that has stopped
        for subscription in list(self.subscribers):
            subscription.offer(None)

    @contextmanager
    def subscribe(self) -> Iterator[Subscription]:
        subscription = Subscription()
        if self.closed:
            subscription.offer(None)
        self.subscribers.add(subscription)
        self._wanted.set()
        try:
            yield subscription
        finally:
            self.subscribers.discard(subscription)

    async def following(self) -> None:
        """Return once every event written from now on will reach the subscribers: a stream
        that subscribed reads what it missed after this, so nothing falls in between."""
        await self._following.wait()

    async def _run(self) -> None:
        while True:
            if not self.subscribers:
                self._known = None  # nobody watched meanwhile: start again from the heads
                self._following.clear()
                self._wanted.clear()
                await self._wanted.wait()
            try:
                batch = await anyio.to_thread.run_sync(self._poll)
            except Exception as error:  # noqa: BLE001 - a database that is down: try again
                if not self._failing:
                    log.warning("job events could not be read: %s", error)
                self._failing = True
            else:
                if self._failing:
                    log.info("job events are read again")
                self._failing = False
                self._following.set()
                if batch.events:
                    for subscription in list(self.subscribers):
                        if not subscription.offer(batch):
                            self.subscribers.discard(subscription)
            await asyncio.sleep(self.poll_s)

    def _poll(self) -> Batch:
        if self._known is None:
            self._polled_at, self._known = self.jobs.event_heads(None)
            return Batch(self._polled_at, [])
        polled_at, heads = self.jobs.event_heads(self._polled_at - WINDOW_S)
        events: list[JobEvent] = []
        for job_id, head in heads.items():
            after = self._known.get(job_id, 0)
            while head > after:
                found = self.jobs.events(job_id, after)
                if not found:
                    break
                events.extend(found)
                after = found[-1].seq
            self._known[job_id] = after
        self._polled_at = polled_at
        if polled_at - self._pruned_at > PRUNE_EVERY_S:
            self._pruned_at = polled_at
            removed = self.jobs.remove_progress_events_before(polled_at - self.keep_progress_s)
            if removed:
                log.info("deleted %d progress events older than %.0f hours", removed,
                         self.keep_progress_s / 3600)
        return Batch(polled_at, events)
