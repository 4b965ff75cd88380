"""Engines, the database clock and the JSON merge, on real SQLite and PostgreSQL databases."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time

import pytest
from sqlalchemy import select, text

from core.database import db_now, json_merge, make_engine, reading, sqlite_path
from core.migrate import upgrade_database
from core.tables import admission, jobs
from jobs.job_store import CapReached, JobStore


def test_sqlite_engine_makes_its_folder_and_sets_wal_busy_timeout_and_sync(sqlite_url, engine_for):
    engine = engine_for(sqlite_url)
    with reading(engine) as db:
        assert db.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert db.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert db.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    assert sqlite_path(sqlite_url).is_file()


def test_sqlite_write_transactions_take_the_write_lock_at_begin(sqlite_url, engine_for):
    upgrade_database(sqlite_url)
    engine = engine_for(sqlite_url)
    other = sqlite3.connect(sqlite_path(sqlite_url), timeout=0, isolation_level=None)
    try:
        with engine.begin():  # nothing executed yet: BEGIN IMMEDIATE alone holds the lock
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            with reading(engine) as db:  # readers do not wait for the writer
                assert db.execute(select(jobs.c.id)).all() == []
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_a_failed_transaction_is_rolled_back(url, engine_for):
    engine = engine_for(url)
    store = JobStore(engine)
    store.submit({}, total=1, queue="dcgan", max_active=1)
    with pytest.raises(CapReached):
        store.submit({}, total=1, queue="dcgan", max_active=1)
    with reading(engine) as db:
        assert db.execute(select(admission.c.submissions)).scalar_one() == 1


def test_db_now_is_the_database_clock_in_epoch_seconds(url, engine_for):
    engine = engine_for(url)
    with reading(engine) as db:
        first = db.execute(select(db_now())).scalar_one()
        time.sleep(0.02)
        second = db.execute(select(db_now())).scalar_one()
    assert isinstance(first, float) and abs(first - time.time()) < 5
    assert 0.015 < second - first < 1


def test_json_merge_refuses_keys_it_cannot_address():
    with pytest.raises(ValueError):
        json_merge(jobs.c.progress, {'say "hi"': 1})


def test_a_plain_postgresql_url_uses_psycopg(postgresql_url, engine_for):
    engine = engine_for(postgresql_url.replace("+psycopg", ""))
    assert engine.dialect.driver == "psycopg" and engine.pool._pre_ping
    with reading(engine) as db:
        assert db.execute(text("SELECT 1")).scalar() == 1


def test_sqlite_path_of_memory_and_file_urls(tmp_path):
    assert sqlite_path("sqlite://") is None and sqlite_path("sqlite:///:memory:") is None
    assert sqlite_path(f"sqlite:///{tmp_path}/a.db") == tmp_path / "a.db"
    make_engine(f"sqlite:///{tmp_path}/deep/er/a.db").dispose()
    assert (tmp_path / "deep" / "er").is_dir()


def test_a_forked_process_starts_with_an_empty_pool(url, engine_for):
    engine = engine_for(url)
    JobStore(engine).ping()
    assert engine.pool.checkedin() == 1
    fork = multiprocessing.get_context("fork")  # as Celery's prefork pool does
    results = fork.Queue()
    child = fork.Process(target=_pool_after_fork, args=(engine, results))
    child.start()
    in_child = results.get(timeout=30)
    child.join(timeout=30)
    assert in_child == (0, 1)  # nothing inherited; a connection of its own once used
    JobStore(engine).ping()  # the parent's connection still works
    assert engine.pool.checkedin() == 1


def _pool_after_fork(engine, results) -> None:
    before = engine.pool.checkedin()
    JobStore(engine).ping()
    results.put((before, engine.pool.checkedin()))
