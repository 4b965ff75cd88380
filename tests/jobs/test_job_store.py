"""Job records on SQLite and PostgreSQL: state transitions, leases, recovery and the job cap."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from core.database import make_engine
from jobs.job_store import CapReached, JobStore
from jobs.progress import JobProgress
from jobs.states import JobState
from tests.support.jobs import submit_record

QUEUE = "dcgan"  # the default queue, as submit_record uses


def submit(store: JobStore, total: int = 1, params: dict | None = None, cap: int = 100) -> str:
    return submit_record(store, params, total=total, queue=QUEUE, cap=cap).id


def test_submit_get_and_page_newest_first(store):
    ids = []
    for i in range(1, 6):
        ids.append(submit(store, total=i, params={"iterations": i}))
        time.sleep(0.003)  # SQLite's clock counts milliseconds
    first, total = store.page(0, 2)
    rest, _ = store.page(2, 10)
    assert total == 5
    assert [r.id for r in first + rest] == list(reversed(ids))
    record = store.get(ids[0])
    assert record.state is JobState.QUEUED and record.progress == {"step": 0, "total": 1}
    assert record.params == {"iterations": 1} and record.queue == QUEUE
    assert record.created_at == record.updated_at and record.attempts == 0
    assert store.get("nope") is None


def test_each_job_records_its_queue(store):
    job = store.submit({"a": [1, 2]}, total=3, queue="dcgan-gpu", max_active=10)
    assert job.queue == "dcgan-gpu" and store.get(job.id).queue == "dcgan-gpu"
    assert store.get(job.id).params == {"a": [1, 2]}


def test_the_cap_refuses_submissions_until_a_job_finishes(store):
    first, second = submit(store, cap=2), submit(store, cap=2)
    with pytest.raises(CapReached) as refused:
        submit(store, cap=2)
    assert (refused.value.active, refused.value.limit) == (2, 2)
    store.claim(first, "w1", 30, 3)
    with pytest.raises(CapReached):  # running jobs count too
        submit(store, cap=2)
    store.request_cancel(second)
    submit(store, cap=2)
    assert store.count_active() == 2


def test_claim_runs_once_and_refuses_finished_or_held_jobs(store):
    job = submit(store, total=10)
    claim = store.claim(job, "w1", lease_seconds=30, max_deliveries=3)
    assert claim.run and claim.reason == "claimed"
    assert claim.record.state is JobState.RUNNING and claim.record.attempts == 1
    assert claim.record.lease_owner == "w1" and claim.record.started_at is not None
    held = store.claim(job, "w2", lease_seconds=30, max_deliveries=3)
    assert not held.run and held.reason == "running on w1"
    store.finish(job, "w1", JobState.SUCCEEDED, progress=JobProgress(step=10))
    again = store.claim(job, "w2", lease_seconds=30, max_deliveries=3)
    assert not again.run and again.reason == "already succeeded"
    record = store.get(job)
    assert record.progress == {"step": 10, "total": 10} and record.finished
    assert record.lease_owner is None and record.finished_at >= record.started_at
    assert store.claim("nope", "w1", 30, 3) == type(claim)(None, False, "unknown job")


def test_the_owner_may_claim_its_job_again(store):
    job = submit(store)
    store.claim(job, "w1", 30, 3)
    again = store.claim(job, "w1", 30, 3)
    assert again.run and again.record.attempts == 2


def test_only_one_of_many_concurrent_claims_wins(store):
    job = submit(store)
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
    queued = submit(store)
    cancelled = store.request_cancel(queued)
    assert cancelled.state is JobState.CANCELLED and cancelled.finished_at is not None
    assert not store.claim(queued, "w1", 30, 3).run

    running = submit(store)
    store.claim(running, "w1", 30, 3)
    record = store.request_cancel(running)
    assert record.state is JobState.RUNNING and record.cancel_requested
    assert record.finished_at is None
    assert store.heartbeat(running, "w1", 30).cancel_requested
    store.finish(running, "w1", JobState.CANCELLED)
    assert store.request_cancel(running).state is JobState.CANCELLED
    assert store.request_cancel("nope") is None


def test_fail_leaves_finished_jobs_alone(store):
    job, done = submit(store), submit(store)
    store.fail(job, "could not publish")
    record = store.get(job)
    assert record.state is JobState.FAILED and record.error == "could not publish"
    store.claim(done, "w1", 30, 3)
    store.finish(done, "w1", JobState.SUCCEEDED)
    store.fail(done, "late")
    assert store.get(done).state is JobState.SUCCEEDED and store.get(done).error is None


def test_only_the_lease_owner_finishes_or_hands_back(store):
    job = submit(store)
    store.claim(job, "w1", 30, 3)
    store.finish(job, "w2", JobState.FAILED, error="not mine")
    store.hand_back(job, "w2")
    record = store.get(job)
    assert record.state is JobState.RUNNING and record.lease_owner == "w1"


def test_heartbeat_renews_the_lease_on_the_database_clock(store):
    job = submit(store)
    first = store.claim(job, "w1", lease_seconds=5, max_deliveries=3).record
    time.sleep(0.01)
    renewed = store.heartbeat(job, "w1", lease_seconds=60)
    assert renewed.lease_until - first.lease_until > 50
    assert abs((first.lease_until - first.started_at) - 5) < 0.01
    assert store.heartbeat(job, "w2", 60) is None


def test_an_expired_lease_puts_the_job_back_and_deliveries_are_capped(store):
    job = submit(store)
    store.claim(job, "w1", lease_seconds=0.05, max_deliveries=2)
    time.sleep(0.1)
    orphans = store.requeue_orphans()
    assert [r.id for r in orphans] == [job] and orphans[0].state is JobState.QUEUED
    record = store.get(job)
    assert record.state is JobState.QUEUED and record.lease_owner is None
    assert record.enqueued_at is not None and record.queue == QUEUE
    assert store.heartbeat(job, "w1", 30) is None  # the dead worker's lease is gone
    assert store.claim(job, "w2", lease_seconds=0.05, max_deliveries=2).run  # second one
    time.sleep(0.1)
    store.requeue_orphans()  # w2 died as well
    third = store.claim(job, "w3", 30, max_deliveries=2)
    assert not third.run
    assert third.reason == (
        "gave up after 2 deliveries: the worker running it was lost each time"
    )
    record = store.get(job)
    assert record.state is JobState.FAILED and record.error == third.reason
    assert record.attempts == 2 and record.lease_owner is None and record.finished_at


def test_an_expired_lease_may_be_claimed_by_another_worker(store):
    job = submit(store)
    store.claim(job, "w1", lease_seconds=0.05, max_deliveries=3)
    assert not store.claim(job, "w2", 30, 3).run
    time.sleep(0.1)
    claim = store.claim(job, "w2", 30, 3)
    assert claim.run and claim.record.lease_owner == "w2" and claim.record.attempts == 2


def test_a_handed_back_job_is_due_for_a_new_message_and_keeps_its_delivery(store):
    job = submit(store)
    store.claim(job, "w1", lease_seconds=30, max_deliveries=1)
    store.hand_back(job, "w1")
    record = store.get(job)
    assert record.state is JobState.QUEUED and record.attempts == 0
    assert record.lease_owner is None and record.enqueued_at == 0
    assert [r.id for r in store.stale_queued(older_than_seconds=60)] == [job]
    assert store.claim(job, "w2", 30, max_deliveries=1).run


def test_a_live_lease_is_not_reclaimed(store):
    job = submit(store)
    store.claim(job, "w1", lease_seconds=30, max_deliveries=3)
    assert store.requeue_orphans() == []
    assert store.get(job).lease_owner == "w1"


def test_stale_queued_jobs_are_handed_out_once_per_period(store):
    job = submit(store)
    assert store.stale_queued(older_than_seconds=60) == []
    assert [r.id for r in store.stale_queued(older_than_seconds=-1)] == [job]
    assert store.stale_queued(older_than_seconds=1) == []  # just republished
    time.sleep(0.05)
    assert [r.id for r in store.stale_queued(older_than_seconds=0.01)] == [job]


def test_mark_enqueued_counts_as_a_publication(store):
    job = submit(store)
    time.sleep(0.05)
    store.mark_enqueued(job)
    assert store.stale_queued(older_than_seconds=0.04) == []
    assert store.get(job).enqueued_at > store.get(job).created_at


def test_progress_updates_merge(store):
    job = submit(store, total=5)
    store.update_progress(job, JobProgress(step=2, d_loss=1.0))
    store.update_progress(job, JobProgress(step=3, g_loss=2.0))
    assert store.get(job).progress == {"step": 3, "total": 5, "d_loss": 1.0, "g_loss": 2.0}


def test_progress_merge_is_shallow_and_keeps_nulls_on_both_databases(store):
    job = submit(store, total=5)
    store.merge_progress(job, {"device": {"kind": "cpu", "threads": 4}, "note": "it's \"quoted\""})
    store.merge_progress(job, {"device": {"kind": "cuda"}, "resumed_from": None, "key.dot": 1})
    store.merge_progress(job, {})
    assert store.get(job).progress == {
        "step": 0,
        "total": 5,
        "device": {"kind": "cuda"},
        "note": "it's \"quoted\"",
        "resumed_from": None,
        "key.dot": 1,
    }


def test_worker_stopping_flag(store):
    assert not store.worker_stopping("dcgan-1@host")
    store.set_worker_stopping("dcgan-1@host")
    store.set_worker_stopping("dcgan-1@host")  # again: still one flag
    assert store.worker_stopping("dcgan-1@host") and not store.worker_stopping("dcgan-2@host")
    store.set_worker_stopping("dcgan-1@host", False)
    assert not store.worker_stopping("dcgan-1@host")


def test_counts_by_state(store):
    a, b = submit(store), submit(store)
    store.claim(a, "w1", 30, 3)
    store.request_cancel(b)
    counts = store.count_by_state()
    assert counts == {"queued": 0, "running": 1, "succeeded": 0, "failed": 0, "cancelled": 1}
    assert store.count_active() == 1
    assert [r.id for r in store.in_state(JobState.RUNNING)] == [a]
    assert store.in_state(JobState.QUEUED) == []


def test_loss_histories_round_trip_and_replace(store):
    job = submit(store)
    assert store.losses(job) is None
    history = np.arange(10, dtype=np.float32).reshape(5, 2) / 3
    store.save_losses(job, history)
    np.testing.assert_array_equal(store.losses(job), history)
    longer = np.ones((7, 2), dtype=np.float64)
    store.save_losses(job, longer)
    loaded = store.losses(job)
    assert loaded.dtype == np.float32 and loaded.shape == (7, 2) and loaded.flags.writeable
    with pytest.raises(ValueError):
        store.save_losses(job, np.zeros(6, dtype=np.float32))


def test_ping_answers_and_fails_without_a_database(store):
    store.ping()
    unreachable = make_engine("postgresql://postgres@127.0.0.1:1/none")
    with pytest.raises(Exception, match="(?i)connect"):
        JobStore(unreachable).ping()
