"""Whether a .dockerignore leaves a path out of the build context, with Docker's rules."""

from __future__ import annotations

import os
import re

Rule = tuple[bool, re.Pattern[str]]  # (an exception, the path pattern)


def dockerignore_rules(text: str) -> list[Rule]:
    """(exception?, regex) per line, with Docker's syntax: Go's filepath.Match per path
    element (`*` and `?` stop at `/`), `**` for any number of directories, `!` exceptions."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        regex, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                regex, i = regex + pattern[i : end + 1], end + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        rules.append((exception, re.compile(regex)))
    return rules


def excluded(path: str, rules: list[Rule]) -> bool:
    """Whether the build context leaves PATH out: the last rule that matches it or one of
    its parent directories decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for exception, regex in rules:
        if any(regex.fullmatch(candidate) for candidate in candidates):
            result = not exception
    return result
