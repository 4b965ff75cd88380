"""Dynamic micro-batching: concurrent requests share generator forward passes.

Each request hands in its noise rows (and labels). One thread takes whatever is waiting — up to
``max_rows`` rows — and runs one forward per model over all of it, then wakes each request
with its own images. Requests that arrive while a forward runs wait for the next one, so under
load batches form by themselves; when the last batch had company, the thread also waits up to
``max_wait_s`` after the first request for more (a lone client never waits). A failing forward
fails the requests it held, and only those.

The batch runs through ``shared_models.sampling.generate``, on fixed-size blocks, so a
request's bytes are the same batched or alone. The blocks of a batch are spread over
``workers`` threads (one per CPU by default) that each compute with a single intra-op thread:
a block's bits depend on the number of threads computing it, and this keeps them the same for
every block, while the CPUs work on different blocks instead of meeting at the barriers of
every operation — which stall whenever the machine is busy with anything else.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial

import torch

from shared_models.networks import Generator
from shared_models.sampling import SampleInputs, generate

log = logging.getLogger(__name__)

Block = tuple[Callable[[], torch.Tensor], Future]


@dataclass
class Pending:
    generator: Generator
    inputs: SampleInputs
    result: Future = field(default_factory=Future)

    @property
    def rows(self) -> int:
        return self.inputs.rows


class RenderBatcher:
    def __init__(
        self, max_rows: int = 256, max_wait_s: float = 0.002, workers: int | None = None
    ) -> None:
        self.max_rows = max_rows
        self.max_wait_s = max_wait_s
        self.workers = workers or torch.get_num_threads()
        self.batches = 0  # forward passes run, for the metrics
        self.rows = 0
        self._queue: queue.Queue[Pending | None] = queue.Queue()
        self._blocks: queue.Queue[Block | None] = queue.Queue()
        self._carried: Pending | None = None  # taken from the queue, first of the next batch
        self._had_company = False  # the last batch held more than one request
        self._closed = False
        self._lock = threading.Lock()  # orders requests before the stop marker
        self._thread = threading.Thread(target=self._serve, name="render-batcher", daemon=True)
        self._workers: list[threading.Thread] = []

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in (self._thread, *self._workers))

    def start(self) -> None:
        threads = torch.get_num_threads()
        ready = [threading.Event() for _ in range(self.workers)]
        self._workers = [
            threading.Thread(target=self._work, args=(event,), name=f"render-worker-{index}",
                             daemon=True)
            for index, event in enumerate(ready)
        ]
        for worker in self._workers:
            worker.start()
        for event in ready:
            event.wait()
        torch.set_num_threads(threads)  # the process's setting again; each worker keeps one
        self._thread.start()

    def stop(self) -> None:
        """Answer every request queued so far, then end the threads; later requests fail."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(None)
        if self._thread.ident is not None:
            self._thread.join(timeout=30)
        for _ in self._workers:
            self._blocks.put(None)
        for worker in self._workers:
            worker.join(timeout=30)

    async def images(self, generator: Generator, inputs: SampleInputs) -> torch.Tensor:
        """uint8 (n, 28, 28) images for ``inputs``, computed with other requests' rows."""
        pending = Pending(generator, inputs)
        with self._lock:
            if self._closed:
                raise RuntimeError("the render batcher is stopped")
            self._queue.put(pending)
        return await asyncio.wrap_future(pending.result)

    # --- the batching thread -----------------------------------------------------------------

    def _serve(self) -> None:
        stop = False
        while not stop:
            first = self._carried or self._queue.get()
            self._carried = None
            if first is None:
                return
            batch, stop = self._collect(first)
            self._had_company = len(batch) > 1
            for group in _by_model(batch):
                self._run(group)

    def _collect(self, first: Pending) -> tuple[list[Pending], bool]:
        """``first`` and what joins it within max_rows; True when the stop marker came."""
        batch, rows = [first], first.rows
        deadline = time.monotonic() + (self.max_wait_s if self._had_company else 0.0)
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
            if rows + item.rows > self.max_rows:
                self._carried = item
                break
            batch.append(item)
            rows += item.rows
        return batch, False

    def _run(self, group: list[Pending]) -> None:
        try:
            inputs = SampleInputs.cat([p.inputs for p in group])
            generator = group[0].generator
            on_cpu = next(generator.parameters()).device.type == "cpu"
            images = generate(generator, inputs, self._map if on_cpu else map)
        except Exception as error:  # noqa: BLE001 - hand the failure to every waiting request
            log.exception("batched render failed")
            for pending in group:
                pending.result.set_exception(error)
            return
        self.batches += 1
        self.rows += inputs.rows
        start = 0
        for pending in group:
            pending.result.set_result(images[start : start + pending.rows])
            start += pending.rows

    # --- the block workers -------------------------------------------------------------------

    def _map(self, forward: Callable[[int], torch.Tensor], starts: Iterable[int]
             ) -> list[torch.Tensor]:
        """``forward`` for every block start, on the workers; the outputs in order."""
        futures: list[Future] = []
        for start in starts:
            futures.append(Future())
            self._blocks.put((partial(forward, start), futures[-1]))
        return [future.result() for future in futures]

    def _work(self, ready: threading.Event) -> None:
        # torch gives a thread the process's intra-op setting on its first use: take it now,
        # then make this thread's one thread (start() restores the process's setting)
        torch.get_num_threads()
        torch.set_num_threads(1)
        ready.set()
        while (block := self._blocks.get()) is not None:
            compute, future = block
            try:
                output = compute()
            except Exception as error:  # noqa: BLE001 - raised again in the batching thread
                future.set_exception(error)
            else:
                future.set_result(output)


def _by_model(batch: list[Pending]) -> list[list[Pending]]:
    groups: dict[int, list[Pending]] = {}
    for pending in batch:
        groups.setdefault(id(pending.generator), []).append(pending)
    return list(groups.values())
