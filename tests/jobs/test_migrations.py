"""Alembic migrations on real databases: new ones, a single-machine SQLite file with its jobs,
repeated and concurrent upgrades."""

from __future__ import annotations

import sqlite3

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, func, insert, inspect, select, text

from core.database import make_engine, reading, sqlite_path
from core.migrate import alembic_config, database_revision, head_revision, upgrade_database
from core.settings import Settings
from core.tables import DEFAULT_QUEUE, admission, metadata, models, stopping_workers
from jobs.job_store import JobStore
from jobs.states import JobState
from registry.model_records import ModelRecords
from shared_models.weight_average import describe_average, describe_constant_average
from tests.jobs.legacy import LEGACY_JOBS, make_legacy_database
from tests.jobs.processes import run_together, upgrade

TABLES = {"alembic_version", "jobs", "models", "job_losses", "stopping_workers", "admission",
          "serving_pins", "job_events", "sweeps"}


class LegacyCallback:
    """Records its calls and what the database looked like from inside the migration."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[dict] = []
        self.fail = fail

    def __call__(self, connection: Connection) -> None:
        self.calls.append({
            "revision": MigrationContext.configure(connection).get_current_revision(),
            "tables": set(inspect(connection).get_table_names()),
            "jobs": connection.execute(text("SELECT id, queue FROM jobs ORDER BY id")).all(),
        })
        connection.execute(insert(models).values(
            id="done1:10", job_id="done1", step=10, iterations=10, final=True, dataset="mnist",
            conditional=False, ema_decay=0.0, checkpoint_key="done1/checkpoints/step_10.pt",
            checkpoint_sha256="c" * 64, checkpoint_size=10, artifact_key="done1/models/step_10",
            sha256="a" * 64, size=5, created_at=390.0,
        ))
        if self.fail:
            raise RuntimeError("could not read the old checkpoints")


def table_count(url: str, table) -> int:
    engine = make_engine(url)
    try:
        with reading(engine) as db:
            return db.execute(select(func.count()).select_from(table)).scalar_one()
    finally:
        engine.dispose()


def test_an_empty_database_upgrades_to_the_schema_the_queries_use(empty_url, engine_for):
    callback = LegacyCallback()
    upgrade_database(empty_url, callback)
    engine = engine_for(empty_url)
    assert database_revision(engine) == head_revision() == "0007"
    with engine.connect() as db:
        assert set(inspect(db).get_table_names()) == TABLES
        context = MigrationContext.configure(db, opts={"compare_server_default": True})
        differences = compare_metadata(context, metadata)
    if engine.dialect.name == "sqlite":  # the first schema's "id TEXT PRIMARY KEY" allows NULL
        assert [(d[0][0], d[0][2], d[0][3]) for d in differences] == [
            ("modify_nullable", "jobs", "id")
        ]
    else:
        assert differences == []
    assert callback.calls == []  # a new database has no old checkpoints
    assert table_count(empty_url, admission) == 1


def test_a_second_upgrade_changes_nothing(url, engine_for):
    store = JobStore(engine_for(url))
    job = store.submit({"a": 1}, total=3, queue="q", max_active=5)
    callback = LegacyCallback()
    upgrade_database(url, callback)
    assert callback.calls == [] and store.get(job.id) == job
    assert table_count(url, admission) == 1 and ModelRecords(store.engine).count() == 0


def test_a_single_machine_database_is_upgraded_in_place_with_its_jobs(sqlite_url, engine_for):
    make_legacy_database(sqlite_path(sqlite_url))
    callback = LegacyCallback()
    upgrade_database(sqlite_url, callback)

    assert len(callback.calls) == 1
    inside = callback.calls[0]
    assert inside["revision"] == "0001"  # inside the migration, before it is recorded
    assert {"models", "jobs"} <= inside["tables"]
    assert inside["jobs"] == [("done1", "dcgan"), ("queued1", "dcgan"), ("running1", "dcgan")]

    engine = engine_for(sqlite_url)
    assert database_revision(engine) == head_revision()
    store = JobStore(engine)
    for row in LEGACY_JOBS:
        record = store.get(row[0])
        assert (
            record.id, record.created_at, record.updated_at, record.state, record.params,
            record.progress, record.error, int(record.cancel_requested), record.attempts,
            record.lease_owner, record.lease_until, record.enqueued_at, record.started_at,
            record.finished_at,
        ) == row
        assert record.queue == DEFAULT_QUEUE
    assert ModelRecords(engine).get("done1:10").final  # what the callback entered stays
    with reading(engine) as db:
        assert db.execute(select(stopping_workers)).all() == []  # re-keyed by worker name

    # the upgraded jobs carry on: the running one can be taken over once its lease is over
    assert store.claim("running1", "dcgan-1@host", 30, 3).run
    assert store.get("running1").attempts == 3

    upgrade_database(sqlite_url, callback)  # nothing left to do
    assert len(callback.calls) == 1 and database_revision(engine) == head_revision()


def test_a_failed_legacy_upgrade_leaves_the_database_as_it_was(sqlite_url):
    path = sqlite_path(sqlite_url)
    make_legacy_database(path)
    with pytest.raises(RuntimeError, match="old checkpoints"):
        upgrade_database(sqlite_url, LegacyCallback(fail=True))
    db = sqlite3.connect(path)
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        columns = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
    finally:
        db.close()
    assert "alembic_version" not in tables and "models" not in tables
    assert "queue" not in columns

    retry = LegacyCallback()
    upgrade_database(sqlite_url, retry)
    assert len(retry.calls) == 1
    assert JobStore(make_engine(sqlite_url)).get("running1").state is JobState.RUNNING


def test_revision_0001_is_the_single_machine_schema(sqlite_url, tmp_path):
    engine = make_engine(sqlite_url)
    with engine.begin() as db:
        command.upgrade(alembic_config(db), "0001")
    legacy = tmp_path / "legacy.sqlite3"
    make_legacy_database(legacy)

    def describe(path) -> dict:
        db = sqlite3.connect(path)
        try:
            return {
                table: (
                    db.execute(f"PRAGMA table_info({table})").fetchall(),
                    sorted(db.execute(f"PRAGMA index_list({table})").fetchall()),
                )
                for table in ("jobs", "stopping_workers")
            }
        finally:
            db.close()

    assert describe(sqlite_path(sqlite_url)) == describe(legacy)
    engine.dispose()


def test_downgrades_undo_the_upgrades(url, engine_for):
    engine = engine_for(url)
    with engine.begin() as db:
        command.downgrade(alembic_config(db), "0001")
    with engine.connect() as db:
        assert set(inspect(db).get_table_names()) == {"alembic_version", "jobs", "stopping_workers"}
        assert "queue" not in {column["name"] for column in inspect(db).get_columns("jobs")}
    with engine.begin() as db:
        command.downgrade(alembic_config(db), "base")
    with engine.connect() as db:
        assert set(inspect(db).get_table_names()) == {"alembic_version"}
    upgrade_database(url)
    assert database_revision(engine) == head_revision()


def test_several_processes_upgrading_at_once_all_succeed_and_migrate_once(empty_url):
    assert run_together(upgrade, [(empty_url,)] * 4) == [True] * 4
    engine = make_engine(empty_url)
    try:
        assert database_revision(engine) == head_revision()
        with reading(engine) as db:
            assert db.execute(text("SELECT version_num FROM alembic_version")).all() == [
                (head_revision(),)
            ]
    finally:
        engine.dispose()
    assert table_count(empty_url, admission) == 1


def test_old_jobs_go_to_the_default_queue():
    revision = ScriptDirectory.from_config(alembic_config()).get_revision("0002")
    assert revision.module.LEGACY_QUEUE == DEFAULT_QUEUE == Settings.model_fields["queue"].default


def test_the_serving_policy_migration_copies_the_scores_out_of_the_metrics(url, engine_for):
    engine = engine_for(url)
    with engine.begin() as db:
        command.downgrade(alembic_config(db), "0002")
    row = {
        "job_id": "j", "iterations": 10, "final": True, "dataset": "mnist",
        "conditional": False, "ema_decay": 0.0, "checkpoint_key": "j/c.pt",
        "checkpoint_sha256": "c" * 64, "checkpoint_size": 1, "artifact_key": "j/m",
        "sha256": "a" * 64, "size": 1, "created_at": 1.0,
    }
    with engine.begin() as db:
        db.execute(text(
            "INSERT INTO models (id, step, metrics, job_id, iterations, final, dataset, "
            "conditional, ema_decay, checkpoint_key, checkpoint_sha256, checkpoint_size, "
            "artifact_key, sha256, size, created_at) VALUES (:id, :step, :metrics, :job_id, "
            ":iterations, :final, :dataset, :conditional, :ema_decay, :checkpoint_key, "
            ":checkpoint_sha256, :checkpoint_size, :artifact_key, :sha256, :size, :created_at)"
        ), [
            {**row, "id": "j:1", "step": 1,
             "metrics": '{"inception_score": 6.5, "frechet_distance": 20.25}'},
            {**row, "id": "j:2", "step": 2, "metrics": '{"step": 2, "error": "no classifier"}'},
            {**row, "id": "j:3", "step": 3, "metrics": None},
        ])
    upgrade_database(url)
    with reading(engine) as db:
        scores = db.execute(text(
            "SELECT id, inception_score, frechet_distance FROM models ORDER BY id"
        )).all()
    assert [tuple(score) for score in scores] == [
        ("j:1", 6.5, 20.25), ("j:2", None, None), ("j:3", None, None)
    ]


def test_models_stored_before_the_warm_up_say_which_weights_they_serve(url, engine_for):
    engine = engine_for(url)
    with engine.begin() as db:
        command.downgrade(alembic_config(db), "0003")
    row = {
        "job_id": "j", "iterations": 10, "final": True, "dataset": "mnist",
        "conditional": False, "checkpoint_key": "j/c.pt", "checkpoint_sha256": "c" * 64,
        "checkpoint_size": 1, "artifact_key": "j/m", "sha256": "a" * 64, "size": 1,
        "created_at": 1.0,
    }
    with engine.begin() as db:
        db.execute(text(
            "INSERT INTO models (id, step, ema_decay, job_id, iterations, final, dataset, "
            "conditional, checkpoint_key, checkpoint_sha256, checkpoint_size, artifact_key, "
            "sha256, size, created_at) VALUES (:id, :step, :ema_decay, :job_id, :iterations, "
            ":final, :dataset, :conditional, :checkpoint_key, :checkpoint_sha256, "
            ":checkpoint_size, :artifact_key, :sha256, :size, :created_at)"
        ), [{**row, "id": "j:1", "step": 1, "ema_decay": 0.999},
            {**row, "id": "j:2", "step": 2, "ema_decay": 0.0}])
    upgrade_database(url)
    records = ModelRecords(engine)
    assert records.get("j:1").served_weights == describe_constant_average(0.999)
    assert records.get("j:2").served_weights == describe_average(None)
