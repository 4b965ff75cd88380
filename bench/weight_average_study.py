"""The served weights against the live ones: which weight average a run should serve.

Trains one run and, at each length asked, scores the live weights and several averages of
the same run, all kept side by side (the average never touches training, so one run serves
them all): the served default (a window that grows with the run, ``WINDOW_RAMP``), the
constant, bias-corrected decay served before it, the window at other ramps, and a
power-function average (Karras et al. 2024) spanning a fixed share of the run. Scores are
``dcgan eval``'s (Fréchet distance, Inception Score, classes covered; for conditional runs
also the share of digits read as asked), on ``--n`` samples with noise seed 0.

    python -m bench.weight_average_study --seed 0 --lengths 500 1000 2000 5000
    python -m bench.weight_average_study --quick-start --seed 0 --lengths 300 600 1200

Prints one Markdown row per length and weights, and appends them as JSON lines to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import replace
from pathlib import Path

import torch

from jobs.spec import QUICKSTART
from shared_models.config import TrainConfig, network_configs, to_dict
from shared_models.data import load_dataset
from shared_models.evaluation import Evaluator
from shared_models.generator_io import generator_from_weights
from shared_models.training import Trainer
from shared_models.training.averaging import WeightAverage
from shared_models.weight_average import WINDOW_RAMP

log = logging.getLogger("weight_average_study")

OTHER_RAMPS = (10_000, 100_000)
POWER = 9  # EDM2's power-function average with a relative width of about 0.09 of the run


class PowerAverage(WeightAverage):
    """Update t keeps min(decay, (1 - 1/t) ** power): a fixed share of the run, whatever its
    length."""

    def __init__(self, network: torch.nn.Module, decay: float, power: int) -> None:
        super().__init__(network, decay)
        self.power = power

    def step_size(self) -> float:
        return 1 - min(self.decay, (1 - 1 / (self.updates + 1)) ** self.power)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lengths", type=int, nargs="+", default=[500, 1000, 2000, 5000])
    parser.add_argument("--quick-start", action="store_true",
                        help="the quick start's spec (conditional, batch 32, ema 0.99), not "
                             "the tutorial's settings")
    parser.add_argument("--n", type=int, default=10_000, help="samples per score")
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--out", type=Path, default=None, help="append JSON lines here")
    parser.add_argument("--served-only", action="store_true",
                        help="score only the live weights, the served average and the "
                             "constant decay served before it (the other schedules cost a "
                             "score each)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(max(1, torch.get_num_threads()))

    lengths = sorted(set(args.lengths))
    if args.quick_start:
        config = replace(QUICKSTART.train_config(), seed=args.seed, iterations=lengths[-1])
        conditional, setting = True, "quick start"
    else:
        config = TrainConfig(seed=args.seed, iterations=lengths[-1])
        conditional, setting = False, "tutorial"
    device = torch.device("cpu")
    data = load_dataset(config.dataset, args.data_dir, "train")
    evaluator = Evaluator.for_dataset(config.dataset, args.data_dir, device)
    trainer = Trainer(config, *network_configs(conditional), data, device)
    assert trainer.average is not None and trainer.average.window_ramp == WINDOW_RAMP
    others: dict[str, WeightAverage] = {
        f"constant {config.ema_decay:g} (before)": WeightAverage(
            trainer.generator, config.ema_decay, window_ramp=0
        ),
    }
    if not args.served_only:
        others |= {
            f"window ramp {ramp:,}": WeightAverage(trainer.generator, config.ema_decay, ramp)
            for ramp in OTHER_RAMPS
        }
        others[f"power {POWER}"] = PowerAverage(trainer.generator, config.ema_decay, POWER)
    print("| setting | seed | iterations | weights | Fréchet distance | Inception Score | "
          "classes | read as asked |")
    print("|---|---:|---:|---|---:|---:|---:|---:|")
    started = time.perf_counter()
    for length in lengths:
        while trainer.step < length:
            trainer.iteration()
            for average in others.values():
                average.update(trainer.generator)
        log.info("%s seed %d: %d iterations in %.0f s", setting, args.seed, length,
                 time.perf_counter() - started)
        candidates = {
            "live": trainer.generator.state_dict(),
            f"served: window ramp {WINDOW_RAMP:,}": trainer.average.weights,
            **{name: average.weights for name, average in others.items()},
        }
        for name, weights in candidates.items():
            generator = generator_from_weights(
                to_dict(trainer.generator_config), weights, device
            )
            result = evaluator.evaluate_generator(generator, n=args.n, seed=0)
            figures = result.figures()
            row = {
                "setting": setting,
                "seed": args.seed,
                "iterations": length,
                "weights": name,
                "ema_decay": config.ema_decay,
                "batch_size": config.batch_size,
                "noise_seed": figures.pop("seed", 0),
                **figures,
            }
            asked = "—" if result.label_accuracy is None else f"{100 * result.label_accuracy:.1f} %"
            print(f"| {setting} | {args.seed} | {length:,} | {name} | "
                  f"{result.frechet_distance:.2f} | {result.inception_score:.2f} | "
                  f"{result.classes_covered} | {asked} |", flush=True)
            if args.out:
                with args.out.open("a") as out:
                    out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
