"""Running the ``dcgan`` command: its entry point in this process, with the arguments,
environment and working folder a user's shell would give it, or as a real process where the
process itself is what a test is about.

In this process, a command costs what it does and not a Python start (torch's import alone
takes seconds); its exit status, standard output and standard error are what the process
would give. An exception the command does not turn into its one-line error escapes into the
test, where a process would have printed a traceback.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

from dcgan_cli.main import main


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


def dcgan(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Result:
    """``dcgan ARGS...`` run by its ``main`` in this process."""
    out, err = io.StringIO(), io.StringIO()
    folder = contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext()
    with mock.patch.dict(os.environ, env or {}), folder, _root_logger_kept(), \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exit_:  # argparse and the one-line errors exit this way
            code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    return Result(code, out.getvalue(), err.getvalue())


def dcgan_process(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    """``dcgan ARGS...`` as a process of its own, the way a user's shell starts it."""
    command = [sys.executable, "-m", "dcgan_cli.main", *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def assert_one_line_error(result, code: int, *fragments: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    for fragment in fragments:
        assert fragment in last, last


@contextlib.contextmanager
def _root_logger_kept() -> Iterator[None]:
    """The command configures the root logger as a process's own; the test's is put back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
