"""Which generators exist under the runs folder, which one is served, and hot swapping.

A background thread rescans the runs folder's manifests every second. The served model is
the newest *final* checkpoint (a finished job's model); before any job has finished, the
newest checkpoint of any kind, so a first training run shows digits early. A new candidate is
validated — SHA-256 against its manifest, ``torch.load(weights_only=True)``, a test forward
pass with finite output — before it replaces the served one; a bad one is remembered as
invalid and the previous model keeps serving. Requests take a reference to the served model
when they start, so a swap never disturbs them.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch

from shared_models.checkpoint import (
    CHECKPOINT_DIR,
    CheckpointError,
    Manifest,
    checkpoint_path,
    read_manifest,
)
from shared_models.generator_io import load_generator
from shared_models.networks import Generator
from shared_models.noise import seeded_noise

log = logging.getLogger(__name__)

RUN_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"
MODEL_ID = re.compile(rf"^(?P<job>{RUN_NAME})(?::(?P<step>\d{{1,9}}))?$")
CACHE_SIZE = 4


class ModelNotFound(LookupError):
    pass


class InvalidModel(RuntimeError):
    pass


@dataclass(frozen=True)
class LoadedModel:
    id: str
    manifest: Manifest
    generator: Generator

    @property
    def num_classes(self) -> int:
        return self.generator.config.num_classes


def model_id(manifest: Manifest) -> str:
    return f"{manifest.run_dir.name}:{manifest.step}"


class ModelRegistry:
    def __init__(self, runs_dir: Path, device: str | torch.device = "cpu") -> None:
        self.runs_dir = runs_dir
        self.device = torch.device(device)
        self.served: LoadedModel | None = None
        self.manifests: list[Manifest] = []  # newest first, from the latest scan
        self.invalid: dict[tuple[Path, str], str] = {}  # (path, sha256) -> why
        self.swaps = 0
        self.reload_failures = 0
        self._cache: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- scanning and swapping ---------------------------------------------------------------

    def scan(self) -> list[Manifest]:
        found = []
        for path in self.runs_dir.glob(f"*/{CHECKPOINT_DIR}/step_*.pt"):
            try:
                found.append(read_manifest(path))
            except CheckpointError:
                continue  # being written, or pruned meanwhile
        found.sort(key=lambda m: (m.created_at, m.step), reverse=True)
        self.manifests = found
        return found

    def refresh(self) -> None:
        """Rescan and swap in the preferred checkpoint if it is new and valid."""
        manifests = self.scan()
        finals = [m for m in manifests if m.final]
        for manifest in finals or manifests:
            if self.served is not None and self._same(self.served.manifest, manifest):
                return
            if (manifest.path, manifest.sha256) in self.invalid:
                continue
            try:
                loaded = self._load(manifest)
            except InvalidModel as error:
                self.reload_failures += 1
                log.warning("not serving %s: %s", manifest.path, error)
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

    def _watch(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - keep serving whatever happens on disk
                log.exception("model reload pass failed")

    # --- lookups -----------------------------------------------------------------------------

    def get(self, requested: str | None) -> LoadedModel | None:
        """The served model, or the one a client names as ``job`` or ``job:step``."""
        if requested is None:
            return self.served
        match = MODEL_ID.match(requested)
        if not match:
            raise ModelNotFound(f"{requested!r} is not a model id (expected JOB or JOB:STEP)")
        manifest = self._find(match["job"], match["step"])
        served = self.served
        if served is not None and self._same(served.manifest, manifest):
            return served
        key = f"{manifest.path}:{manifest.sha256}"
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        if (manifest.path, manifest.sha256) in self.invalid:
            raise InvalidModel(self.invalid[(manifest.path, manifest.sha256)])
        loaded = self._load(manifest)
        with self._lock:
            self._cache[key] = loaded
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return loaded

    def status_of(self, manifest: Manifest) -> tuple[str, str | None]:
        served = self.served
        if served is not None and self._same(served.manifest, manifest):
            return "served", None
        error = self.invalid.get((manifest.path, manifest.sha256))
        return ("invalid", error) if error else ("available", None)

    def _find(self, job: str, step: str | None) -> Manifest:
        run_dir = (self.runs_dir / job).resolve()
        if run_dir.parent != self.runs_dir.resolve():
            raise ModelNotFound(f"no model {job!r}")
        if step is not None:
            try:
                return read_manifest(checkpoint_path(run_dir, int(step)))
            except CheckpointError:
                raise ModelNotFound(f"no checkpoint at step {step} for job {job!r}") from None
        candidates = [m for m in self.manifests if m.run_dir.name == job]
        if not candidates:
            raise ModelNotFound(f"no checkpoint for job {job!r} (yet)")
        return max(candidates, key=lambda m: m.step)

    def _load(self, manifest: Manifest) -> LoadedModel:
        try:
            generator, verified = load_generator(manifest.path, self.device)
            with torch.no_grad():
                z = seeded_noise(2, generator.config.nz, 0).to(self.device)
                labels = torch.arange(2) if generator.config.num_classes else None
                if not torch.isfinite(generator(z, labels)).all():
                    raise InvalidModel("test forward pass gave non-finite values")
        except (CheckpointError, KeyError, RuntimeError, ValueError, TypeError) as error:
            reason = str(error) if isinstance(error, CheckpointError | InvalidModel) else (
                f"cannot rebuild the generator: {error}"
            )
            self.invalid[(manifest.path, manifest.sha256)] = reason
            raise InvalidModel(reason) from error
        return LoadedModel(model_id(verified), verified, generator)

    @staticmethod
    def _same(a: Manifest, b: Manifest) -> bool:
        return a.path == b.path and a.sha256 == b.sha256
