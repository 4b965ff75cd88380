"""Turning a models-table row into a generator ready to sample, at most once per model.

The row names the serving artifact in the store and its SHA-256. The artifact is downloaded
once into a local cache folder named by that SHA-256 (``artifacts.cache``; a local store
is read in place), its weights are checked against the hash, and the generator is rebuilt
and given a test forward pass with finite output on the serving device. Loads run on a small
thread pool — never on the event loop — which bounds how many run at once; concurrent
requests for one model share one load, and the newest few loaded generators are kept.

Whatever the stored bytes hold, a failed load is the model's problem, never the service's:
any error marks it invalid with the reason (absolute paths cut out: clients read it). It is
tried again after a backoff that doubles from ``retry_after_s`` up to ``MAX_RETRY_AFTER_S``,
so a stored file that is fixed serves again without a restart, while one that stays bad costs
a load attempt every ten minutes at most.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import torch

from artifacts.cache import ArtifactCache
from core import tracing
from core.redaction import redact_paths
from registry.model_records import ModelRecord
from shared_models.networks import Generator
from shared_models.sampling import grid_inputs, outputs

log = logging.getLogger(__name__)

MAX_RETRY_AFTER_S = 600.0


class InvalidModel(RuntimeError):
    pass


@dataclass(frozen=True)
class Invalid:
    reason: str
    failures: int
    retry_at: float  # time.monotonic() from when a load may be tried again


@dataclass(frozen=True)
class LoadedModel:
    record: ModelRecord
    generator: Generator

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def sha256(self) -> str:
        return self.record.sha256

    @property
    def num_classes(self) -> int:
        return self.generator.config.num_classes


class ModelLoader:
    def __init__(
        self,
        artifacts: ArtifactCache,
        device: str | torch.device = "cpu",
        max_concurrent_loads: int = 2,
        keep_loaded: int = 4,
        retry_after_s: float = 5.0,
    ) -> None:
        self.artifacts = artifacts
        self.device = torch.device(device)
        self.keep_loaded = keep_loaded
        self.retry_after_s = retry_after_s
        self.invalid: dict[str, Invalid] = {}  # artifact SHA-256 -> why it cannot be served
        self.loads = 0  # artifacts rebuilt into generators so far
        self._loaded: OrderedDict[str, LoadedModel] = OrderedDict()
        self._in_flight: dict[str, Future[LoadedModel]] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_concurrent_loads, thread_name_prefix="model-load")

    def submit(self, record: ModelRecord) -> Future[LoadedModel]:
        """The loaded model, now or once its one load finishes."""
        with self._lock:
            loaded = self._loaded.get(record.sha256)
            if loaded is not None and loaded.id == record.id:
                self._loaded.move_to_end(record.sha256)
                return _done(loaded)
            if self.blocked(record.sha256):
                return _failed(InvalidModel(self.invalid[record.sha256].reason))
            future = self._in_flight.get(record.sha256)
            if future is None:
                # in the asker's context: the load's span belongs to its request's trace
                future = self._pool.submit(contextvars.copy_context().run, self._load, record)
                self._in_flight[record.sha256] = future
            return future

    def load(self, record: ModelRecord) -> LoadedModel:
        return self.submit(record).result()

    def reason(self, sha256: str) -> str | None:
        """Why the artifact could not be served the last time it was tried (None: it can)."""
        entry = self.invalid.get(sha256)
        return entry.reason if entry else None

    def blocked(self, sha256: str) -> bool:
        """Invalid, and its backoff is not over: not worth trying now."""
        entry = self.invalid.get(sha256)
        return entry is not None and time.monotonic() < entry.retry_at

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _load(self, record: ModelRecord) -> LoadedModel:
        try:
            loaded = LoadedModel(record, self._rebuild(record))
        except Exception as error:  # noqa: BLE001 - whatever the bytes hold, the model is invalid
            self._mark_invalid(record, error)
            raise InvalidModel(self.invalid[record.sha256].reason) from error
        finally:
            with self._lock:
                self._in_flight.pop(record.sha256, None)
        with self._lock:
            self.loads += 1
            self.invalid.pop(record.sha256, None)
            self._loaded[record.sha256] = loaded
            while len(self._loaded) > self.keep_loaded:
                self._loaded.popitem(last=False)
        log.info("loaded model %s (sha256 %s…)", record.id, record.sha256[:12])
        return loaded

    def _mark_invalid(self, record: ModelRecord, error: Exception) -> None:
        reason = redact_paths(str(error).strip() or type(error).__name__)
        with self._lock:
            failures = self.invalid[record.sha256].failures + 1 if (
                record.sha256 in self.invalid) else 1
            wait = min(MAX_RETRY_AFTER_S, self.retry_after_s * 2 ** (failures - 1))
            self.invalid[record.sha256] = Invalid(reason, failures, time.monotonic() + wait)
        log.warning("model %s cannot be served (%s); trying again in %.0fs", record.id,
                    reason, wait)

    def _rebuild(self, record: ModelRecord) -> Generator:
        with tracing.span("model.load", model=record.id):
            generator, _ = self.artifacts.load(record, self.device)
            if not torch.isfinite(outputs(generator, grid_inputs(generator, 2, seed=0))).all():
                raise InvalidModel("test forward pass gave non-finite values")
            return generator


def _done(value: LoadedModel) -> Future[LoadedModel]:
    future: Future[LoadedModel] = Future()
    future.set_result(value)
    return future


def _failed(error: BaseException) -> Future[LoadedModel]:
    future: Future[LoadedModel] = Future()
    future.set_exception(error)
    return future
