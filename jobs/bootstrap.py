"""Making the shared state ready before a process uses it: the database schema at the newest
migration (once, under a lock, however many processes start together) and the artifact
store's root or bucket in place."""

from __future__ import annotations

from artifacts.store import ArtifactStore
from core.migrate import upgrade_database
from core.settings import Settings
from registry.legacy_models import LegacyModelImport


def prepare_shared_state(settings: Settings) -> None:
    store = ArtifactStore.from_url(settings.store_url)
    store.ensure_ready()
    upgrade_database(settings.database_url, LegacyModelImport(settings.runs_dir, store))
