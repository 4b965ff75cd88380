"""The tutorial's suggested study: minibatch size against image quality and training time.

Trains the tutorial's networks at several batch sizes for the same number of training images
(iterations x batch size is held constant, everything else at the tutorial's settings),
then scores each final generator with the project's classifier (Fréchet distance, Inception
Score, classes covered). Prints a Markdown table and writes a PNG plot.

    .venv/bin/python -m bench.minibatch_study [--images 64000] [--batch-sizes 32 64 128 256]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from shared_models.config import DiscriminatorConfig, GeneratorConfig, TrainConfig
from shared_models.data import load_dataset
from shared_models.evaluation import Evaluator
from shared_models.training import Trainer, pick_device

log = logging.getLogger("minibatch_study")


@dataclass
class Row:
    batch_size: int
    iterations: int
    seconds: float
    iterations_per_s: float
    images_per_s: float
    d_loss: float
    g_loss: float
    frechet_distance: float
    inception_score: float
    classes_covered: int


def run_one(batch_size: int, images: int, data, evaluator: Evaluator, device, samples: int,
            seed: int) -> Row:
    iterations = max(1, images // batch_size)
    config = TrainConfig(iterations=iterations, batch_size=batch_size, seed=seed)
    trainer = Trainer(config, GeneratorConfig(), DiscriminatorConfig(), data, device)
    started = time.perf_counter()
    for _ in range(iterations):
        trainer.iteration()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    d_loss, g_loss = trainer.mean_losses(max(0, iterations - max(1, iterations // 25)), iterations)
    scores = evaluator.evaluate_generator(trainer.generator, n=samples, seed=0)
    row = Row(
        batch_size=batch_size,
        iterations=iterations,
        seconds=round(seconds, 1),
        iterations_per_s=round(iterations / seconds, 3),
        images_per_s=round(iterations * batch_size / seconds, 1),
        d_loss=round(d_loss, 3),
        g_loss=round(g_loss, 3),
        frechet_distance=round(scores.frechet_distance, 2),
        inception_score=round(scores.inception_score, 3),
        classes_covered=scores.classes_covered,
    )
    log.info("%s", row)
    return row


def markdown(rows: list[Row], images: int, samples: int) -> str:
    lines = [
        f"Same number of training images per run ({images:,} = iterations × batch size); "
        f"scores on {samples:,} samples.",
        "",
        "| batch size | iterations | wall time (s) | images/s | D loss | G loss | Fréchet "
        "distance ↓ | Inception Score ↑ | classes ≥ 5 % |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.batch_size} | {r.iterations} | {r.seconds:.0f} | {r.images_per_s:.0f} | "
            f"{r.d_loss:.2f} | {r.g_loss:.2f} | {r.frechet_distance:.1f} | "
            f"{r.inception_score:.2f} | {r.classes_covered}/10 |"
        )
    return "\n".join(lines)


def plot(rows: list[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r.batch_size for r in rows]
    figure, (quality, speed) = plt.subplots(1, 2, figsize=(9, 4.2))
    fd_line = quality.plot(sizes, [r.frechet_distance for r in rows], "o-", color="tab:red",
                           label="Fréchet distance (left, lower is better)")
    quality.set_xscale("log", base=2)
    quality.set_xticks(sizes, [str(s) for s in sizes])
    quality.set_xlabel("minibatch size")
    quality.set_ylabel("Fréchet distance", color="tab:red")
    score = quality.twinx()
    is_line = score.plot(sizes, [r.inception_score for r in rows], "s--", color="tab:blue",
                         label="Inception Score (right, higher is better)")
    score.set_ylabel("Inception Score", color="tab:blue")
    quality.legend(handles=fd_line + is_line, loc="upper center", bbox_to_anchor=(0.5, -0.2),
                   fontsize="small")
    positions = range(len(rows))
    speed.bar(positions, [r.seconds for r in rows], color="tab:gray")
    speed.set_xticks(positions, [str(s) for s in sizes])
    speed.set_xlabel("minibatch size")
    speed.set_ylabel("wall time (s)")
    figure.suptitle("Same number of training images, tutorial settings otherwise")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64_000)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--samples", type=int, default=2_000, help="samples scored per run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--plot", type=Path, default=Path("docs/minibatch_study.png"))
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    device = pick_device(args.device)
    data = load_dataset("mnist", args.data_dir)
    evaluator = Evaluator.for_dataset("mnist", args.data_dir)
    rows = [
        run_one(size, args.images, data, evaluator, device, args.samples, args.seed)
        for size in args.batch_sizes
    ]
    print(markdown(rows, args.images, args.samples))
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    plot(rows, args.plot)
    print(f"\nplot: {args.plot}")
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in rows], indent=2))


if __name__ == "__main__":
    main()
