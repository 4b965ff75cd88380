"""Checkpoints written beside training instead of in its way.

Saving takes a copy of the training state on the CPU (a device-to-host copy on a GPU, a
memory copy on the CPU: milliseconds for the ~100 MB state) and hands it to a writer thread,
which serialises it, writes it atomically, runs the checkpoint hook (a worker publishes the
checkpoint there) and prunes old ones, while the training loop goes on with the next
iteration. One write runs at a time and in order: a save waits for the previous write first.
A write that fails is raised on the training thread at the next save or at ``wait()``. The
writer thread runs in a copy of the saving thread's context variables, so what the hook
logs and traces belongs to the job that saved; ``scope`` (given the step) wraps the writing
of the file itself, e.g. in a tracing span.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import torch

from shared_models.checkpoint import (
    CheckpointError,
    Manifest,
    checkpoint_path,
    prune_checkpoints,
    save_checkpoint,
)

Hook = Callable[[Manifest, dict[str, Any]], None]
Scope = Callable[[int], AbstractContextManager[object]]


def host_copy(value: Any) -> Any:
    """``value`` with every tensor copied to the CPU, detached: a snapshot training cannot
    change afterwards."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {key: host_copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(host_copy(item) for item in value)
    return value


class CheckpointWriter:
    def __init__(
        self, run_dir: Path, keep: int, hook: Hook | None = None, scope: Scope | None = None
    ) -> None:
        self.run_dir = run_dir
        self.keep = keep
        self.hook = hook
        self.scope = scope
        self.stalls_s: list[float] = []  # time the training thread spent in each save
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._last: Manifest | None = None

    def save(self, state: dict[str, Any], final: bool, extra: dict[str, Any]) -> Path:
        """Snapshot ``state`` and write it in the background; the path it will have."""
        started = time.perf_counter()
        self.wait()
        snapshot = host_copy(state)
        self._thread = threading.Thread(
            target=contextvars.copy_context().run, args=(self._write, snapshot, final, extra),
            name="checkpoint-writer",
        )
        self._thread.start()
        self.stalls_s.append(time.perf_counter() - started)
        return checkpoint_path(self.run_dir, int(state["step"]))

    def wait(self) -> Manifest | None:
        """Wait for the write in progress; raise its error. The last manifest written."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return self._last

    def _write(self, state: dict[str, Any], final: bool, extra: dict[str, Any]) -> None:
        try:
            with self.scope(int(state["step"])) if self.scope else nullcontext():
                manifest = _save(state, self.run_dir, final, extra)
            if self.hook is not None:
                self.hook(manifest, state)
            prune_checkpoints(self.run_dir, self.keep)
            self._last = manifest
        except BaseException as error:  # noqa: BLE001 - raised again on the training thread
            self._error = error


def _save(state: dict[str, Any], run_dir: Path, final: bool, extra: dict) -> Manifest:
    step = int(state["step"])
    path = checkpoint_path(run_dir, step)
    try:
        return save_checkpoint(state, path, final=final, extra=extra)
    except OSError as error:
        raise CheckpointError(
            f"could not write checkpoint {path} at step {step}: "
            f"{error.strerror or error}; the previous checkpoint is intact"
        ) from error
