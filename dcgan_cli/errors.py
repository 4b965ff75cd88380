"""Errors the CLI reports as one line instead of a traceback."""

from __future__ import annotations

from shared_models.data import DataError
from shared_models.training import ResumeMismatch
from shared_models.verified_files import VerifiedFileError


class CommandError(Exception):
    """Bad arguments that argparse cannot catch on its own (exit status 2)."""


# VerifiedFileError: a checkpoint, cached classifier or model folder that is missing or damaged
USER_ERRORS = (DataError, VerifiedFileError, ResumeMismatch, ValueError, OSError)
