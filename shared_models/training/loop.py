"""The training run: resume, iterate, report, checkpoint, stop on request.

``train`` is what the CLI and the Celery task both call. It owns the run folder
(``<run_dir>/checkpoints/``); everything about how progress is shown or stored is left to the
caller's hooks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch

from shared_models.checkpoint import (
    LoadedCheckpoint,
    Manifest,
    remove_stale_temp_files,
)
from shared_models.config import (
    DiscriminatorConfig,
    GeneratorConfig,
    TrainConfig,
    from_dict,
)
from shared_models.data.datasets import ImageData
from shared_models.training.checkpoint_writer import CheckpointWriter, Scope
from shared_models.training.trainer import Trainer

log = logging.getLogger(__name__)

# TrainConfig fields that only steer the run, not the arithmetic: a resumed run may change them.
# (precision and compile too: a run resumed on another device may resolve them differently;
# each session is recorded as a segment of its own)
RUNTIME_FIELDS = {
    "iterations", "checkpoint_every", "keep_checkpoints", "log_every", "precision", "compile",
}


class ResumeMismatch(ValueError):
    """The requested configuration differs from the checkpoint being resumed."""


@dataclass(frozen=True)
class Progress:
    step: int
    total: int
    iterations_per_s: float  # over this session
    d_loss: float  # mean over the iterations since the previous report
    g_loss: float

    @property
    def eta_s(self) -> float | None:
        if self.iterations_per_s <= 0:
            return None
        return (self.total - self.step) / self.iterations_per_s


@dataclass(frozen=True)
class TrainResult:
    step: int
    iterations: int
    seconds: float
    iterations_per_s: float
    d_loss: float | None
    g_loss: float | None
    checkpoint: Path | None
    stopped: bool
    device: str
    # seconds the training loop waited in each checkpoint save of this session
    checkpoint_stalls_s: tuple[float, ...] = ()


@dataclass(frozen=True)
class SavedCheckpoint:
    """A checkpoint just written: its manifest and the state it holds (still in memory, so
    whoever publishes or scores it need not read the file back)."""

    manifest: Manifest
    state: dict[str, Any]


@dataclass
class TrainHooks:
    should_stop: Callable[[], bool] | None = None  # checked before every iteration
    # at most every progress_every_s, and at every periodic checkpoint
    on_progress: Callable[[Progress], None] | None = None
    on_log: Callable[[Progress], None] | None = None  # the tutorial's printouts
    on_checkpoint: Callable[[SavedCheckpoint], None] | None = None
    # wraps the writing of each checkpoint's file (on the writer thread), given its step: e.g.
    # a tracing span
    checkpoint_scope: Scope | None = None
    on_start: Callable[[Trainer], None] | None = None
    # asked when a run stops early; False skips the stop checkpoint (e.g. another worker owns
    # the run now)
    checkpoint_on_stop: Callable[[], bool] | None = None
    progress_every_s: float = 1.0


def train(
    train_config: TrainConfig,
    data: ImageData,
    run_dir: Path,
    *,
    generator_config: GeneratorConfig | None = None,
    discriminator_config: DiscriminatorConfig | None = None,
    device: torch.device | None = None,
    start: LoadedCheckpoint | None = None,
    hooks: TrainHooks | None = None,
) -> TrainResult:
    """Train into ``run_dir``, from scratch or from ``start`` (the run's newest checkpoint, as
    :func:`shared_models.checkpoint.newest_checkpoint` loaded it: the file is read once)."""
    hooks = hooks or TrainHooks()
    device = device or torch.device("cpu")
    generator_config = generator_config or GeneratorConfig()
    discriminator_config = discriminator_config or DiscriminatorConfig()
    run_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(run_dir)

    if start is not None:
        check_resumable(start.state, train_config, generator_config, discriminator_config)
        trainer = Trainer.from_state(start.state, data, device, train_config)
        log.info("resuming %s from step %d (%s)", run_dir, trainer.step, start.manifest.path.name)
        if trainer.step == train_config.iterations and start.manifest.final:
            return _finished_result(trainer, start.manifest.path, device)
    else:
        trainer = Trainer(train_config, generator_config, discriminator_config, data, device)
    return _run(trainer, run_dir, hooks, start.manifest.path if start else None)


def check_resumable(
    state: dict,
    train_config: TrainConfig,
    generator_config: GeneratorConfig,
    discriminator_config: DiscriminatorConfig,
) -> None:
    saved = from_dict(TrainConfig, state["train_config"])
    differences = [
        f"{f.name}: checkpoint {getattr(saved, f.name)!r}, "
        f"requested {getattr(train_config, f.name)!r}"
        for f in fields(TrainConfig)
        if f.name not in RUNTIME_FIELDS and getattr(saved, f.name) != getattr(train_config, f.name)
    ]
    # the conditional networks' label maps and projection head are no setting of a run: a run
    # begun without them resumes without them
    saved_generator = from_dict(GeneratorConfig, state["generator_config"])
    if saved_generator != replace(generator_config, label_maps=saved_generator.label_maps):
        differences.append("generator architecture")
    saved_discriminator = from_dict(DiscriminatorConfig, state["discriminator_config"])
    asked = replace(discriminator_config, projection=saved_discriminator.projection)
    if saved_discriminator != asked:
        differences.append("discriminator architecture")
    if int(state["step"]) > train_config.iterations:
        differences.append(
            f"iterations: checkpoint is already at step {state['step']}, "
            f"requested {train_config.iterations}"
        )
    if differences:
        raise ResumeMismatch("cannot resume: " + "; ".join(differences))


def _run(
    trainer: Trainer, run_dir: Path, hooks: TrainHooks, checkpoint: Path | None
) -> TrainResult:
    config = trainer.config
    if hooks.on_start:
        hooks.on_start(trainer)
    start_step = trainer.step
    # a resumed run's checkpoint counts as saved, unless the run is complete and needs its final
    last_saved_step = trainer.step if checkpoint and trainer.step < config.iterations else -1
    log_from = report_from = start_step
    started = time.perf_counter()
    next_report = started + hooks.progress_every_s
    stopped = False

    def progress(since: int) -> Progress:
        elapsed = time.perf_counter() - started
        done = trainer.step - start_step
        d, g = trainer.mean_losses(since, trainer.step) if trainer.step > since else (0.0, 0.0)
        rate = done / elapsed if elapsed > 0 else 0.0
        return Progress(trainer.step, config.iterations, rate, d, g)

    def on_written(manifest: Manifest, state: dict[str, Any]) -> None:
        if hooks.on_checkpoint:
            hooks.on_checkpoint(SavedCheckpoint(manifest, state))

    writer = CheckpointWriter(run_dir, config.keep_checkpoints, on_written, hooks.checkpoint_scope)

    def save(final: bool, **extra: object) -> None:
        nonlocal checkpoint, last_saved_step
        trainer.elapsed_s = session_base + time.perf_counter() - started
        checkpoint = writer.save(trainer.state_dict(), final, extra)
        last_saved_step = trainer.step

    session_base = trainer.elapsed_s
    while trainer.step < config.iterations:
        if hooks.should_stop and hooks.should_stop():
            stopped = True
            break
        trainer.iteration()
        step = trainer.step
        if step % config.log_interval == 0 and hooks.on_log:
            hooks.on_log(progress(log_from))
            log_from = step
        periodic = config.checkpoint_every and step % config.checkpoint_every == 0
        if periodic and step < config.iterations:
            save(final=False)
        now = time.perf_counter()
        # at most once a period, and at every checkpoint: the reported step then matches the
        # newest checkpoint's however fast the iterations are
        if hooks.on_progress and (now >= next_report or step == config.iterations or periodic):
            hooks.on_progress(progress(report_from))
            report_from, next_report = step, now + hooks.progress_every_s

    keep = not stopped or hooks.checkpoint_on_stop is None or hooks.checkpoint_on_stop()
    if trainer.step != last_saved_step and keep:
        save(final=not stopped, **({"stopped": True} if stopped else {}))
    writer.wait()  # the last checkpoint is complete (and published) before the run ends
    seconds = time.perf_counter() - started
    done = trainer.step - start_step
    tail = max(start_step, trainer.step - config.log_interval)
    d, g = trainer.mean_losses(tail, trainer.step) if trainer.step > tail else (None, None)
    return TrainResult(
        step=trainer.step,
        iterations=config.iterations,
        seconds=seconds,
        iterations_per_s=done / seconds if seconds > 0 else 0.0,
        d_loss=d,
        g_loss=g,
        checkpoint=checkpoint,
        stopped=stopped,
        device=trainer.device.type,
        checkpoint_stalls_s=tuple(writer.stalls_s),
    )



def _finished_result(trainer: Trainer, checkpoint: Path, device: torch.device) -> TrainResult:
    tail = max(0, trainer.step - trainer.config.log_interval)
    d, g = trainer.mean_losses(tail, trainer.step)
    return TrainResult(
        step=trainer.step,
        iterations=trainer.config.iterations,
        seconds=0.0,
        iterations_per_s=0.0,
        d_loss=d,
        g_loss=g,
        checkpoint=checkpoint,
        stopped=False,
        device=device.type,
    )
