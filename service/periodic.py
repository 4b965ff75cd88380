"""A daemon thread that runs one pass of some work every few seconds until it is stopped: a
failed pass is logged and the next one tries again (the database may be down for a while)."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


class PeriodicThread(threading.Thread):
    def __init__(self, name: str, interval_s: float) -> None:
        super().__init__(name=name, daemon=True)
        self.interval_s = interval_s
        self._stop_event = threading.Event()

    def pass_once(self) -> object:
        raise NotImplementedError

    def run(self) -> None:
        while not self._stop_event.wait(self.interval_s):
            try:
                self.pass_once()
            except Exception:  # noqa: BLE001 - try again next time
                log.exception("%s pass failed", self.name)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)
