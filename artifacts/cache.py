"""A stored model's serving artifact on this machine, downloaded at most once.

A local store is read in place. From a remote one the artifact is downloaded into
``<cache>/<sha256>/`` (a temporary folder renamed into place, so a reader never sees half of
it) and verified against the SHA-256 of its models row when it is loaded; a damaged cached
copy is fetched again once.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Protocol

import torch

from artifacts.publishing import artifact_keys
from artifacts.store import ArtifactStore
from shared_models.networks import Generator
from shared_models.serving_artifact import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    ArtifactError,
    ArtifactInfo,
    load_serving_generator,
)

log = logging.getLogger(__name__)


class StoredArtifact(Protocol):
    """What the cache needs of a stored model (a models row has it)."""

    @property
    def id(self) -> str: ...

    @property
    def sha256(self) -> str: ...

    @property
    def artifact_key(self) -> str: ...


class ArtifactCache:
    def __init__(self, store: ArtifactStore, cache_dir: Path) -> None:
        self.store = store
        self.cache_dir = cache_dir

    def load(
        self, record: StoredArtifact, device: str | torch.device = "cpu"
    ) -> tuple[Generator, ArtifactInfo]:
        """The row's generator, verified against its SHA-256, on ``device``."""
        folder = self.folder(record)
        try:
            return load_serving_generator(folder, device, expected_sha256=record.sha256)
        except ArtifactError:
            if folder != self.cache_dir / record.sha256:
                raise
            log.warning("cached copy of %s is damaged: downloading it again", record.id)
            shutil.rmtree(folder, ignore_errors=True)
            return load_serving_generator(
                self.folder(record), device, expected_sha256=record.sha256
            )

    def folder(self, record: StoredArtifact) -> Path:
        """The artifact's folder on this machine: in place for a local store, else cached."""
        in_place = self.store.local_path(record.artifact_key)
        if in_place is not None:
            return in_place
        cached = self.cache_dir / record.sha256
        if (cached / WEIGHTS_FILE).is_file():
            return cached
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        download = Path(tempfile.mkdtemp(prefix=f".{record.sha256[:12]}-", dir=self.cache_dir))
        weights_key, config_key = artifact_keys(record.artifact_key)
        try:
            self.store.get_file(config_key, download / CONFIG_FILE)
            self.store.get_file(weights_key, download / WEIGHTS_FILE)
            download.rename(cached)
        except BaseException:
            shutil.rmtree(download, ignore_errors=True)
            if (cached / WEIGHTS_FILE).is_file():  # another process cached it meanwhile
                return cached
            raise
        return cached
