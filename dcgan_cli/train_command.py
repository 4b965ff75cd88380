"""``dcgan train``: run the tutorial's training schedule into a run folder."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from dcgan_cli.errors import CommandError
from dcgan_cli.options import add_data_dir_option, data_dir
from dcgan_cli.spec_options import add_spec_options, given_options
from jobs.spec import JobSpec

if TYPE_CHECKING:
    from shared_models.training import Progress, Trainer


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train the DCGAN")
    parser.add_argument("--out", type=Path, required=True, help="run folder for checkpoints")
    add_spec_options(parser)
    parser.add_argument("--resume", action="store_true", help="continue from --out's checkpoint")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when present)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    add_data_dir_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # deferred: torch loads when the command runs, not when the CLI parses its arguments
    from shared_models.data import load_dataset
    from shared_models.training import TrainHooks, pick_device
    from shared_models.training.run_folder import RunFolderInUse, plan_run, run

    given = given_options(args)
    spec = JobSpec.model_validate(given).seeded()
    for architecture in ("conditional", "network_size"):  # a resumed run keeps its own
        given.pop(architecture, None)
    try:
        plan = plan_run(args.out, spec.train_config(), *spec.network_configs(),
                        resume=args.resume, overrides=given if args.resume else None)
    except RunFolderInUse as error:
        raise CommandError(str(error)) from None
    config = plan.config
    data = load_dataset(config.dataset, data_dir(args))
    display = ProgressDisplay(config.iterations)
    hooks = TrainHooks(
        on_start=display.start,
        on_progress=display.progress,
        on_log=display.log,
        progress_every_s=0.5,
    )
    try:
        result = run(plan, data, pick_device(args.device), hooks)
    finally:
        display.close()
    summary = {
        "iterations": result.step,
        "seconds": round(result.seconds, 3),
        "iterations_per_s": round(result.iterations_per_s, 4),
        "d_loss": result.d_loss,
        "g_loss": result.g_loss,
        "seed": config.seed,
        "checkpoint": str(result.checkpoint) if result.checkpoint else None,
    }
    if args.json:
        sys.stdout.write(json.dumps(summary) + "\n")
    else:
        sys.stdout.write(
            f"trained to iteration {result.step} in {result.seconds:.1f}s "
            f"({result.iterations_per_s:.2f} it/s on {result.device}, seed {config.seed}); "
            f"checkpoint: {summary['checkpoint']}\n"
        )
    return 0


class ProgressDisplay:
    """A tqdm bar (rate, ETA, D/G losses) plus the tutorial's 25 loss lines."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.bar: tqdm | None = None
        self.logged_to = 0

    def start(self, trainer: Trainer) -> None:
        self.logged_to = trainer.step
        self.bar = tqdm(
            total=self.total,
            initial=trainer.step,
            unit="it",
            dynamic_ncols=True,
            file=sys.stderr,
            desc=f"train ({trainer.device.type})",
        )

    def progress(self, progress: Progress) -> None:
        if self.bar is not None:
            self.bar.update(progress.step - self.bar.n)
            self.bar.set_postfix(D=f"{progress.d_loss:.3f}", G=f"{progress.g_loss:.3f}")

    def log(self, progress: Progress) -> None:
        line = (
            f"Minibatch {self.logged_to + 1}-{progress.step}: "
            f"D loss {progress.d_loss:.2f}, G loss {progress.g_loss:.2f}"
        )
        self.logged_to = progress.step
        tqdm.write(line, file=sys.stdout)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
