"""Errors the CLI reports as one line instead of a traceback."""

from __future__ import annotations

from shared_models.checkpoint import CheckpointError
from shared_models.data import DataError
from shared_models.training import ResumeMismatch


class CommandError(Exception):
    """Bad arguments that argparse cannot catch on its own (exit status 2)."""


USER_ERRORS = (DataError, CheckpointError, ResumeMismatch, ValueError, OSError)
