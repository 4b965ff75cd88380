"""``dcgan train``: run the tutorial's training schedule into a run folder."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from pathlib import Path

from tqdm import tqdm

from dcgan_cli.errors import CommandError
from dcgan_cli.options import add_data_dir_option, data_dir
from dcgan_cli.spec_options import add_spec_options, given_options
from jobs.spec import JobSpec
from shared_models.checkpoint import iter_manifests, newest_checkpoint
from shared_models.config import (
    MAX_SEED,
    DiscriminatorConfig,
    GeneratorConfig,
    TrainConfig,
    from_dict,
    with_overrides,
)
from shared_models.data import load_dataset
from shared_models.training import Progress, Trainer, TrainHooks, pick_device, train


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
    given = given_options(args)
    if not args.resume and any(iter_manifests(args.out)):
        raise CommandError(
            f"{args.out} already holds checkpoints: pass --resume to continue, "
            "or choose another --out"
        )
    start = newest_checkpoint(args.out) if args.resume else None
    if start is not None:
        # only the options given override the saved configuration
        given.pop("conditional", None)  # the architecture is the checkpoint's
        config = with_overrides(from_dict(TrainConfig, start.state["train_config"]), **given)
        generator_config = from_dict(GeneratorConfig, start.state["generator_config"])
        discriminator_config = from_dict(DiscriminatorConfig, start.state["discriminator_config"])
    else:
        spec = JobSpec.model_validate(given)
        if spec.seed is None:
            spec = spec.with_seed(secrets.randbelow(MAX_SEED))
        config = spec.train_config()
        generator_config, discriminator_config = spec.network_configs()
    data = load_dataset(config.dataset, data_dir(args))
    display = ProgressDisplay(config.iterations)
    hooks = TrainHooks(
        on_start=display.start,
        on_progress=display.progress,
        on_log=display.log,
        progress_every_s=0.5,
    )
    try:
        result = train(
            config,
            data,
            args.out,
            generator_config=generator_config,
            discriminator_config=discriminator_config,
            device=pick_device(args.device),
            start=start,
            hooks=hooks,
        )
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
