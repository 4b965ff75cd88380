"""A bound on the images being rendered at once and on the requests waiting for a slot.

At most ``max_concurrent`` requests render at once (their forward passes are batched together
by ``service.batching``) and at most ``max_queued`` wait for a slot; a request beyond that is
shed at once with 429 and a ``Retry-After`` instead of piling up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio


class Overloaded(RuntimeError):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__("too many image requests in flight")
        self.retry_after_s = retry_after_s


class RenderGate:
    def __init__(self, max_concurrent: int, max_queued: int) -> None:
        self.max_concurrent = max_concurrent
        self.max_queued = max_queued
        self._slots = anyio.CapacityLimiter(max_concurrent)
        self.waiting = 0

    @property
    def in_flight(self) -> int:
        return int(self._slots.borrowed_tokens)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._slots.available_tokens == 0 and self.waiting >= self.max_queued:
            raise Overloaded(retry_after_s=1)
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self._slots.release()
