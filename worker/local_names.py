"""The node names of the workers running on this host, kept as empty files in the scratch
folder (``$DCGAN_RUNS_DIR/.workers/<name>``), so ``dcgan worker-ping`` can ask exactly them
and stop at their answers instead of waiting out a broadcast to the whole cluster."""

from __future__ import annotations

from pathlib import Path

FOLDER = ".workers"


class LocalWorkerNames:
    def __init__(self, runs_dir: Path) -> None:
        self.folder = runs_dir / FOLDER

    def add(self, name: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / name).touch()

    def remove(self, name: str) -> None:
        (self.folder / name).unlink(missing_ok=True)

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(path.name for path in self.folder.iterdir() if "@" in path.name)
