"""Reading a server-sent event stream over HTTP, as a browser's EventSource does: each event's
id, type and JSON data, and a reconnect with ``Last-Event-ID`` when the connection drops."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger(__name__)

RECONNECTS = 30  # in a row, without an event in between


@dataclass(frozen=True)
class ServerEvent:
    id: str | None
    kind: str
    data: dict[str, Any]


def parse(lines: Iterable[str]) -> Iterator[ServerEvent]:
    """The events of a text/event-stream, line by line (comments and retry fields skipped)."""
    event_id: str | None = None
    kind, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                yield ServerEvent(event_id, kind, json.loads("\n".join(data)))
            event_id, kind, data = None, "message", []
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            event_id = value
        elif name == "event":
            kind = value
        elif name == "data":
            data.append(value)


def follow(client: httpx.Client, path: str, last_event_id: str | None = None
           ) -> Iterator[ServerEvent]:
    """The stream's events until the server says there are no more (204): a stream that ends
    or drops, or a replica that is shutting down (503), is asked again from the last event
    received, as EventSource does. A server never reached is an error at once."""
    failures = 0
    connected = False
    while True:
        headers = {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        wait = 0.0
        try:
            with client.stream("GET", path, headers=headers, timeout=httpx.Timeout(10, read=60)
                               ) as response:
                if response.status_code == 204:
                    return
                if response.status_code == 503 and failures < RECONNECTS:
                    failures += 1
                    wait = float(response.headers.get("Retry-After", "1"))
                elif response.status_code != 200:
                    response.read()
                    raise httpx.HTTPStatusError(
                        f"{path}: {response.status_code} {_detail(response)}",
                        request=response.request, response=response,
                    )
                else:
                    connected = True
                    for event in parse(response.iter_lines()):
                        failures = 0
                        last_event_id = event.id or last_event_id
                        yield event
        except httpx.TransportError as error:
            failures += 1
            if not connected or failures > RECONNECTS:
                raise  # never reached, or lost for good
            log.warning("event stream interrupted (%s); reconnecting", error)
            wait = min(2.0, 0.1 * 2**failures)
        time.sleep(wait)


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", ""))
    except ValueError:
        return response.text[:200]
