"""Dynamic micro-batching: concurrent requests share generator forward passes.

Each request hands in its noise rows (and labels). One thread takes whatever is waiting — up to
``max_rows`` rows, waiting at most ``max_wait_s`` for company after the first request — and
runs one forward per model over all of it, then wakes each request with its own images. The
forward runs on fixed-size blocks (``shared_models.sampling.forward_in_blocks``), so a
request's bytes are the same batched or alone.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

import torch

from shared_models.networks import Generator
from shared_models.sampling import forward_in_blocks, to_uint8

log = logging.getLogger(__name__)


@dataclass
class Pending:
    generator: Generator
    z: torch.Tensor
    labels: torch.Tensor | None
    result: Future = field(default_factory=Future)


class RenderBatcher:
    def __init__(self, max_rows: int = 256, max_wait_s: float = 0.002) -> None:
        self.max_rows = max_rows
        self.max_wait_s = max_wait_s
        self.batches = 0  # forward passes run, for the metrics
        self.rows = 0
        self._queue: queue.Queue[Pending | None] = queue.Queue()
        self._thread = threading.Thread(target=self._serve, name="render-batcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    async def images(
        self, generator: Generator, z: torch.Tensor, labels: torch.Tensor | None
    ) -> torch.Tensor:
        """uint8 (n, 28, 28) images for noise rows z, computed with other requests' rows."""
        pending = Pending(generator, z, labels)
        self._queue.put(pending)
        return await asyncio.wrap_future(pending.result)

    # --- the batching thread -----------------------------------------------------------------

    def _serve(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = self._collect(first)
            for group in _by_model(batch):
                self._run(group)
            if stop:
                return

    def _collect(self, first: Pending) -> tuple[list[Pending], bool]:
        batch, rows = [first], first.z.shape[0]
        deadline = time.monotonic() + self.max_wait_s
        while rows < self.max_rows:
            remaining = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else (
                    self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
            rows += item.z.shape[0]
        return batch, False

    def _run(self, group: list[Pending]) -> None:
        try:
            z = torch.cat([p.z for p in group])
            conditional = group[0].labels is not None
            labels = torch.cat([p.labels for p in group if p.labels is not None]) if (
                conditional
            ) else None
            images = to_uint8(forward_in_blocks(group[0].generator, z, labels)[:, 0]).cpu()
        except Exception as error:  # noqa: BLE001 - hand the failure to every waiting request
            log.exception("batched render failed")
            for pending in group:
                pending.result.set_exception(error)
            return
        self.batches += 1
        self.rows += int(z.shape[0])
        start = 0
        for pending in group:
            count = pending.z.shape[0]
            pending.result.set_result(images[start : start + count])
            start += count


def _by_model(batch: list[Pending]) -> list[list[Pending]]:
    groups: dict[int, list[Pending]] = {}
    for pending in batch:
        groups.setdefault(id(pending.generator), []).append(pending)
    return list(groups.values())
