"""A job's events on SQLite and PostgreSQL: written with each change, in the same transaction,
numbered 1, 2, ... per job in the order they committed, whoever writes them."""

from __future__ import annotations

import threading

from artifacts.store import ArtifactStore
from jobs.events import EventKind
from jobs.job_removal import remove_job
from jobs.progress import JobProgress
from jobs.states import JobState
from tests.support.jobs import submit_record


def kinds_and_states(store, job_id):
    return [(event.seq, event.kind.value, event.data.get("state"))
            for event in store.events(job_id)]


def test_each_change_writes_the_jobs_next_event(store):
    job = submit_record(store).id
    assert store.claim(job, "w1", lease_seconds=60, max_deliveries=3).run
    store.heartbeat(job, "w1", lease_seconds=60)  # bookkeeping: no event
    store.update_progress(job, JobProgress(step=1, d_loss=0.5))
    store.add_event(job, EventKind.CHECKPOINT, {"model": f"{job}:1", "step": 1, "final": True})
    store.finish(job, "w1", JobState.SUCCEEDED)
    store.finish(job, "w1", JobState.FAILED)  # no longer its lease: nothing changes, no event
    assert kinds_and_states(store, job) == [
        (1, "state", "queued"), (2, "state", "running"), (3, "progress", None),
        (4, "checkpoint", None), (5, "state", "succeeded"),
    ]
    progress = store.events(job)[2]
    assert progress.data == {"step": 1, "d_loss": 0.5}
    assert progress.payload() == {"job": job, "seq": 3, "at": round(progress.created_at, 3),
                                  "step": 1, "d_loss": 0.5}
    assert [event.seq for event in store.events(job, after=3)] == [4, 5]
    assert store.get(job).event_seq == 5


def test_cancel_hand_back_requeue_and_fail_are_state_events(store):
    cancelled = submit_record(store).id
    store.request_cancel(cancelled)
    handed = submit_record(store).id
    store.claim(handed, "w1", lease_seconds=60, max_deliveries=3)
    store.hand_back(handed, "w1")
    orphan = submit_record(store).id
    store.claim(orphan, "w1", lease_seconds=-1, max_deliveries=3)  # its lease already over
    assert [record.id for record in store.requeue_orphans()] == [orphan]
    store.fail(orphan, "could not reach the job queue")
    assert [e[2] for e in kinds_and_states(store, cancelled)] == ["queued", "cancelled"]
    assert [e[2] for e in kinds_and_states(store, handed)] == ["queued", "running", "queued"]
    assert [e[2] for e in kinds_and_states(store, orphan)] == [
        "queued", "running", "queued", "failed"]
    assert store.events(orphan)[-1].data["error"] == "could not reach the job queue"


def test_writers_at_once_number_one_jobs_events_without_gaps_or_repeats(store):
    job = submit_record(store).id
    start = threading.Barrier(4)

    def write(writer: int) -> None:
        start.wait()
        for n in range(10):
            store.add_event(job, EventKind.LOG, {"level": "INFO", "message": f"{writer}.{n}"})

    threads = [threading.Thread(target=write, args=(writer,)) for writer in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    events = store.events(job)
    assert [event.seq for event in events] == list(range(1, 42))
    messages = [event.data["message"] for event in events[1:]]
    assert sorted(messages) == sorted(f"{w}.{n}" for w in range(4) for n in range(10))
    for writer in range(4):  # each writer's events in the order it wrote them
        mine = [m for m in messages if m.startswith(f"{writer}.")]
        assert mine == [f"{writer}.{n}" for n in range(10)]


def test_the_feed_reads_what_changed_and_every_jobs_recent_events(store):
    first, second = submit_record(store).id, submit_record(store).id
    now, heads = store.event_heads(None)
    assert heads == {first: 1, second: 1}
    store.update_progress(second, JobProgress(step=1))
    later, changed = store.event_heads(now)
    assert later >= now and changed == {second: 2}
    recent = store.events_since(now - 60)
    assert [(event.job_id, event.seq) for event in recent] == sorted(
        [(first, 1), (second, 1), (second, 2)])
    assert store.events_since(store.clock() + 60) == []


def test_old_progress_events_go_and_the_rest_stay_with_the_job(store, engine, tmp_path):
    job = submit_record(store).id
    store.update_progress(job, JobProgress(step=1))
    store.add_event(job, EventKind.LOG, {"level": "INFO", "message": "kept"})
    assert store.remove_progress_events_before(store.clock() + 1) == 1
    assert [event.kind for event in store.events(job)] == [EventKind.STATE, EventKind.LOG]
    store.request_cancel(job)
    remove_job(engine, ArtifactStore.from_url(str(tmp_path / "store")), job, protected=set())
    assert store.events(job) == []
