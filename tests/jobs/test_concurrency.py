"""Several processes on one database at once: claims, the job cap and progress updates.

The processes are spawned, so they share nothing but the database, as API replicas and workers
on different hosts do. On SQLite none of them may fail with "database is locked".
"""

from __future__ import annotations

from jobs.job_store import JobStore
from jobs.states import JobState
from tests.jobs.processes import claim_all, patch_progress, run_together, submit_many


def test_each_job_is_claimed_by_exactly_one_of_several_processes(url, store: JobStore):
    job_ids = [store.submit({}, total=1, queue="dcgan", max_active=100).id for _ in range(10)]
    won = run_together(claim_all, [(url, job_ids, f"w{i}") for i in range(6)])
    for index, job_id in enumerate(job_ids):
        winners = [f"w{i}" for i, results in enumerate(won) if results[index]]
        assert len(winners) == 1, (job_id, winners)
        record = store.get(job_id)
        assert record.lease_owner == winners[0] and record.attempts == 1
    assert store.count_by_state()["running"] == len(job_ids)


def test_concurrent_submissions_from_several_processes_never_exceed_the_cap(url, store):
    cap = 5
    admitted = run_together(submit_many, [(url, 15, cap) for _ in range(4)])
    assert sum(admitted) == cap
    assert store.count_active() == cap
    assert store.count_by_state()[JobState.QUEUED] == cap


def test_progress_updates_from_several_processes_all_land(url, store):
    job = store.submit({}, total=1, queue="dcgan", max_active=100).id
    counts = run_together(patch_progress, [(url, job, f"p{i}_", 25) for i in range(4)])
    progress = store.get(job).progress
    assert len(progress) == 2 + sum(counts)
    assert all(progress[f"p{i}_{n}"] == n for i in range(4) for n in range(25))
