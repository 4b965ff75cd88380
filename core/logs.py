"""Log output of the dcgan processes: JSON lines for the services, plain text otherwise.

The settings' ``log_format`` (``DCGAN_LOG_FORMAT``: ``json`` or ``text``) overrides the
default. JSON lines carry the time, level, logger, process, message and, in the worker, the id
of the job being run.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from core.log_context import JobIdFilter


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.processName,
            "message": record.getMessage(),
        }
        job_id = getattr(record, "job_id", None)
        if job_id:
            entry["job_id"] = job_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        job_id = getattr(record, "job_id", None)
        return f"[job {job_id}] {text}" if job_id else text


def configure_logging(chosen: str = "text", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(JobIdFilter())
    handler.setFormatter(JsonFormatter() if chosen == "json" else TextFormatter("%(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request at INFO: a CLI that polls the API would print a line per look
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
