"""Errors the CLI reports as one line instead of a traceback."""

from __future__ import annotations


class CommandError(Exception):
    """Bad arguments that argparse cannot catch on its own (exit status 2)."""


def user_errors() -> tuple[type[BaseException], ...]:
    """What a command raises for bad input or a bad file: reported in one line. A
    VerifiedFileError is a checkpoint, cached classifier or model folder that is missing or
    damaged."""
    # deferred: these modules import torch, which only the commands that run need
    from shared_models.data import DataError
    from shared_models.training import ResumeMismatch
    from shared_models.verified_files import VerifiedFileError

    return (DataError, VerifiedFileError, ResumeMismatch, ValueError, OSError)
