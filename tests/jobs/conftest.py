"""Real databases for the jobs package: SQLite files, and a fresh PostgreSQL database per test.

PostgreSQL runs at 127.0.0.1:5432 (trust auth, user postgres) wherever these tests run; each
test creates its own database under a random name and drops it afterwards. Tests that need the
schema get a copy of one database migrated once per session (a template database, a copied
file); the migration tests start from empty databases.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from core.database import make_engine
from core.migrate import upgrade_database
from jobs.job_store import JobStore
from registry.model_records import ModelRecords
from tests.support.databases import postgres_database

ENGINES = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def migrated_postgres() -> Iterator[str]:
    """The name of a database at the newest schema, to copy."""
    with postgres_database() as url:
        upgrade_database(url)
        yield url.rsplit("/", 1)[1]


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the newest schema, to copy."""
    path = tmp_path_factory.mktemp("migrated") / "jobs.sqlite3"
    upgrade_database(f"sqlite:///{path}")  # disposed: the WAL is folded into the file
    return path


@pytest.fixture
def postgresql_url() -> Iterator[str]:
    """A new, empty PostgreSQL database."""
    with postgres_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file that does not exist yet, in a folder that does not exist yet."""
    return f"sqlite:///{tmp_path / 'state' / 'jobs.sqlite3'}"


@pytest.fixture(params=ENGINES)
def empty_url(request: pytest.FixtureRequest) -> str:
    """An empty database on each engine."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture(params=ENGINES)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database on each engine at the newest schema."""
    if request.param == "sqlite":
        path = tmp_path / "jobs.sqlite3"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
        yield f"sqlite:///{path}"
        return
    with postgres_database(template=request.getfixturevalue("migrated_postgres")) as url:
        yield url


@pytest.fixture
def engine_for() -> Iterator[Callable[[str], Engine]]:
    """Engines made during the test, disposed at its end."""
    made: list[Engine] = []

    def make(url: str) -> Engine:
        made.append(make_engine(url))
        return made[-1]

    yield make
    for engine in made:
        engine.dispose()


@pytest.fixture
def engine(url: str, engine_for: Callable[[str], Engine]) -> Engine:
    return engine_for(url)


@pytest.fixture
def store(engine: Engine) -> JobStore:
    return JobStore(engine)


@pytest.fixture
def records(engine: Engine) -> ModelRecords:
    return ModelRecords(engine)
