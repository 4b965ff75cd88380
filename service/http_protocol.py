"""uvicorn's HTTP/1.1 protocol (httptools) with the two bounds on a request head it lacks:
how large the head may grow before it is complete, and how long it may take to arrive.

uvicorn's httptools parser takes a head of any size (it has no setting for one), and nothing
times a head out: the keep-alive timer runs only between requests and every byte received
stops it, so a client that trickles its headers (slowloris) or never sends any holds its
connection for ever. This subclass, which ``dcgan serve`` passes to uvicorn as ``http=``,

- starts a deadline (DCGAN_HEADER_TIMEOUT_SECONDS) when a connection opens and after each
  response, stopped when the next request head is complete; past it the connection is
  closed, with a 408 when part of a head had arrived;
- counts the bytes of a head still incomplete; past DCGAN_MAX_HEADER_BYTES it answers 431 and
  closes the connection, before the head is parsed further and before the app runs.

A head that arrives complete in one read is measured by service.header_limits, in the app;
the body's deadline is service.body_limit's. The parser is unchanged: httptools, uvicorn's
default.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from service.settings import ServiceSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeadLimits:
    max_bytes: int
    timeout_seconds: float


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    limits: ClassVar[HeadLimits]

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.heads_completed = 0
        self.awaiting_head = True  # from the start, and from each request's end, to a head
        self.head_bytes = 0  # received of the awaited head (a lower bound: see data_received)
        self.head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        awaiting, heads = self.awaiting_head, self.heads_completed
        super().data_received(data)
        # Only a read that began and ended awaiting the same head holds head bytes alone; one
        # that ended a request and began the next is not counted: the count errs low by at
        # most one read, never high.
        within_one_head = awaiting and self.awaiting_head and heads == self.heads_completed
        if not within_one_head or self.transport.is_closing():
            return
        self.head_bytes += len(data)
        if self.head_bytes > self.limits.max_bytes:
            log.info("%s: refused a request head larger than %d bytes",
                     self._peer(), self.limits.max_bytes)
            self._answer_and_close(431, f"request head larger than {self.limits.max_bytes} bytes")

    def on_headers_complete(self) -> None:
        self.heads_completed += 1
        self.awaiting_head = False
        self._stop_head_deadline()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.awaiting_head = True
        self.head_bytes = 0

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # a pipelined request that was waiting has started: its response comes first
        if not self.transport.is_closing() and self.cycle.response_complete:
            self._start_head_deadline()

    def _start_head_deadline(self) -> None:
        self._stop_head_deadline()
        self.head_deadline = self.loop.call_later(
            self.limits.timeout_seconds, self._head_timed_out
        )

    def _stop_head_deadline(self) -> None:
        if self.head_deadline is not None:
            self.head_deadline.cancel()
            self.head_deadline = None

    def _head_timed_out(self) -> None:
        self.head_deadline = None
        if self.transport.is_closing():
            return
        timeout = self.limits.timeout_seconds
        if self.head_bytes:
            log.info("%s: closed, request head not complete within %g s", self._peer(), timeout)
            self._answer_and_close(408, f"request head not complete within {timeout:g} s")
        else:  # an idle connection: an answer to no request would confuse its client
            log.debug("%s: closed, no request within %g s", self._peer(), timeout)
            self.transport.close()

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "a client"

    def _answer_and_close(self, status: int, detail: str) -> None:
        if self.cycle is None or self.cycle.response_complete:  # no response is being sent
            body = json.dumps({"detail": detail}, separators=(",", ":")).encode()
            head = [STATUS_LINE[status]]
            head += [name + b": " + value + b"\r\n"
                     for name, value in self.server_state.default_headers]
            head += [b"content-type: application/json\r\n",
                     b"content-length: %d\r\n" % len(body), b"connection: close\r\n\r\n"]
            self.transport.write(b"".join(head) + body)
        self.transport.close()


def bounded_protocol(settings: ServiceSettings) -> type[BoundedHttpToolsProtocol]:
    """The protocol class for uvicorn's ``http=``, bound to these settings."""

    class Protocol(BoundedHttpToolsProtocol):
        limits = HeadLimits(settings.max_header_bytes, settings.header_timeout_seconds)

    return Protocol
