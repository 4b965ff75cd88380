"""Job records: state transitions, leases and recovery, on a real SQLite file."""

import threading
import time

import pytest

from worker.job_store import JobState, JobStore


@pytest.fixture
def store(tmp_path) -> JobStore:
    return JobStore(tmp_path / "jobs.sqlite3")


def test_create_get_and_page_newest_first(store):
    ids = [store.create({"iterations": i}, total=i).id for i in range(1, 6)]
    first, total = store.page(0, 2)
    rest, _ = store.page(2, 10)
    assert total == 5
    assert [r.id for r in first + rest] == list(reversed(ids))
    record = store.get(ids[0])
    assert record.state is JobState.QUEUED and record.progress == {"step": 0, "total": 1}
    assert store.get("nope") is None


def test_claim_runs_once_and_refuses_finished_or_held_jobs(store):
    job = store.create({}, total=10).id
    claim = store.claim(job, "w1", lease_seconds=30, max_deliveries=3)
    assert claim.run and claim.record.state is JobState.RUNNING and claim.record.attempts == 1
    held = store.claim(job, "w2", lease_seconds=30, max_deliveries=3)
    assert not held.run and held.reason == "running on w1"
    store.finish(job, "w1", JobState.SUCCEEDED, progress={"step": 10})
    again = store.claim(job, "w2", lease_seconds=30, max_deliveries=3)
    assert not again.run and again.reason == "already succeeded"
    assert store.get(job).progress["step"] == 10


def test_only_one_of_many_concurrent_claims_wins(store):
    job = store.create({}, total=1).id
    results = []
    threads = [
        threading.Thread(target=lambda i=i: results.append(store.claim(job, f"w{i}", 30, 3).run))
        for i in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 1


def test_cancel_is_immediate_when_queued_and_a_flag_when_running(store):
    queued = store.create({}, total=1).id
    assert store.request_cancel(queued).state is JobState.CANCELLED
    assert not store.claim(queued, "w1", 30, 3).run

    running = store.create({}, total=1).id
    store.claim(running, "w1", 30, 3)
    record = store.request_cancel(running)
    assert record.state is JobState.RUNNING and record.cancel_requested
    assert store.heartbeat(running, "w1", 30).cancel_requested


def test_an_expired_lease_puts_the_job_back_and_deliveries_are_capped(store):
    job = store.create({}, total=1).id
    store.claim(job, "w1", lease_seconds=0.05, max_deliveries=2)
    time.sleep(0.1)
    assert [r.id for r in store.requeue_orphans()] == [job]
    assert store.get(job).state is JobState.QUEUED
    assert store.heartbeat(job, "w1", 30) is None  # the dead worker's lease is gone
    assert store.claim(job, "w2", lease_seconds=0.05, max_deliveries=2).run  # second one
    time.sleep(0.1)
    store.requeue_orphans()  # w2 died as well
    third = store.claim(job, "w3", 30, max_deliveries=2)
    assert not third.run and "gave up after 2 deliveries" in third.reason
    assert store.get(job).state is JobState.FAILED


def test_a_handed_back_job_is_due_for_a_new_message_and_keeps_its_delivery(store):
    job = store.create({}, total=1).id
    store.claim(job, "w1", lease_seconds=30, max_deliveries=1)
    store.hand_back(job, "w1")
    record = store.get(job)
    assert record.state is JobState.QUEUED and record.attempts == 0
    assert [r.id for r in store.stale_queued(older_than=time.time() - 60)] == [job]
    assert store.claim(job, "w2", 30, max_deliveries=1).run


def test_a_live_lease_is_not_reclaimed(store):
    job = store.create({}, total=1).id
    store.claim(job, "w1", lease_seconds=30, max_deliveries=3)
    assert store.requeue_orphans() == []


def test_stale_queued_jobs_are_handed_out_once_per_period(store):
    job = store.create({}, total=1).id
    assert store.stale_queued(older_than=time.time() - 60) == []
    assert [r.id for r in store.stale_queued(older_than=time.time() + 1)] == [job]
    assert store.stale_queued(older_than=time.time() - 1) == []  # just republished


def test_progress_updates_merge(store):
    job = store.create({}, total=5).id
    store.update_progress(job, step=2, d_loss=1.0)
    store.update_progress(job, step=3, g_loss=2.0)
    assert store.get(job).progress == {"step": 3, "total": 5, "d_loss": 1.0, "g_loss": 2.0}


def test_worker_stopping_flag(store):
    assert not store.worker_stopping("w1")
    store.set_worker_stopping("w1")
    assert store.worker_stopping("w1") and not store.worker_stopping("w2")
    store.set_worker_stopping("w1", False)
    assert not store.worker_stopping("w1")


def test_counts_by_state(store):
    a, b = store.create({}, total=1).id, store.create({}, total=1).id
    store.claim(a, "w1", 30, 3)
    store.request_cancel(b)
    counts = store.count_by_state()
    assert counts["running"] == 1 and counts["cancelled"] == 1 and counts["queued"] == 0
    assert store.count_active() == 1
