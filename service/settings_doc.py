"""The settings table of docs/settings.md, made from the settings classes themselves:
``python -m service.settings_doc`` rewrites it (a test fails when the page and the classes
differ)."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Any

from core.settings import Settings
from service.settings import ServiceSettings

PAGE = Path(__file__).resolve().parent.parent / "docs" / "settings.md"
BEGIN = "<!-- the table below is made by: python -m service.settings_doc -->"
END = "<!-- end of the made table -->"


def shown(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return ",".join(str(item) for item in value)
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def table() -> str:
    """One row per environment variable: its default, which processes read it, its meaning."""
    shared = set(Settings.model_fields)
    lines = ["| variable | default | read by | meaning |", "|---|---|---|---|"]
    for name, field in ServiceSettings.model_fields.items():
        who = "API and workers" if name in shared else "API"
        default = shown(field.get_default(call_default_factory=True))
        lines.append(f"| `{field.validation_alias}` | `{default}` | {who} | "
                     f"{field.description} |")
    return "\n".join(lines)


def with_table(page: str) -> str:
    """``page`` with the text between the markers replaced by the table."""
    head, _, rest = page.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


def main() -> int:
    PAGE.write_text(with_table(PAGE.read_text()))
    sys.stdout.write(f"wrote the settings table of {PAGE}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
