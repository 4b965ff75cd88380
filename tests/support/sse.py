"""Listening to a server-sent event stream from a thread: the test takes each event as it comes
(waiting for it, never for time), and sees whether the stream ended cleanly."""

from __future__ import annotations

import queue
import threading

import httpx

from dcgan_cli.event_source import ServerEvent, parse

END = "end of stream"


class Listener:
    def __init__(self, url: str, path: str, last_event_id: str | None = None) -> None:
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        self.client = httpx.Client(base_url=url, timeout=httpx.Timeout(10, read=120))
        self.request = self.client.build_request("GET", path, headers=headers)
        self.received: queue.Queue[ServerEvent | str | BaseException] = queue.Queue()
        self.opened = threading.Event()
        self.response: httpx.Response | None = None
        self.heartbeat = threading.Event()  # set at the first comment line (a heartbeat)
        self.stopping = False
        self.thread = threading.Thread(target=self._listen, daemon=True)
        self.thread.start()
        assert self.opened.wait(30), "the stream did not open"

    def _listen(self) -> None:
        try:
            self.response = self.client.send(self.request, stream=True)
            self.opened.set()
            for event in parse(self._lines()):
                self.received.put(event)
            self.received.put(END)
        except BaseException as error:  # noqa: BLE001 - handed to the test
            self.received.put(error)
        finally:
            self.opened.set()

    def _lines(self):
        assert self.response is not None
        for line in self.response.iter_lines():
            if self.stopping:
                return
            if line.startswith(":"):
                self.heartbeat.set()
            yield line

    def next(self, timeout: float = 60) -> ServerEvent | str:
        """The next event, or END once the server has ended the stream."""
        item = self.received.get(timeout=timeout)
        if isinstance(item, BaseException):
            raise item
        return item

    def take(self, count: int) -> list[ServerEvent]:
        events = [self.next() for _ in range(count)]
        assert END not in events, events
        return events  # type: ignore[return-value]

    def close(self) -> None:
        """Stop listening. The thread, which may be blocked reading, ends by itself when the
        next bytes (a heartbeat at the latest) or the end of the stream arrive."""
        self.stopping = True
        if self.response is not None:
            self.response.close()
        self.client.close()
