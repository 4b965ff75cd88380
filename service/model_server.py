"""Which generator is served, hot swapping, and looking models up by id.

A background thread asks the serving policy (``registry.promotion``), every reload
interval, which models to serve in order of preference (a few indexed queries with a LIMIT,
so a reload costs the same with ten rows or thousands) and why. A new first choice is loaded
and validated (``service.model_loader``) before it replaces the served one; a bad one is
remembered as invalid (and tried again after a backoff) and the next candidate is tried, and
when none can be served the previous model keeps serving. A pinned model that cannot be served
gives way to promotion. Requests take a reference to the served model when they start, so a
swap never disturbs them.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from dataclasses import dataclass

import anyio.to_thread

from registry.model_records import JOB_ID_PATTERN, ModelRecord, ModelRecords
from registry.promotion import Choice, Reason, ServingPolicy
from service.model_loader import InvalidModel, LoadedModel, ModelLoader
from service.schemas import ModelStatus

log = logging.getLogger(__name__)

# ASCII only, and the whole string (fullmatch): no other script's digits, no trailing newline
MODEL_ID = re.compile(rf"(?P<job>{JOB_ID_PATTERN})(?::(?P<step>[0-9]{{1,9}}))?")


class ModelNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Serving:
    """The served model and why the policy chose it."""

    model: LoadedModel
    reason: Reason
    detail: str


class ModelServer:
    def __init__(self, records: ModelRecords, loader: ModelLoader, policy: ServingPolicy) -> None:
        self.records = records
        self.loader = loader
        self.policy = policy
        self.serving: Serving | None = None
        self.swaps = 0
        self.reload_failures = 0
        self.refreshes = 0  # reload passes completed
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def served(self) -> LoadedModel | None:
        serving = self.serving
        return serving.model if serving else None

    # --- the served model --------------------------------------------------------------------

    def refresh(self) -> None:
        """Serve the policy's first valid choice (a swap only when it is a new model)."""
        with self._refresh_lock:
            try:
                self._refresh()
            finally:
                self.refreshes += 1

    def _refresh(self) -> None:
        choice = self.policy.choose()
        if self._serve_first(choice) or choice.reason is not Reason.PINNED:
            return
        pinned = choice.candidates[0]
        why = self.loader.reason(pinned.sha256) or "it cannot be loaded"
        self._serve_first(self.policy.choose(
            follow_pin=False,
            why_not_pinned=f"the pinned model {pinned.id} cannot be served ({why}); ",
        ))

    def _serve_first(self, choice: Choice) -> bool:
        for record in choice.candidates:
            served = self.served
            if served is not None and served.id == record.id and served.sha256 == record.sha256:
                self.serving = Serving(served, choice.reason, choice.detail)
                return True
            if self.loader.blocked(record.sha256):
                continue
            try:
                loaded = self.loader.load(record)
            except InvalidModel:
                self.reload_failures += 1
                continue
            self.serving = Serving(loaded, choice.reason, choice.detail)
            self.swaps += 1
            log.info("serving %s (%s; was %s)", loaded.id, choice.reason,
                     served.id if served else "nothing")
            return True
        return False

    def wanted(self) -> set[str]:
        """The models the policy would serve now (a database read): not to be deleted."""
        return {record.id for record in self.policy.choose().candidates[:1]}

    def in_use(self) -> set[str]:
        """The model served here and the one the policy would serve now: not to be deleted."""
        used = self.wanted()
        if self.served is not None:
            used.add(self.served.id)
        return used

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
        return await self.load(record)

    async def load(self, record: ModelRecord) -> LoadedModel:
        """``record``'s generator, from the served model, the loader's cache or its pool."""
        served = self.served
        if served is not None and served.id == record.id and served.sha256 == record.sha256:
            return served
        return await asyncio.wrap_future(self.loader.submit(record))

    def find(self, requested: str) -> ModelRecord:
        match = MODEL_ID.fullmatch(requested)
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
        error = self.loader.reason(record.sha256)
        return ("invalid", error) if error else ("available", None)
