"""Holding a training job at a step until the test lets it go.

A test that acts on a running job (cancels it, stops or kills its worker, stops the broker)
must not hope the job is still running when it acts: the job waits for it. The gate holds
the training loop before the iteration that follows ``step`` (so exactly ``step`` iterations
are done and every checkpoint up to it has been handed to the writer), tells the test, and
goes on only when the test releases it. On release the job's monitor looks at the job
records at once, so what the test did while the job was held (a cancel, a stopping worker)
takes effect at step ``step + 1``, not whenever the next heartbeat comes.

In the test's own process, ``StepGate`` patches the trainer and the monitor for a ``with``
block. In a worker process the test starts, ``python -m tests.support.gate DIR -- dcgan ARGS...``
installs the same gate before the real ``dcgan`` command runs (Celery's prefork pool inherits
it). It holds nothing until the test arms it (``ProcessGate.arm(*steps)`` writes the steps
into ``DIR/hold``); a held job writes its step into ``DIR/reached`` and goes on once the test
takes that step out of ``hold``.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dcgan_cli.waiting import wait_for
from shared_models.training.trainer import Trainer
from worker.job_monitor import JobMonitor


class _Patches:
    """Trainer.iteration asks ``hold(step)`` before each iteration (it returns once the job
    may go on, True if it held it); each JobMonitor registers itself while it runs."""

    def __init__(self, hold: Callable[[int], bool]) -> None:
        self.hold = hold
        self.monitors: list[JobMonitor] = []
        self.saved: dict[str, Any] = {}

    def install(self) -> None:
        patches = self
        iteration, enter, leave = Trainer.iteration, JobMonitor.__enter__, JobMonitor.__exit__
        self.saved = {"iteration": iteration, "enter": enter, "exit": leave}

        def gated_iteration(trainer: Trainer) -> None:
            if patches.hold(trainer.step):
                for monitor in list(patches.monitors):
                    try:
                        monitor.check()
                    except Exception:  # noqa: BLE001 - as the heartbeat thread: logged, ignored
                        logging.getLogger(__name__).exception("the gate's check failed")
            iteration(trainer)

        def registering_enter(monitor: JobMonitor) -> JobMonitor:
            patches.monitors.append(monitor)
            return enter(monitor)

        def registering_exit(monitor: JobMonitor, *exc: object) -> None:
            patches.monitors.remove(monitor)
            leave(monitor, *exc)

        Trainer.iteration = gated_iteration  # type: ignore[method-assign]
        JobMonitor.__enter__ = registering_enter  # type: ignore[method-assign]
        JobMonitor.__exit__ = registering_exit  # type: ignore[method-assign]

    def remove(self) -> None:
        Trainer.iteration = self.saved["iteration"]  # type: ignore[method-assign]
        JobMonitor.__enter__ = self.saved["enter"]  # type: ignore[method-assign]
        JobMonitor.__exit__ = self.saved["exit"]  # type: ignore[method-assign]


class StepGate:
    """In this process: ``with StepGate(3) as gate: ...; gate.wait_reached(); ...;
    gate.release()``. Leaving the block releases a job still held."""

    def __init__(self, step: int) -> None:
        self.step = step
        self._reached = threading.Event()
        self._released = threading.Event()
        self._patches = _Patches(self._hold)

    def _hold(self, step: int) -> bool:
        if step != self.step or self._released.is_set():
            return False
        self._reached.set()
        self._released.wait()
        return True

    def __enter__(self) -> StepGate:
        self._patches.install()
        return self

    def __exit__(self, *exc: object) -> None:
        self._released.set()
        self._patches.remove()

    @property
    def monitors(self) -> list[JobMonitor]:
        """The monitors of the jobs running in this process now."""
        return list(self._patches.monitors)

    def wait_reached(self, timeout: float = 120) -> None:
        if not self._reached.wait(timeout):
            raise TimeoutError(f"the job did not reach step {self.step} in {timeout}s")

    def release(self) -> None:
        self._released.set()


class ProcessGate:
    """The test's side of the gate in a process it starts (``command``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._hold = folder / "hold"
        self._reached = folder / "reached"

    def command(self, *dcgan_args: str) -> list[str]:
        """The command line that runs ``dcgan *dcgan_args`` behind this gate."""
        return [sys.executable, "-m", "tests.support.gate", str(self.folder), "--", *dcgan_args]

    def arm(self, *steps: int) -> None:
        """Hold the process's jobs at each of ``steps`` until each is released."""
        self._reached.unlink(missing_ok=True)
        self._hold.write_text(" ".join(str(step) for step in steps))

    def was_reached(self) -> bool:
        """Whether a job has reached this gate since it was last armed."""
        return self._reached.exists()

    def wait_reached(self, step: int | None = None, timeout: float = 120) -> int:
        """Wait for a job to be held (at ``step``, when given); the step it is held at."""

        def held() -> int | None:
            try:
                at = int(self._reached.read_text())
            except (FileNotFoundError, ValueError):
                return None
            return at if step is None or at == step else None

        return wait_for(held, timeout, f"a job to be held at step {step or 'its gate'}")

    def release(self, step: int | None = None) -> None:
        """Let go of ``step`` (the job held there goes on), or of every step."""
        if step is None:
            self._hold.unlink(missing_ok=True)
            return
        left = [s for s in _steps(self._hold) if s != step]
        self._hold.write_text(" ".join(str(s) for s in left))


def _steps(hold_file: Path) -> list[int]:
    try:
        return [int(word) for word in hold_file.read_text().split()]
    except (FileNotFoundError, ValueError):
        return []


def _file_hold(folder: Path) -> Callable[[int], bool]:
    hold_file, reached = folder / "hold", folder / "reached"

    def hold(step: int) -> bool:
        if step not in _steps(hold_file):
            return False
        reached.write_text(str(step))
        while step in _steps(hold_file):
            time.sleep(0.02)
        return True

    return hold


def main(argv: list[str]) -> int:
    folder, separator, *dcgan_args = argv
    assert separator == "--", "usage: python -m tests.support.gate DIR -- DCGAN_ARGS..."
    _Patches(_file_hold(Path(folder))).install()
    from dcgan_cli.main import main as dcgan

    return dcgan(dcgan_args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
