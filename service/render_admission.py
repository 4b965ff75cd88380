"""Admission of image requests, weighed by the rows they ask for.

At most ``max_concurrent`` requests and ``max_rows`` rows render at once (their forward passes
are shared fairly by ``service.batching``); a request that does not fit waits, unless
``max_queued`` requests or ``max_queued_rows`` rows wait already, in which case it is shed at
once with 429 and a ``Retry-After`` instead of piling up. A waiting request is admitted as
soon as it fits, whatever arrived before it: a small request is never held behind a large one
that does not fit yet.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Overloaded(RuntimeError):
    def __init__(self, retry_after_s: int, what: str = "image requests") -> None:
        super().__init__(f"too many {what} in flight")
        self.retry_after_s = retry_after_s


class RenderAdmission:
    def __init__(
        self, max_concurrent: int, max_queued: int, max_rows: int, max_queued_rows: int
    ) -> None:
        self.max_concurrent = max_concurrent
        self.max_queued = max_queued
        self.max_rows = max_rows
        self.max_queued_rows = max_queued_rows
        self.in_flight = 0  # requests rendering now
        self.rows_in_flight = 0
        self.waiting = 0
        self.waiting_rows = 0
        self._changed: asyncio.Condition | None = None

    def _fits(self, rows: int) -> bool:
        return self.in_flight < self.max_concurrent and self.rows_in_flight + rows <= self.max_rows

    @asynccontextmanager
    async def slot(self, rows: int = 1) -> AsyncIterator[None]:
        """Hold ``rows`` rows of the render capacity while rendering."""
        rows = min(rows, self.max_rows)  # one request always fits an idle gate
        changed = self._changed = self._changed or asyncio.Condition()
        async with changed:
            if not self._fits(rows):
                if (self.waiting >= self.max_queued
                        or self.waiting_rows + rows > self.max_queued_rows):
                    raise Overloaded(retry_after_s=1)
                self.waiting += 1
                self.waiting_rows += rows
                try:
                    await changed.wait_for(lambda: self._fits(rows))
                finally:
                    self.waiting -= 1
                    self.waiting_rows -= rows
            self.in_flight += 1
            self.rows_in_flight += rows
        try:
            yield
        finally:
            async with changed:
                self.in_flight -= 1
                self.rows_in_flight -= rows
                changed.notify_all()
