"""Publishing jobs: the Celery task id names the job, events on for Flower (with Redis),
no results stored."""

from __future__ import annotations

import json
import uuid

import pytest
import redis

from core.settings import Settings
from jobs.job_store import JobStore
from jobs.queue import TRAIN_TASK, enqueue, make_celery

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def queue_name():
    name = f"test-queue-{uuid.uuid4().hex[:12]}"
    yield name
    redis.Redis.from_url(REDIS_URL).delete(name, f"_kombu.binding.{name}")


def test_each_publication_has_a_task_id_of_its_job_and_its_own_suffix(store: JobStore,
                                                                      queue_name):
    settings = Settings(REDIS_URL=REDIS_URL, DCGAN_QUEUE=queue_name)
    app = make_celery(settings)
    job = store.submit({"iterations": 5}, 5, queue_name, 10)
    first, again = enqueue(app, store, job), enqueue(app, store, job)
    assert first.startswith(f"{job.id}-") and again.startswith(f"{job.id}-") and first != again
    messages = [json.loads(raw) for raw in redis.Redis.from_url(REDIS_URL).lrange(queue_name, 0,
                                                                                 -1)]
    assert sorted(m["headers"]["id"] for m in messages) == sorted([first, again])
    assert {m["headers"]["task"] for m in messages} == {TRAIN_TASK}
    assert store.get(job.id).enqueued_at is not None


def test_events_for_flower_with_redis_and_no_results_anywhere(tmp_path):
    with_redis = make_celery(Settings(REDIS_URL=REDIS_URL)).conf
    assert with_redis.worker_send_task_events and with_redis.task_send_sent_event
    assert with_redis.task_ignore_result and not with_redis.result_backend
    embedded = make_celery(Settings(DCGAN_DATA_DIR=tmp_path)).conf
    assert embedded.task_ignore_result and not embedded.worker_send_task_events
