"""One way to reach the jobs database, SQLite or PostgreSQL, and the database's own clock.

SQLite (one machine) is opened in WAL mode with a 30 s busy timeout, and SQLAlchemy emits the
BEGIN itself (the pysqlite recipe from SQLAlchemy's SQLite dialect documentation): a write
transaction starts with ``BEGIN IMMEDIATE``, so it takes the write lock up front and waits for
it, instead of starting as a reader and failing with "database is locked" when it upgrades.
Connections from :func:`reading` begin a plain (deferred) transaction: readers never wait.

Every time the store writes comes from :func:`db_now`, evaluated by the database, so the hosts'
clocks never have to agree.
"""

from __future__ import annotations

import json
import os
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Insert, Table, bindparam, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ColumnElement, FunctionElement
from sqlalchemy.types import Double, Text, TypeDecorator

BUSY_TIMEOUT_SECONDS = 30.0
READ_ONLY = "jobs_read_only"  # execution option: this connection only reads


def make_engine(url: str) -> Engine:
    """An engine for ``url``; a plain ``postgresql://`` URL uses psycopg 3.

    A process forked after using it (a Celery prefork child) starts with an empty pool instead
    of sharing its parent's connections.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = _sqlite_engine(parsed)
    else:
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        engine = create_engine(parsed, pool_pre_ping=True)
    _forget_connections_after_fork(engine)
    return engine


def sqlite_path(url: str | URL) -> Path | None:
    """The database file of a SQLite URL; None for an in-memory database."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _sqlite_engine(url: URL) -> Engine:
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_SECONDS})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver emits no BEGIN of its own
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def _forget_connections_after_fork(engine: Engine) -> None:
    held = weakref.ref(engine)

    def forget() -> None:
        forked = held()
        if forked is not None:
            forked.dispose(close=False)  # the parent's connections stay open, for the parent

    os.register_at_fork(after_in_child=forget)


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for queries that write nothing (on SQLite: a deferred transaction)."""
    with engine.connect() as connection:
        connection.execution_options(**{READ_ONLY: True})
        yield connection


def upsert(dialect: str, table: Table, values: Mapping[str, Any]) -> Insert:
    """INSERT ``values``, or UPDATE the row with the same primary key to them."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).values(**values)
    keys = [column.name for column in table.primary_key]
    changed = {name: statement.excluded[name] for name in values if name not in keys}
    return statement.on_conflict_do_update(index_elements=keys, set_=changed)


# --- the database's clock ---------------------------------------------------------------------


class db_now(FunctionElement[float]):  # lower case: used like an SQL function
    """The database server's current time, as float seconds since the epoch.

    It is fixed for the duration of one SQL statement (on both databases), so every column one
    statement sets from it gets the same time.
    """

    type = Double()
    inherit_cache = True


@compiles(db_now, "sqlite")
def _db_now_sqlite(element: db_now, compiler: SQLCompiler, **kw: Any) -> str:
    return "((julianday('now') - 2440587.5) * 86400.0)"


@compiles(db_now, "postgresql")
def _db_now_postgresql(element: db_now, compiler: SQLCompiler, **kw: Any) -> str:
    # statement_timestamp(), not clock_timestamp(): one value for the whole statement, as
    # SQLite's 'now', so the times one UPDATE writes agree with each other.
    return "CAST(extract(epoch from statement_timestamp()) AS DOUBLE PRECISION)"


# --- JSON kept as text ----------------------------------------------------------------------


class JsonText(TypeDecorator[Any]):
    """A JSON document stored as text (the same column type on SQLite and PostgreSQL)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else json.dumps(value)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return None if value is None else json.loads(value)


class json_merge(ColumnElement[Any]):  # lower case: used like an SQL function
    """``document`` with ``patch``'s keys set to its values: a shallow merge done by the database.

    Values replace whole (a nested object is not merged into the old one) and None is stored
    as null, the same on both databases (SQLite ``json_set``, PostgreSQL ``jsonb ||``).
    """

    type = JsonText()
    inherit_cache = False

    def __init__(self, document: ColumnElement[Any], patch: Mapping[str, Any]) -> None:
        for key in patch:
            if '"' in key or "\\" in key:
                raise ValueError(f"unsupported JSON key {key!r}")
        self.document = document
        self.patch = dict(patch)


@compiles(json_merge, "sqlite")
def _json_merge_sqlite(element: json_merge, compiler: SQLCompiler, **kw: Any) -> str:
    document = compiler.process(element.document, **kw)
    if not element.patch:
        return document
    pairs = []
    for key, value in element.patch.items():
        path = _text(compiler, '$."' + key + '"', **kw)
        pairs.append(f"{path}, json({_text(compiler, json.dumps(value), **kw)})")
    return f"json_set({document}, {', '.join(pairs)})"


@compiles(json_merge, "postgresql")
def _json_merge_postgresql(element: json_merge, compiler: SQLCompiler, **kw: Any) -> str:
    document = compiler.process(element.document, **kw)
    patch = _text(compiler, json.dumps(element.patch), **kw)
    return f"CAST(CAST({document} AS JSONB) || CAST({patch} AS JSONB) AS TEXT)"


def _text(compiler: SQLCompiler, value: str, **kw: Any) -> str:
    """``value`` as a bound text parameter."""
    return compiler.process(bindparam(None, value, type_=Text()), **kw)
