"""Model archives for ``GET /models/{id}/export``: built off the request threads, a few at a
time, and kept a while.

Building one (the artifact read and verified, a sample grid rendered, a model card written,
the archive packed) takes a second or two and tens of megabytes. Builds run on a pool of their
own, ``max_builds`` at a time, so the thread pool the other routes use stays free; clients
asking for an archive being built wait for that one build; past ``max_waiting`` archives
waiting for a build, a request is shed with 429. Built archives are kept in memory, newest
used last, up to ``keep_bytes`` together, and sent in chunks under each connection's flow
control, so many clients downloading one archive share one copy of it; at most
``max_sending`` downloads are sent at once, the others wait their turn.

An archive is keyed on what it holds: the model (its id and the SHA-256 of its weights), the
scores its card shows (they arrive after publication) and the format.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from registry.model_records import ModelRecord
from service.render_admission import Overloaded

log = logging.getLogger(__name__)

CHUNK = 1 << 16  # bytes handed to a connection at a time

Key = tuple[str, str, str, str]
# build(record, kind) -> (a folder to remove afterwards, the archive in it)
Build = Callable[[ModelRecord, str], tuple[Path, Path]]


@dataclass(frozen=True)
class Archive:
    name: str
    content: bytes


def key_of(record: ModelRecord, kind: str) -> Key:
    scores = json.dumps(record.metrics, sort_keys=True, default=str)
    return record.id, record.sha256, scores, kind


class ExportBuilds:
    def __init__(
        self, build: Build, max_builds: int, max_waiting: int, keep_bytes: int, max_sending: int
    ) -> None:
        self.build = build
        self._sending = asyncio.Semaphore(max_sending)
        self.max_waiting = max_waiting
        self.keep_bytes = keep_bytes
        self.built = 0  # archives built so far
        self._kept: OrderedDict[Key, Archive] = OrderedDict()
        self._kept_bytes = 0
        self._in_flight: dict[Key, Future[Archive]] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_builds, thread_name_prefix="export")

    async def archive(self, record: ModelRecord, kind: str) -> Archive:
        """``record``'s archive in ``kind``: kept, being built, or built now (429 when too many
        are waiting)."""
        key = key_of(record, kind)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
                return kept
            future = self._in_flight.get(key)
            if future is None:
                if len(self._in_flight) >= self.max_waiting:
                    raise Overloaded(retry_after_s=2, what="model exports")
                future = self._pool.submit(self._build, key, record, kind)
                self._in_flight[key] = future
        return await asyncio.wrap_future(future)

    async def send(self, archive: Archive) -> AsyncIterator[memoryview]:
        """``archive`` a chunk at a time (views, not copies), once one of ``max_sending``
        places to send from is free: the server waits for each connection to take a chunk
        before handing it the next.

        A connection whose socket still has room takes a chunk without waiting, so a download
        yields to the event loop between chunks (else it would fill its socket's buffers,
        megabytes, in one go); and every turn of the loop sends a chunk to each download, so
        the downloads sent at once bound how long a turn takes, and how long any other request
        (a health probe) waits for its own."""
        view = memoryview(archive.content)
        async with self._sending:
            for start in range(0, len(view), CHUNK):
                yield view[start : start + CHUNK]
                await asyncio.sleep(0)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _build(self, key: Key, record: ModelRecord, kind: str) -> Archive:
        try:
            work, path = self.build(record, kind)
            try:
                archive = Archive(path.name, path.read_bytes())
            finally:
                shutil.rmtree(work, ignore_errors=True)
        finally:
            with self._lock:
                self._in_flight.pop(key, None)
        with self._lock:
            self.built += 1
            self._keep(key, archive)
        log.info("built the %s archive of %s (%d bytes)", kind, record.id, len(archive.content))
        return archive

    def _keep(self, key: Key, archive: Archive) -> None:
        if len(archive.content) > self.keep_bytes:
            return
        self._kept[key] = archive
        self._kept_bytes += len(archive.content)
        while self._kept_bytes > self.keep_bytes:
            _, dropped = self._kept.popitem(last=False)
            self._kept_bytes -= len(dropped.content)


