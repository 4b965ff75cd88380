"""Scoring published checkpoints in a process of its own, off the training loop.

The training loop hands each checkpoint's models-row id to a scorer process and goes on; the
scorer loads the serving artifact (from the store, as the API does), draws
``DCGAN_EVAL_SAMPLES`` samples, scores them with the cached classifier and writes the figures
into the models table and the job's progress. It runs at a lower CPU priority with one thread,
so on a CPU host training keeps the cores it needs, and it is a plain child process (not
forked from a CUDA process). Scores are a by-product: a failure is logged and recorded with
the checkpoint, never fails the job; scores still pending when the worker stops are dropped.

``python -m worker.scorer`` reads the settings as one JSON line on stdin, then one
``{"job": ..., "model": ..., "trace": ...}`` line per checkpoint (``trace``: the submitting
span's trace-context headers, the parent of the scoring's span; empty when tracing is off).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from typing import IO, Any

from core import tracing
from core.logs import configure_logging
from core.settings import Settings

log = logging.getLogger(__name__)


class ScorerProcess:
    """The training side: starts the scorer on first use and hands it checkpoints."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def submit(self, job_id: str, model_id: str) -> None:
        if self.settings.eval_samples < 2:
            return
        with self._lock:
            stdin = self._running()
            try:
                request = {"job": job_id, "model": model_id, "trace": tracing.carrier()}
                stdin.write(json.dumps(request) + "\n")
                stdin.flush()
            except (BrokenPipeError, OSError):
                log.warning("the scorer process stopped: %s is not scored", model_id)
                self._process = None

    def close(self, timeout_s: float = 30.0) -> None:
        """Let the scorer finish what it holds (its stdin ends), killed after ``timeout_s``."""
        with self._lock:
            process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("the scorer did not finish within %.0fs: stopped", timeout_s)
            process.kill()
            process.wait()

    def _running(self) -> IO[str]:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "worker.scorer"], stdin=subprocess.PIPE, text=True
            )
            assert self._process.stdin is not None
            self._process.stdin.write(self.settings.model_dump_json() + "\n")
        assert self._process.stdin is not None
        return self._process.stdin


def serve(settings: Settings, requests: IO[str]) -> None:
    """The scorer's loop: score each requested checkpoint until stdin closes."""
    # deferred: the training side imports this module, and must not load the evaluation
    from worker.checkpoint_scores import CheckpointScorer

    scorer = CheckpointScorer(settings)
    try:
        for line in requests:
            request: dict[str, Any] = json.loads(line)
            with tracing.span("checkpoint.score", request.get("trace"), job=request["job"],
                              model=request["model"]):
                scorer.score(request["job"], request["model"])
    finally:
        scorer.close()


def main() -> None:

    settings = Settings.model_validate_json(sys.stdin.readline())
    configure_logging(settings.log_format or "json")
    os.nice(10)  # the training loop comes first
    import torch

    torch.set_num_threads(1)
    tracing.configure("dcgan-scorer")
    serve(settings, sys.stdin)
    tracing.flush()


if __name__ == "__main__":
    main()
