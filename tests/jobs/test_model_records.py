"""The models table on SQLite and PostgreSQL: rows, serving order, and its index."""

from __future__ import annotations

import time

from sqlalchemy import inspect, text

from artifacts.publishing import StoredModel
from registry.model_records import ModelRecords, preferred_query


def add(records: ModelRecords, job_id: str, step: int, final: bool = False,
        metrics: dict | None = None, **changes):
    fields = {
        "job_id": job_id,
        "step": step,
        "iterations": 1000,
        "final": final,
        "dataset": "mnist",
        "conditional": False,
        "ema_decay": 0.999,
        "served_weights": "the weight average",
        "checkpoint_key": f"{job_id}/checkpoints/step_{step:07d}.pt",
        "checkpoint_sha256": "c" * 64,
        "checkpoint_size": 5_000_000_000,  # over 32 bits
        "artifact_key": f"{job_id}/models/step_{step:07d}",
        "sha256": "a" * 64,
        "size": 1234,
    } | changes
    record = records.add(StoredModel(**fields), metrics)
    time.sleep(0.003)  # SQLite's clock counts milliseconds
    return record


def test_add_get_and_replace(records):
    record = add(records, "job1", 500, metrics={"fid": 12.5, "per_digit": [0.9, 0.8]})
    assert record.id == "job1:500" and record.final is False and record.conditional is False
    assert record.checkpoint_size == 5_000_000_000 and record.ema_decay == 0.999
    assert record.metrics == {"fid": 12.5, "per_digit": [0.9, 0.8]}
    assert records.get("job1:500") == record and records.get("job1:600") is None
    assert abs(record.created_at - time.time()) < 5

    replaced = add(records, "job1", 500, final=True, conditional=True, sha256="b" * 64)
    assert replaced.final and replaced.conditional and replaced.sha256 == "b" * 64
    assert replaced.metrics is None and replaced.created_at > record.created_at
    assert records.get("job1:500") == replaced and records.count() == 1


def test_the_id_is_job_and_step(records):
    ids = {add(records, job, step).id for job in ("job1", "job2") for step in (7, 8)}
    assert ids == {"job1:7", "job1:8", "job2:7", "job2:8"} and records.count() == 4


def test_preferred_lists_finals_newest_first_then_the_others(records):
    old_final = add(records, "a", 1000, final=True)
    rolling_a = add(records, "a", 500)
    new_final = add(records, "b", 2000, final=True)
    rolling_c = add(records, "c", 100)
    newest = add(records, "c", 200)
    assert [r.id for r in records.preferred()] == [
        new_final.id, old_final.id, newest.id, rolling_c.id, rolling_a.id
    ]
    assert [r.id for r in records.preferred(limit=3)] == [new_final.id, old_final.id, newest.id]


def test_preferred_breaks_equal_times_by_step(records, engine):
    for step in (1, 3, 2):
        add(records, "j", step)
    with engine.begin() as db:
        db.execute(text("UPDATE models SET created_at = 1000.0"))
    assert [r.step for r in records.preferred()] == [3, 2, 1]


def test_newest_of_job_and_of_job(records):
    for step in (300, 100, 200):
        add(records, "j1", step)
    add(records, "j2", 900)
    assert records.newest_of_job("j1").step == 300
    assert [r.step for r in records.of_job("j1")] == [100, 200, 300]
    assert records.newest_of_job("none") is None and records.of_job("none") == []


def test_page_newest_first_set_metrics_delete_and_count(records):
    ids = [add(records, "j", step).id for step in range(1, 6)]
    first, total = records.page(0, 2)
    rest, _ = records.page(2, 10)
    assert total == 5 and [r.id for r in first + rest] == list(reversed(ids))

    records.set_metrics(ids[0], {"accuracy": 0.97})
    assert records.get(ids[0]).metrics == {"accuracy": 0.97}
    records.set_metrics(ids[0], {"fid": 3.0})  # replaces the old scores
    assert records.get(ids[0]).metrics == {"fid": 3.0}

    records.delete(ids[1])
    records.delete("no such model")
    assert records.get(ids[1]) is None and records.count() == 4


def test_preferred_reads_one_index_without_sorting(engine):
    with engine.connect() as db:
        found = inspect(db).get_indexes("models")
    indexes = {index["name"]: index["column_names"] for index in found}
    assert indexes["models_preferred"] == ["final", "created_at", "step", "id"]
    assert indexes["models_by_job"] == ["job_id", "step"]

    query = preferred_query(8).compile(engine, compile_kwargs={"literal_binds": True})
    with engine.begin() as db:
        if engine.dialect.name == "sqlite":
            plan = " ".join(row[-1] for row in db.execute(text(f"EXPLAIN QUERY PLAN {query}")))
            assert "USING INDEX models_preferred" in plan and "TEMP B-TREE" not in plan
        else:
            db.execute(text("SET LOCAL enable_seqscan = off"))  # an empty table would not use it
            plan = " ".join(row[0] for row in db.execute(text(f"EXPLAIN {query}")))
            assert "models_preferred" in plan and "Sort" not in plan
            assert plan.startswith("Limit")


def test_promotable_finals_of_one_data_set_pass_the_gate_newest_first(records):
    good_old = add(records, "a", 10, final=True, metrics={"inception_score": 7.0,
                                                          "frechet_distance": 20.0})
    add(records, "b", 10, final=True, metrics={"inception_score": 2.0, "frechet_distance": 90.0})
    add(records, "c", 10, final=True)  # not scored
    add(records, "d", 10, metrics={"inception_score": 9.0, "frechet_distance": 5.0})  # rolling
    add(records, "e", 10, final=True, dataset="fashion-mnist",
        metrics={"inception_score": 8.0, "frechet_distance": 5.0})
    scored_later = add(records, "f", 10, final=True)
    records.set_metrics(scored_later.id, {"inception_score": 6.0, "frechet_distance": 30.0,
                                          "per_class_accuracy": [0.9]})
    assert [r.id for r in records.promotable("mnist", 5.0, 40.0)] == ["f:10", "a:10"]
    assert [r.id for r in records.promotable("mnist", 6.5, None)] == [good_old.id]
    assert [r.id for r in records.promotable("mnist", None, 25.0)] == [good_old.id]
    assert [r.id for r in records.promotable("mnist", None, None)] == ["f:10", "c:10", "b:10",
                                                                        "a:10"]
    assert [r.id for r in records.promotable("fashion-mnist", 5.0, 40.0)] == ["e:10"]
    assert records.get(scored_later.id).metrics["per_class_accuracy"] == [0.9]
    # a score that is not a finite number is no score
    records.set_metrics(good_old.id, {"inception_score": float("nan"), "frechet_distance": 1.0})
    assert [r.id for r in records.promotable("mnist", 5.0, 40.0)] == ["f:10"]


def test_preferred_of_one_data_set(records):
    add(records, "a", 1, final=True)
    add(records, "b", 1, dataset="fashion-mnist")
    add(records, "c", 1)
    assert [r.id for r in records.preferred(dataset="mnist")] == ["a:1", "c:1"]
    assert [r.id for r in records.preferred(dataset="fashion-mnist")] == ["b:1"]
