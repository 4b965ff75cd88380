"""Running the ``dcgan`` command as a user does: a real process."""

import os
import subprocess
import sys
from pathlib import Path


def dcgan(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
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
