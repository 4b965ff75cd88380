"""An OTLP/HTTP trace receiver of the test's own: what a collector receives from the real
processes (an in-memory exporter sees only the process it lives in).

``POST /v1/traces`` takes a protobuf ``ExportTraceServiceRequest`` (gzipped or not), as
OpenTelemetry's OTLP/HTTP exporter sends it, and keeps each span with its service's name. A
test waits for what it needs (``wait_for``, ``wait_for_span``) on a condition the receiving
thread notifies, never for a length of time; the timeout only bounds a failure.
"""

from __future__ import annotations

import gzip
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

log = logging.getLogger(__name__)

T = TypeVar("T")
KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    service: str
    trace_id: str  # hex, as in a traceparent header
    span_id: str
    parent_id: str | None
    kind: str  # internal, server, producer, consumer, ...
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    error: bool

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    return getattr(value, kind) if kind else None


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


class OtlpReceiver:
    """A threading HTTP server on 127.0.0.1 collecting the spans posted to it."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.requests = 0
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != "/v1/traces":
                    self.send_error(404)
                    return
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.add(ExportTraceServiceRequest.FromString(body))
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's
                log.debug(format, *args)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # serve_forever looks for shutdown() this often: the test's teardown waits that long
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    @property
    def url(self) -> str:
        """The endpoint to give as OTEL_EXPORTER_OTLP_ENDPOINT."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def add(self, request: ExportTraceServiceRequest) -> None:
        received = []
        for resource_spans in request.resource_spans:
            service = _attributes(resource_spans.resource.attributes).get("service.name", "")
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(ReceivedSpan(
                        name=span.name,
                        service=service,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex() or None,
                        kind=KINDS.get(span.kind, str(span.kind)),
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        attributes=_attributes(span.attributes),
                        error=span.status.code == span.status.STATUS_CODE_ERROR,
                    ))
        with self._changed:
            self.spans.extend(received)
            self.requests += 1
            self._changed.notify_all()

    def wait_for(self, found: Callable[[list[ReceivedSpan]], T | None], timeout: float = 60,
                 what: str = "spans") -> T:
        """What ``found`` returns from the spans received so far, once it returns something;
        asked again each time spans arrive. AssertionError after ``timeout`` seconds."""
        result: T | None = None

        def ready() -> bool:
            nonlocal result
            result = found(list(self.spans))
            return result is not None

        with self._changed:
            if not self._changed.wait_for(ready, timeout):
                names = sorted({(span.service, span.name) for span in self.spans})
                raise AssertionError(f"no {what} after {timeout}s; received: {names}")
        assert result is not None
        return result

    def wait_for_span(self, name: str, attributes: Mapping[str, Any] | None = None,
                      timeout: float = 60) -> ReceivedSpan:
        """The first span called ``name`` whose attributes include ``attributes``."""
        attributes = attributes or {}

        def first(spans: list[ReceivedSpan]) -> ReceivedSpan | None:
            return next((span for span in spans if span.name == name and all(
                span.attributes.get(key) == value for key, value in attributes.items()
            )), None)

        return self.wait_for(first, timeout, f"span {name} {attributes or ''}".strip())

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@contextmanager
def otlp_receiver() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
