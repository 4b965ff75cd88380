"""A job's trace context: carried in its messages' headers and kept on its record, so a job the
reaper publishes again stays in the trace of its first publication; nothing of it when tracing
is off. Spans go over OTLP/HTTP to a receiver of the test's own (core.tracing)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
import redis

from core import tracing
from core.settings import Settings
from jobs.job_store import JobStore
from jobs.queue import TRAIN_TASK, enqueue, make_celery
from tests.support.otlp_receiver import OtlpReceiver, otlp_receiver
from worker.recovery import recover_once

REDIS_URL = "redis://127.0.0.1:6379/0"
OTEL_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER",
)


@pytest.fixture
def no_otel_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def receiver(no_otel_variables: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpReceiver]:
    """Tracing on in this process, its spans sent to a receiver of the test's own."""
    with otlp_receiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
        assert tracing.configure("dcgan-test")
        try:
            yield receiver
        finally:
            tracing.shutdown()


@pytest.fixture
def queue_name() -> Iterator[str]:
    name = f"test-queue-{uuid.uuid4().hex[:12]}"
    yield name
    redis.Redis.from_url(REDIS_URL).delete(name, f"_kombu.binding.{name}")


def published_headers(queue: str) -> list[dict]:
    """The headers of the messages waiting on ``queue``, oldest first."""
    raw = redis.Redis.from_url(REDIS_URL).lrange(queue, 0, -1)
    return [json.loads(message)["headers"] for message in reversed(raw)]


def test_a_requeued_job_stays_in_the_trace_of_its_first_publication(
    receiver: OtlpReceiver, store: JobStore, queue_name: str
):
    settings = Settings(REDIS_URL=REDIS_URL, DCGAN_QUEUE=queue_name)
    app = make_celery(settings)
    job = store.submit({"iterations": 5}, 5, queue_name, 10)
    with tracing.span("POST /jobs") as request:
        enqueue(app, store, job)
    trace_id = format(request.get_span_context().trace_id, "032x")
    recorded = store.get(job.id).trace_context
    # its worker claims it and is lost: the lease runs out, and the reaper (no span of its
    # own around it) publishes the job again
    assert store.claim(job.id, "lost-worker", lease_seconds=-1, max_deliveries=3).run
    assert recover_once(app, settings, store) == [job.id]
    tracing.flush()

    first, again = receiver.wait_for(
        lambda spans: (found := [s for s in spans if s.name == f"publish {TRAIN_TASK}"])
        and len(found) == 2 and sorted(found, key=lambda s: s.start_ns) or None,
        what="both publications",
    )
    assert first.trace_id == again.trace_id == trace_id
    assert first.parent_id == format(request.get_span_context().span_id, "016x")
    assert again.parent_id == first.span_id  # the record's context, not a trace of its own
    assert first.kind == again.kind == "producer" and first.service == "dcgan-test"
    assert first.attributes["dcgan.job"] == job.id
    assert first.attributes["messaging.destination.name"] == queue_name
    # each message carries its own publication as the parent of the task it delivers
    headers = published_headers(queue_name)
    assert [h["traceparent"].split("-")[1:3] for h in headers] == [
        [trace_id, span.span_id] for span in (first, again)
    ]
    assert [h["id"] for h in headers] == [span.attributes["messaging.message.id"]
                                          for span in (first, again)]
    # the record keeps the first publication's context
    assert recorded == {"traceparent": headers[0]["traceparent"]}
    assert store.get(job.id).trace_context == recorded


def test_the_service_name_is_the_process_default_unless_otel_service_name_says(
    receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
):
    tracing.shutdown()
    monkeypatch.setenv("OTEL_SERVICE_NAME", "dcgan-api-eu")
    assert tracing.configure("dcgan-api")
    with tracing.span("named", step=3):
        pass
    tracing.flush()
    span = receiver.wait_for_span("named")
    assert span.service == "dcgan-api-eu" and span.attributes == {"dcgan.step": 3}


def test_without_a_collector_nothing_is_traced_and_nothing_is_added(
    no_otel_variables: None, monkeypatch: pytest.MonkeyPatch, store: JobStore, queue_name: str
):
    assert not tracing.configure("dcgan-test")
    with tracing.span("unseen", job="j") as span:
        assert not span.get_span_context().is_valid and tracing.carrier() == {}
    job = store.submit({"iterations": 5}, 5, queue_name, 10)
    enqueue(make_celery(Settings(REDIS_URL=REDIS_URL, DCGAN_QUEUE=queue_name)), store, job)
    assert [h.get("traceparent") for h in published_headers(queue_name)] == [None]
    assert store.get(job.id).trace_context is None
    # an endpoint alone does not turn it on against OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    for name, value in (("OTEL_SDK_DISABLED", "true"), ("OTEL_TRACES_EXPORTER", "none")):
        with monkeypatch.context() as off:
            off.setenv(name, value)
            assert not tracing.configure("dcgan-test") and not tracing.enabled()
