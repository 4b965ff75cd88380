"""Prometheus metrics (prometheus_client), one registry per app.

Request latency is recorded by an ASGI middleware per route template and status (an event
stream's until it opens, not for its lifetime); the
process's CPU time, memory and open files (``process_*``), the Python runtime and the garbage
collector (``python_*``) come from prometheus_client's own collectors. Everything else is
read at scrape time from the objects that own it: the render admission (in flight,
waiting), the model server (served model, reloads) and the job records (jobs by state, and
the training progress the workers write there: step, iterations/s, losses).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobs.job_store import JobStore
from jobs.states import JobState
from service.batching import RenderBatcher
from service.model_server import ModelServer
from service.render_admission import RenderAdmission

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class ServiceCollector(Collector):
    def __init__(
        self, admission: RenderAdmission, batcher: RenderBatcher, server: ModelServer,
        store: JobStore,
    ) -> None:
        self.admission, self.batcher, self.server, self.store = admission, batcher, server, store

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "dcgan_renders_in_flight", "Renders running now", value=self.admission.in_flight
        )
        yield GaugeMetricFamily(
            "dcgan_renders_waiting", "Renders waiting for a slot", value=self.admission.waiting
        )
        yield GaugeMetricFamily(
            "dcgan_render_rows_in_flight", "Digits being rendered now",
            value=self.admission.rows_in_flight,
        )
        yield CounterMetricFamily(
            "dcgan_render_batches", "Batched generator forward passes", value=self.batcher.batches
        )
        yield CounterMetricFamily(
            "dcgan_render_rows", "Samples drawn in batched forward passes", value=self.batcher.rows
        )
        served = GaugeMetricFamily(
            "dcgan_served_model_step", "Training step of the served generator",
            labels=["model", "sha256"],
        )
        if self.server.served is not None:
            model = self.server.served
            served.add_metric([model.id, model.sha256], model.record.step)
        yield served
        reloads = CounterMetricFamily(
            "dcgan_model_reloads", "Checkpoints validated for serving", labels=["result"]
        )
        reloads.add_metric(["success"], self.server.swaps)
        reloads.add_metric(["failure"], self.server.reload_failures)
        yield reloads
        yield from self._jobs()

    def _jobs(self) -> Iterator[Metric]:
        by_state = GaugeMetricFamily("dcgan_jobs", "Jobs by state", labels=["state"])
        for state, count in self.store.count_by_state().items():
            by_state.add_metric([state], count)
        yield by_state
        gauges = {
            "step": GaugeMetricFamily("dcgan_job_step", "Running job's step", labels=["job"]),
            "total": GaugeMetricFamily(
                "dcgan_job_total_steps", "Running job's iterations", labels=["job"]
            ),
            "iterations_per_s": GaugeMetricFamily(
                "dcgan_job_iterations_per_second", "Running job's training rate", labels=["job"]
            ),
            "d_loss": GaugeMetricFamily(
                "dcgan_job_d_loss", "Running job's discriminator loss", labels=["job"]
            ),
            "g_loss": GaugeMetricFamily(
                "dcgan_job_g_loss", "Running job's generator loss", labels=["job"]
            ),
        }
        for record in self.store.in_state(JobState.RUNNING):
            for key, gauge in gauges.items():
                value = record.progress.get(key)
                if isinstance(value, int | float):
                    gauge.add_metric([record.id], float(value))
        yield from gauges.values()


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # the default registry's collectors hold no per-registry state: share them
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.registry.register(collector)
        self.latency = Histogram(
            "dcgan_http_request_duration_seconds",
            "HTTP request latency by route template and status",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def watch(
        self, admission: RenderAdmission, batcher: RenderBatcher, server: ModelServer,
        store: JobStore,
    ) -> None:
        self.registry.register(ServiceCollector(admission, batcher, server, store))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class LatencyMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        observed = False

        def observe() -> None:
            nonlocal observed
            if not observed:
                observed = True
                self.metrics.latency.labels(
                    scope["method"], route_template(scope), str(status)
                ).observe(time.perf_counter() - started)

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if any(name == b"content-type" and value.startswith(b"text/event-stream")
                       for name, value in message.get("headers", ())):
                    observe()  # a stream's latency is its opening, not its lifetime
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            observe()


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
