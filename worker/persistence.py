"""Riding out a database or object store that is briefly unreachable (a restart, a
failover): what a job must record is retried for a while; progress reports are skipped."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

T = TypeVar("T")
TRANSIENT = (DBAPIError, ConnectionError, TimeoutError)
GIVE_UP_AFTER_S = 120.0


def persistently(action: Callable[[], T], what: str, give_up_after_s: float = GIVE_UP_AFTER_S
                 ) -> T:
    """Run ``action``, retrying transient database and network errors with backoff."""
    deadline = time.monotonic() + give_up_after_s
    delay = 0.25
    while True:
        try:
            return action()
        except TRANSIENT as error:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("%s failed (%s); retrying in %.1fs", what, _first_line(error), delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def best_effort(action: Callable[[], object], what: str) -> None:
    """Run ``action``; a transient error is logged and the work goes on."""
    try:
        action()
    except TRANSIENT as error:
        log.warning("%s skipped: %s", what, _first_line(error))


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
