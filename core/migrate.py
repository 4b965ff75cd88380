"""Create or upgrade the jobs database's schema with Alembic, once, however many start at once.

Every API replica and worker may call :func:`upgrade_database` at start-up: the first takes a
lock (PostgreSQL: an advisory lock held by a connection of its own; SQLite: an flock on a file
beside the database), upgrades, and the others then find the schema at head and do nothing.

A database made by the single-machine store (its tables, no ``alembic_version``) is stamped at
revision 0001 and upgraded from there, keeping its jobs. Stamp and upgrade run in ONE
transaction, so a failed upgrade leaves the database as it was and the next start retries it.
"""

from __future__ import annotations

import fcntl
import logging
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

from core.database import make_engine, reading, sqlite_path

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
LEGACY_REVISION = "0001"  # the schema the single-machine store created
# pg_advisory_lock key: any 64-bit number no other code uses on the same database.
ADVISORY_LOCK_KEY = zlib.crc32(b"dcgan jobs schema migrations")

LegacyModelsCallback = Callable[[Connection], None]


def upgrade_database(url: str, on_legacy_models: LegacyModelsCallback | None = None) -> None:
    """Bring the database at ``url`` to the newest schema.

    ``on_legacy_models(connection)`` is called once, inside the migration that creates the
    models table, when the database was made by the single-machine store: it enters the
    checkpoints that store left on disk into ``models``, in the migration's transaction.
    """
    engine = make_engine(url)
    try:
        with _migration_lock(engine), engine.begin() as connection:
            _upgrade(connection, on_legacy_models)
    finally:
        engine.dispose()


def head_revision() -> str:
    """The newest revision the migrations know."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def database_revision(engine: Engine) -> str | None:
    """The revision the database is at; None when Alembic never ran on it."""
    with reading(engine) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _upgrade(connection: Connection, on_legacy_models: LegacyModelsCallback | None) -> None:
    tables = set(inspect(connection).get_table_names())
    legacy = "jobs" in tables and "alembic_version" not in tables
    config = alembic_config(connection)
    config.attributes["legacy"] = legacy
    config.attributes["on_legacy_models"] = on_legacy_models
    if legacy:
        log.info("jobs database made by the single-machine store: stamped %s", LEGACY_REVISION)
        command.stamp(config, LEGACY_REVISION)
    before = MigrationContext.configure(connection).get_current_revision()
    command.upgrade(config, "head")
    after = MigrationContext.configure(connection).get_current_revision()
    if before != after:
        log.info("jobs database schema upgraded from %s to %s", before, after)


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for these migrations, run on ``connection`` when given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine):
            yield
        return
    path = sqlite_path(engine.url) if engine.dialect.name == "sqlite" else None
    if path is None:  # an in-memory database: nobody else can see it
        yield
        return
    with _file_lock(path.with_name(path.name + ".migrate-lock")):
        yield


@contextmanager
def _advisory_lock(engine: Engine) -> Iterator[None]:
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        try:
            yield
        finally:
            connection.execute(
                text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY}
            )


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
