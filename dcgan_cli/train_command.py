"""``dcgan train``: run the tutorial's training schedule into a run folder."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from dcgan_cli.errors import CommandError
from dcgan_cli.options import add_data_options, data_dir, non_negative_int, positive_int
from shared_models.checkpoint import iter_manifests, latest_checkpoint, load_checkpoint
from shared_models.config import (
    FAST_ITERATIONS,
    NUM_CLASSES,
    SLOW_ITERATIONS,
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
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--iterations", type=positive_int, help="number of iterations")
    length.add_argument(
        "--fast",
        action="store_const",
        dest="iterations",
        const=FAST_ITERATIONS,
        help=f"the tutorial's fast mode ({FAST_ITERATIONS} iterations, the default)",
    )
    length.add_argument(
        "--slow",
        action="store_const",
        dest="iterations",
        const=SLOW_ITERATIONS,
        help=f"the tutorial's slow mode ({SLOW_ITERATIONS} iterations)",
    )
    parser.add_argument("--batch-size", type=positive_int, help="minibatch size (128)")
    parser.add_argument("--seed", type=non_negative_int, help="random seed (0)")
    parser.add_argument("--lr", type=float, help="Adam learning rate (0.0002)")
    parser.add_argument("--beta1", type=float, help="Adam beta1 (0.5)")
    parser.add_argument("--k", type=positive_int, help="discriminator steps per iteration (2)")
    parser.add_argument(
        "--checkpoint-every",
        type=non_negative_int,
        help="also checkpoint every N iterations (default: only at the end)",
    )
    parser.add_argument(
        "--conditional", action="store_true",
        help="train a class-conditional generator (labels fed to both networks)",
    )
    parser.add_argument(
        "--ema-decay",
        type=float,
        help="keep a moving average of the generator's weights with this decay (e.g. 0.999) "
        "and serve it; 0, the default, keeps the tutorial's plain weights",
    )
    parser.add_argument("--resume", action="store_true", help="continue from --out's checkpoint")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when present)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    add_data_options(parser, dataset_default=None)
    parser.set_defaults(run=run)


def explicit_overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "iterations": args.iterations,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "lr": args.lr,
        "beta1": args.beta1,
        "k": args.k,
        "checkpoint_every": args.checkpoint_every,
        "ema_decay": args.ema_decay,
        "dataset": args.dataset,
    }


def run(args: argparse.Namespace) -> int:
    base = TrainConfig()
    generator_config, discriminator_config = GeneratorConfig(), DiscriminatorConfig()
    latest = latest_checkpoint(args.out)
    if args.resume and latest is not None:
        state, _ = load_checkpoint(latest.path)
        base = from_dict(TrainConfig, state["train_config"])
        generator_config = from_dict(GeneratorConfig, state["generator_config"])
        discriminator_config = from_dict(DiscriminatorConfig, state["discriminator_config"])
    elif args.conditional:
        generator_config = GeneratorConfig(num_classes=NUM_CLASSES)
        discriminator_config = DiscriminatorConfig(num_classes=NUM_CLASSES)
    if not args.resume and any(iter_manifests(args.out)):
        raise CommandError(
            f"{args.out} already holds checkpoints: pass --resume to continue, "
            "or choose another --out"
        )
    config = with_overrides(base, **explicit_overrides(args))
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
            resume=args.resume,
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
        "checkpoint": str(result.checkpoint) if result.checkpoint else None,
    }
    if args.json:
        sys.stdout.write(json.dumps(summary) + "\n")
    else:
        sys.stdout.write(
            f"trained to iteration {result.step} in {result.seconds:.1f}s "
            f"({result.iterations_per_s:.2f} it/s on {result.device}); "
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
