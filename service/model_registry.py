"""Which generator is served, hot swapping, and looking models up by id.

The models table says which generators exist. A background thread asks it, every reload
interval, for the few preferred candidates (one indexed query with a LIMIT, so a reload costs
the same with ten rows or thousands): the newest *final* model (a finished job's), else the
newest checkpoint of any kind, so a first training run shows digits early. A new candidate is
loaded and validated (``service.model_loader``) before it replaces the served one; a bad one
is remembered as invalid and the previous model keeps serving. Requests take a reference to
the served model when they start, so a swap never disturbs them.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading

import anyio.to_thread

from jobs.model_records import ModelRecord, ModelRecords
from service.model_loader import InvalidModel, LoadedModel, ModelLoader
from service.schemas import ModelStatus

log = logging.getLogger(__name__)

JOB_ID = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"
MODEL_ID = re.compile(rf"^(?P<job>{JOB_ID})(?::(?P<step>\d{{1,9}}))?$")
CANDIDATES = 8  # preferred rows fetched per reload; invalid ones are skipped


class ModelNotFound(LookupError):
    pass


class ModelRegistry:
    def __init__(self, records: ModelRecords, loader: ModelLoader) -> None:
        self.records = records
        self.loader = loader
        self.served: LoadedModel | None = None
        self.swaps = 0
        self.reload_failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the served model --------------------------------------------------------------------

    def refresh(self) -> None:
        """Swap in the preferred model if it is new and valid."""
        for record in self.records.preferred(CANDIDATES):
            served = self.served
            if served is not None and served.id == record.id and served.sha256 == record.sha256:
                return
            if record.sha256 in self.loader.invalid:
                continue
            try:
                loaded = self.loader.load(record)
            except InvalidModel:
                self.reload_failures += 1
                continue
            previous, self.served = self.served, loaded
            self.swaps += 1
            log.info("serving %s (was %s)", loaded.id, previous.id if previous else "nothing")
            return

    def start(self, interval_s: float) -> None:
        self._thread = threading.Thread(
            target=self._watch, args=(interval_s,), name="model-reload", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.loader.close()

    def _watch(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - keep serving whatever happens to the database
                log.exception("model reload pass failed")

    # --- lookups -----------------------------------------------------------------------------

    async def get(self, requested: str | None) -> LoadedModel | None:
        """The served model, or the one a client names as ``JOB`` (its newest) or ``JOB:STEP``.

        The row is read in a worker thread and the load runs on the loader's pool: nothing
        here blocks the event loop."""
        if requested is None:
            return self.served
        record = await anyio.to_thread.run_sync(self.find, requested)
        served = self.served
        if served is not None and served.id == record.id and served.sha256 == record.sha256:
            return served
        return await asyncio.wrap_future(self.loader.submit(record))

    def find(self, requested: str) -> ModelRecord:
        match = MODEL_ID.match(requested)
        if not match:
            raise ModelNotFound(f"{requested!r} is not a model id (expected JOB or JOB:STEP)")
        job, step = match["job"], match["step"]
        if step is not None:
            record = self.records.get(f"{job}:{int(step)}")
            if record is None:
                raise ModelNotFound(f"no checkpoint at step {step} for job {job!r}")
            return record
        record = self.records.newest_of_job(job)
        if record is None:
            raise ModelNotFound(f"no checkpoint for job {job!r} (yet)")
        return record

    def status_of(self, record: ModelRecord) -> tuple[ModelStatus, str | None]:
        served = self.served
        if served is not None and served.id == record.id and served.sha256 == record.sha256:
            return "served", None
        error = self.loader.invalid.get(record.sha256)
        return ("invalid", error) if error else ("available", None)

