"""Running commands: logged, with their output captured (or sent to a log file for long
builds), and failures that say which command failed and how it ended."""

from __future__ import annotations

import logging
import shlex
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

log = logging.getLogger("deploy-test")
TAIL_LINES = 40


class CommandFailed(RuntimeError):
    def __init__(self, command: Sequence[str], returncode: int, output: str) -> None:
        tail = "\n".join(output.rstrip().splitlines()[-TAIL_LINES:])
        super().__init__(f"`{shlex.join(command)}` exited {returncode}:\n{tail}")
        self.returncode = returncode
        self.output = output


def run(
    command: Sequence[str], *, env: Mapping[str, str] | None = None, check: bool = True,
    quiet: bool = False, timeout: float | None = None, log_file: Path | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run COMMAND; its output is captured (stdout apart from stderr), or, with LOG_FILE,
    written there as it comes. Raises CommandFailed when CHECK and it fails or times out."""
    (log.debug if quiet else log.info)("$ %s", shlex.join(command))
    started = time.monotonic()
    try:
        if log_file is None:
            done = subprocess.run(command, env=env, capture_output=True, text=True,
                                  timeout=timeout, check=False, cwd=cwd)
        else:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            with log_file.open("w") as out:
                done = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                      text=True, timeout=timeout, check=False, cwd=cwd)
            done.stdout = log_file.read_text(errors="replace")
            done.stderr = ""
    except subprocess.TimeoutExpired as expired:
        output = expired.output or b""
        text = output.decode(errors="replace") if isinstance(output, bytes) else output
        raise CommandFailed(command, -1, f"{text}\n(timed out after {timeout} s)") from None
    elapsed = time.monotonic() - started
    if elapsed > 30:
        log.info("  (%.0f s)", elapsed)
    if check and done.returncode != 0:
        raise CommandFailed(command, done.returncode, f"{done.stdout}\n{done.stderr}")
    return done
