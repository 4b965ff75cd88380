"""OpenTelemetry tracing: one trace from a request to the scores of the job's checkpoints.

The API, the worker and the scorer each call :func:`configure` once, with the service name
they go by unless ``OTEL_SERVICE_NAME`` says otherwise (``dcgan-api``, ``dcgan-worker``,
``dcgan-scorer``). Spans are sent over OTLP/HTTP (protobuf) to the collector that the standard
variables name, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT``, in
batches (``BatchSpanProcessor``, tuned by the ``OTEL_BSP_*`` variables); ``OTEL_SDK_DISABLED=
true`` or ``OTEL_TRACES_EXPORTER=none`` turns them off. With neither endpoint set no SDK
provider is installed: :func:`span` yields the API's invalid span at the cost of a check, the
HTTP middleware passes requests straight through and :func:`carrier` is empty, so nothing is
added to messages or job records.

A trace crosses processes as W3C trace-context headers (``traceparent``): in a Celery
message's headers (``publishing`` / ``consuming``), on the job's record (so every later
publication of the job, by the reaper or after a hand-back, joins the trace of its first),
and in each request line the worker sends its scorer. Each process sends what it holds when
it stops normally (:func:`flush`, called by the worker's and the scorer's shutdown and the
API's lifespan; an exit hook of this module's is the fallback).

This module holds its provider itself rather than installing it as OpenTelemetry's global
one: a process forked after :func:`configure` (Celery's pool) gets a provider of its own, with
its own connection to the collector, instead of sharing the parent's socket.
"""

from __future__ import annotations

import atexit
import logging
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import propagate
from opentelemetry.trace import (
    INVALID_SPAN,
    NoOpTracer,
    Span,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
)
from opentelemetry.util.types import AttributeValue

if TYPE_CHECKING:  # the SDK and the exporter load only when tracing is on
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger(__name__)

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
INSTRUMENTATION = "dcgan"

_provider: TracerProvider | None = None
_tracer: Tracer = NoOpTracer()


def configure(default_service: str) -> bool:
    """Send this process's spans where the ``OTEL_*`` variables say; whether tracing is on.

    Called once per process, early; a second call keeps the first's provider.
    """
    global _provider, _tracer
    if _provider is not None:
        return True
    endpoint = next((os.environ[name] for name in ENDPOINT_VARIABLES if os.environ.get(name)),
                    None)
    disabled = os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if endpoint is None or disabled or exporter == "none":
        return False
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    resource = Resource.create()  # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES included
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: default_service}))
    _provider = _new_provider(resource)
    _tracer = _provider.get_tracer(INSTRUMENTATION)
    log.info("tracing: spans of %s go to %s", resource.attributes[SERVICE_NAME], endpoint)
    return True


def enabled() -> bool:
    return _provider is not None


def flush() -> None:
    """Send the spans this process still holds (a no-op when tracing is off)."""
    if _provider is not None:
        _provider.force_flush()


def shutdown() -> None:
    """Send what is held and stop tracing in this process (:func:`configure` may start it
    again)."""
    global _provider, _tracer
    provider, _provider, _tracer = _provider, None, NoOpTracer()
    if provider is not None:
        provider.shutdown()


@contextmanager
def span(
    name: str,
    parent: Mapping[str, str] | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, AttributeValue] | None = None,
    **fields: AttributeValue,
) -> Iterator[Span]:
    """A span around the block, current inside it; an exception ends it as an error.

    Its parent is the trace in ``parent`` (headers, as :func:`carrier` gives them) when that
    holds one, else the current span. ``fields`` become ``dcgan.<name>`` attributes (``job``,
    ``step``, ``model``); ``attributes`` are set as named (the semantic conventions' names).
    """
    if _provider is None:
        yield INVALID_SPAN
        return
    context = propagate.extract(parent) if parent else None
    named = {f"dcgan.{key}": value for key, value in fields.items()}
    with _tracer.start_as_current_span(
        name, context=context, kind=kind, attributes={**(attributes or {}), **named}
    ) as current:
        yield current


def carrier() -> dict[str, str]:
    """The current trace as W3C trace-context headers (``traceparent``); empty when tracing
    is off."""
    headers: dict[str, str] = {}
    if _provider is not None:
        propagate.inject(headers)
    return headers


def publishing(task: str, queue: str, message_id: str, stored: Mapping[str, str] | None,
               **fields: AttributeValue) -> AbstractContextManager[Span]:
    """The PRODUCER span of a Celery message's publication: a child of ``stored`` (a job's
    recorded trace) when there is one, else of the current span."""
    return span(f"publish {task}", stored, SpanKind.PRODUCER, _messaging(queue, message_id),
                **fields)


def consuming(task: str, request: Any, **fields: AttributeValue) -> AbstractContextManager[Span]:
    """The CONSUMER span of a Celery task's run, a child of the publication that sent it:
    Celery makes each header of the message an attribute of the task's ``request``."""
    headers = {
        field: value for field in propagate.get_global_textmap().fields
        if isinstance(value := getattr(request, field, None), str)
    }
    queue = (getattr(request, "delivery_info", None) or {}).get("routing_key") or ""
    return span(f"process {task}", headers, SpanKind.CONSUMER,
                _messaging(queue, str(getattr(request, "id", ""))), **fields)


def _messaging(queue: str, message_id: str) -> dict[str, AttributeValue]:
    return {"messaging.system": "celery", "messaging.destination.name": queue,
            "messaging.message.id": message_id}


# --- HTTP ------------------------------------------------------------------------------------

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class TracingMiddleware:
    """A SERVER span per HTTP request, named by its method and route template once routing
    has found one (``POST /jobs``), continuing the caller's trace when its headers hold one.
    With tracing off, requests pass straight through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _provider is None:
            await self.app(scope, receive, send)
            return
        headers = {name.decode("latin-1"): value.decode("latin-1")
                   for name, value in scope.get("headers", ())}
        method = scope["method"]
        with span(method, headers, SpanKind.SERVER, {
            "http.request.method": method, "url.path": scope["path"],
        }) as current:

            async def record_status(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    current.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        current.set_status(Status(StatusCode.ERROR))
                await send(message)

            try:
                await self.app(scope, receive, record_status)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if isinstance(route, str):
                    current.set_attribute("http.route", route)
                    current.update_name(f"{method} {route}")


# --- the provider ----------------------------------------------------------------------------


def _new_provider(resource: Resource) -> TracerProvider:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # the exporter reads the endpoint, headers, timeout and compression from OTEL_*
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def _renew_after_fork() -> None:
    """In a forked child: a provider of its own (the parent's exporter thread and connection
    stay the parent's)."""
    global _provider, _tracer
    if _provider is not None:
        _provider = _new_provider(_provider.resource)
        _tracer = _provider.get_tracer(INSTRUMENTATION)


def _flush_at_exit() -> None:
    if _provider is not None:
        _provider.shutdown()


os.register_at_fork(after_in_child=_renew_after_fork)
atexit.register(_flush_at_exit)
