"""One trace from POST /jobs to the scores of the job's checkpoints, across the API, a Celery
worker and its scorer process, as an OTLP/HTTP collector receives it (core.tracing)."""

from __future__ import annotations

import logging

import pytest

from jobs.queue import TRAIN_TASK
from shared_models.evaluation.classifier_store import load_or_train_classifier
from tests.e2e.conftest import REDIS_URL
from tests.support.otlp_receiver import ReceivedSpan, otlp_receiver
from tests.support.stack import running_stack, submit_job, wait_for_job

pytestmark = pytest.mark.processes

log = logging.getLogger(__name__)

JOB = {"iterations": 8, "batch_size": 16, "checkpoint_every": 4}
STEPS = (4, 8)
# the test's own collector, whatever the environment says; no span leaves on the batch
# processor's schedule, so every span received was sent as its process stopped
TRACING_ENV = {
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "", "OTEL_SDK_DISABLED": "", "OTEL_SERVICE_NAME": "",
    "OTEL_TRACES_EXPORTER": "", "OTEL_RESOURCE_ATTRIBUTES": "", "OTEL_TRACES_SAMPLER": "",
    "OTEL_BSP_SCHEDULE_DELAY": "600000",
}


def trace_table(spans: list[ReceivedSpan]) -> str:
    """The spans as rows: name, service, parent's name, duration (for a failure's message
    and the log)."""

    def label(span: ReceivedSpan) -> str:
        model = str(span.attributes.get("dcgan.model", ""))
        step = span.attributes.get("dcgan.step") or model.rpartition(":")[2]
        return f"{span.name} (step {step})" if step else span.name

    labels = {span.span_id: label(span) for span in spans}
    rows = [f"{'span':<30} {'service':<13} {'parent':<30} {'ms':>8}"]
    for span in sorted(spans, key=lambda span: span.start_ns):
        parent = labels.get(span.parent_id or "", "-" if span.parent_id is None else "(remote)")
        rows.append(f"{label(span):<30} {span.service:<13} {parent:<30} {span.duration_ms:8.1f}")
    return "\n".join(rows)


def test_one_trace_from_the_request_to_the_last_checkpoints_score(tmp_path, data_dir):
    load_or_train_classifier("mnist", data_dir)  # cached by make setup; trained here if not
    with otlp_receiver() as receiver:
        env = {**TRACING_ENV, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
               "DCGAN_EVAL_SAMPLES": "16",
               # the API picks no model of its own during the test: a model it loads is the
               # one a request asks for
               "DCGAN_RELOAD_INTERVAL_SECONDS": "3600"}
        with running_stack(tmp_path, REDIS_URL, **env) as stack, stack.client() as client:
            job = submit_job(client, JOB)["id"]
            assert wait_for_job(client, job)["state"] == "succeeded"
            # a model asked for by name is loaded for the request, in its trace
            drawn = client.get("/generate", params={"model": f"{job}:8", "n": 1})
            assert drawn.status_code == 200, drawn.text
        # stopped: the API (its lifespan), the worker's pool process (its scorer finishing
        # the last score first) and the scorer each sent what they held on the way out
        final = receiver.wait_for_span("checkpoint.score", {"dcgan.model": f"{job}:8"})
        spans = [span for span in receiver.spans if span.trace_id == final.trace_id]
        load = receiver.wait_for_span("model.load", {"dcgan.model": f"{job}:8"})
        drawing = [span for span in receiver.spans if span.span_id == load.parent_id]

    table = trace_table(spans)
    log.info("the job's trace:\n%s\nthe model load's:\n%s", table, trace_table([*drawing, load]))
    by_id = {span.span_id: span for span in spans}

    def one(name: str, **attributes: object) -> ReceivedSpan:
        found = [span for span in spans if span.name == name and all(
            span.attributes.get(f"dcgan.{key}") == value for key, value in attributes.items())]
        assert len(found) == 1, f"{name} {attributes}: {len(found)} in the trace\n{table}"
        return found[0]

    def parent(span: ReceivedSpan) -> ReceivedSpan:
        assert span.parent_id in by_id, f"{span.name}'s parent is not in the trace\n{table}"
        return by_id[span.parent_id]

    request = one("POST /jobs")
    assert request.service == "dcgan-api" and request.kind == "server"
    assert request.parent_id is None and request.attributes["http.response.status_code"] == 202
    publication = one(f"publish {TRAIN_TASK}", job=job)
    assert publication.service == "dcgan-api" and parent(publication) == request
    task = one(f"process {TRAIN_TASK}", job=job)
    assert task.service == "dcgan-worker" and task.kind == "consumer"
    assert parent(task) == publication
    for step in STEPS:
        saved = one("checkpoint.save", job=job, step=step)
        published = one("checkpoint.publish", job=job, step=step)
        scored = one("checkpoint.score", job=job, model=f"{job}:{step}")
        assert parent(saved) == parent(published) == parent(scored) == task, table
        assert saved.service == published.service == "dcgan-worker"
        assert scored.service == "dcgan-scorer"
        assert saved.end_ns <= published.start_ns <= published.end_ns <= scored.start_ns
    assert not [span.name for span in spans if span.error]
    assert load.service == "dcgan-api" and not load.error
    assert [(span.name, span.trace_id) for span in drawing] == [
        ("GET /generate", load.trace_id)
    ]
