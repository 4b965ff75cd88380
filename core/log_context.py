"""The id of the job a log line belongs to, attached to every record logged while it runs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

current_job: ContextVar[str | None] = ContextVar("current_job", default=None)


@contextmanager
def job_context(job_id: str) -> Iterator[None]:
    token = current_job.set(job_id)
    try:
        yield
    finally:
        current_job.reset(token)


class JobIdFilter(logging.Filter):
    """Adds ``record.job_id`` (None outside a job) so formatters can always use it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "job_id"):
            record.job_id = current_job.get()
        return True
