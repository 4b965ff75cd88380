"""Dynamic micro-batching: concurrent requests share generator forward passes, fairly.

Each request hands in its noise rows (and labels). One thread builds each batch of up to
``max_rows`` rows from every request waiting, a slice of ``RENDER_BLOCK`` rows from each in
turn, newly arrived requests first, and runs one forward per model over it; a request is woken
with its images once all its rows are drawn. So a 16-digit request arriving behind sixteen
1,024-digit ones is drawn in the next batch, not after them, and a lone large request still
gets whole batches. Requests that arrive while a forward runs join the next one, so under load
batches form by themselves; when the last batch had company, the thread also waits up to
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
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial

import torch

from shared_models.networks import Generator
from shared_models.sampling import RENDER_BLOCK, SampleInputs, generate

log = logging.getLogger(__name__)

Block = tuple[Callable[[], torch.Tensor], Future]


@dataclass(eq=False)  # compared by identity: one request is one object
class Pending:
    generator: Generator
    inputs: SampleInputs
    result: Future = field(default_factory=Future)
    drawn: list[torch.Tensor] = field(default_factory=list)  # the images of its rows so far
    done: int = 0  # rows drawn

    @property
    def rows(self) -> int:
        return self.inputs.rows

    @property
    def left(self) -> int:
        return self.rows - self.done


@dataclass(frozen=True)
class Slice:
    """Rows ``start`` to ``start + count`` of one request, in one batch."""

    pending: Pending
    start: int
    count: int

    def inputs(self) -> SampleInputs:
        inputs, end = self.pending.inputs, self.start + self.count
        labels = None if inputs.labels is None else inputs.labels[self.start : end]
        return SampleInputs(inputs.z[self.start : end], labels)


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
        active: deque[Pending] = deque()  # requests with rows left, the next to serve first
        stopping = False
        while active or not stopping:
            if not active:
                first = self._queue.get()
                if first is None:
                    return
                active.append(first)
                stopping = self._gather(active, wait=self._had_company)
            else:
                stopping = self._gather(active, wait=False) or stopping
            batch = self._slices(active)
            self._had_company = len({id(part.pending) for part in batch}) > 1
            for group in _by_model(batch):
                self._run(group)
            for pending in [p for p in active if p.left == 0 or p.result.done()]:
                active.remove(pending)

    def _gather(self, active: deque[Pending], wait: bool) -> bool:
        """Take the requests that have arrived (up to ``max_wait_s`` more when ``wait``) to
        the front of ``active``; True when the stop marker came."""
        arrived: list[Pending] = []
        rows = sum(pending.left for pending in active)
        deadline = time.monotonic() + (self.max_wait_s if wait else 0.0)
        stopping = False
        while True:
            # every request already waiting is taken; more are waited for only while the
            # batch would not be full
            remaining = deadline - time.monotonic() if rows < self.max_rows else 0.0
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else (
                    self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if item is None:
                stopping = True
                break
            arrived.append(item)
            rows += item.rows
        active.extendleft(reversed(arrived))
        return stopping

    def _slices(self, active: deque[Pending]) -> list[Slice]:
        """Up to ``max_rows`` rows: a block from each request in turn, round after round;
        the requests served move to the back of ``active``."""
        budget, taken = self.max_rows, {id(p): p.done for p in active}
        batch: list[Slice] = []
        served: list[Pending] = []
        while budget > 0:
            progressed = False
            for pending in active:
                start = taken[id(pending)]
                count = min(RENDER_BLOCK, pending.rows - start, budget)
                if count <= 0:
                    continue
                batch.append(Slice(pending, start, count))
                taken[id(pending)] = start + count
                budget -= count
                progressed = True
                if pending not in served:
                    served.append(pending)
                if budget == 0:
                    break
            if not progressed:
                break
        for pending in served:
            active.remove(pending)
            active.append(pending)
        return batch

    def _run(self, group: list[Slice]) -> None:
        try:
            inputs = SampleInputs.cat([part.inputs() for part in group])
            generator = group[0].pending.generator
            on_cpu = next(generator.parameters()).device.type == "cpu"
            images = generate(generator, inputs, self._map if on_cpu else map)
        except Exception as error:  # noqa: BLE001 - hand the failure to every waiting request
            log.exception("batched render failed")
            for part in group:
                if not part.pending.result.done():
                    part.pending.result.set_exception(error)
            return
        self.batches += 1
        self.rows += inputs.rows
        offset = 0
        for part in group:
            pending = part.pending
            pending.drawn.append(images[offset : offset + part.count])
            pending.done += part.count
            offset += part.count
            if pending.left == 0 and not pending.result.done():
                pending.result.set_result(torch.cat(pending.drawn))

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


def _by_model(batch: list[Slice]) -> list[list[Slice]]:
    groups: dict[int, list[Slice]] = {}
    for part in batch:
        groups.setdefault(id(part.pending.generator), []).append(part)
    return list(groups.values())
