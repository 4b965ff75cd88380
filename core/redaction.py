"""Text that leaves a server (an error in a job record, a model's reason for being invalid)
says which file, never where the server keeps it: absolute paths lose their folders."""

from __future__ import annotations

import re

# an absolute path's folders: "/" not inside a word, a URL or a relative path, then segments
FOLDERS = re.compile(r"(?<![\w.:/~-])/(?:[^/\s:'\"()\[\],]+/)+")


def redact_paths(text: str) -> str:
    """``text`` with every absolute path cut to its last part (``/srv/runs/x/step.pt`` ->
    ``step.pt``); URLs and relative paths are left as they are."""
    return FOLDERS.sub("", text)
