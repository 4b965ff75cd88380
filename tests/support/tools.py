"""Finding the command-line tools the dev extra installs."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def installed_tool(name: str) -> str:
    """A command of the dev extra: next to this interpreter, else on PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    assert found, f"`{name}` is missing: install the dev extra (pip install -e '.[dev]')"
    return found
