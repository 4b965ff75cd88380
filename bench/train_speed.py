"""Training speed: the project's Trainer against the plain eager yardstick (bench/naive.py).

Both train the tutorial's networks (or, with --network-size, a narrower form of them) with
its schedule (k=2 discriminator steps, 2 generator steps per iteration) on real MNIST, at the
same batch size, on the same device, in one process. Their timed blocks alternate (A B, B A,
A B, ...; warm-up excluded), so a busy shared machine slows both alike; the ratio reported is
the median of the per-repeat ratios.

Also printed: the work per iteration (matrix-multiply and convolution FLOPs of one project
iteration, counted by torch.utils.flop_counter.FlopCounterMode; elementwise work is not
counted), the GFLOP/s each reaches, the machine's float32 peak measured in the same run (a
large matmul), and the project trainer's iterations/s and images/s (iterations x batch
size per second) across batch sizes, the sizes interleaved the same way.

    .venv/bin/python -m bench.train_speed [--device cpu|cuda] [--batch-size 128]
        [--repeats 10] [--iterations-per-repeat 2] [--warmup 2] [--sizes 32 64 ... | --no-sizes]
        [--compile] [--precision auto|float32|bfloat16] [--full-run N] [--json] [--json-out F]

Figures only, no thresholds: they depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.naive import NaiveTrainer
from shared_models.config import (
    NETWORK_SIZES,
    PRECISIONS,
    TrainConfig,
    bounds_of,
    network_configs,
)
from shared_models.data import ImageData, load_dataset
from shared_models.training import (
    Progress,
    Trainer,
    TrainHooks,
    describe_device,
    pick_device,
    train,
)
from shared_models.training.setup import resolve_precision
from shared_models.training.steps import autocast_dtype

SIZES = (32, 64, 128, 256, 512, 1024)
MAX_ITERATIONS = int(bounds_of("iterations").le or 1)


@dataclass
class Timing:
    name: str
    seconds_per_iteration: list[float]  # one per repeat

    @property
    def best_iterations_per_s(self) -> float:
        return 1.0 / min(self.seconds_per_iteration)

    @property
    def median_iterations_per_s(self) -> float:
        return 1.0 / statistics.median(self.seconds_per_iteration)


class OtherLoad:
    """How much of the machine's CPU time went to other processes between start and stop.

    A busy shared machine slows the timed blocks unevenly; this says how busy it was.
    Linux only (``/proc/stat``); None elsewhere.
    """

    def __init__(self) -> None:
        self.start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        try:
            fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        except (OSError, ValueError):
            return None
        busy = sum(fields) - fields[3] - fields[4]  # all but idle and iowait
        own = os.times()
        return busy / os.sysconf("SC_CLK_TCK"), own.user + own.system, time.perf_counter()

    def share(self) -> float | None:
        end = self._sample()
        if self.start is None or end is None:
            return None
        busy, own, wall = (b - a for a, b in zip(self.start, end, strict=True))
        return max(0.0, (busy - own) / ((os.cpu_count() or 1) * wall))


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_gflops(device: torch.device, dtype: torch.dtype = torch.float32) -> float:
    """Best of several large square matmuls: what this device's GEMM reaches right now."""
    n = 4096 if device.type == "cuda" else 1024
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(8):
        synchronize(device)
        start = time.perf_counter()
        for _ in range(4 if device.type == "cuda" else 1):
            a @ b
        synchronize(device)
        best = min(best, (time.perf_counter() - start) / (4 if device.type == "cuda" else 1))
    return 2 * n**3 / best / 1e9


def flops_per_iteration(make: Callable[[], Trainer | NaiveTrainer]) -> int:
    trainer = make()
    trainer.iteration()  # warm: lazy state (Adam's buffers) is not part of the count
    counter = FlopCounterMode(display=False)
    with counter:
        trainer.iteration()
    return int(counter.get_total_flops())


def time_block(trainer: Trainer | NaiveTrainer, iterations: int, device: torch.device) -> float:
    synchronize(device)
    start = time.perf_counter()
    for _ in range(iterations):
        trainer.iteration()
    synchronize(device)
    return (time.perf_counter() - start) / iterations


def interleaved(
    trainers: dict[str, Trainer | NaiveTrainer],
    repeats: int,
    iterations: int,
    device: torch.device,
) -> dict[str, Timing]:
    """Each repeat times every trainer once; the order reverses every other repeat."""
    timings = {name: Timing(name, []) for name in trainers}
    names = list(trainers)
    for repeat in range(repeats):
        for name in names if repeat % 2 == 0 else reversed(names):
            timings[name].seconds_per_iteration.append(
                time_block(trainers[name], iterations, device)
            )
    return timings


def train_config(args: argparse.Namespace, batch_size: int) -> TrainConfig:
    return TrainConfig(
        iterations=MAX_ITERATIONS,  # the history is preallocated; nothing here runs that long
        batch_size=batch_size,
        precision=args.precision,
        compile=args.compile,
    )


def warm_up(trainer: Trainer | NaiveTrainer, iterations: int, device: torch.device) -> float:
    """Seconds of the first iteration (compilation, when on), then a few more untimed."""
    first = time_block(trainer, 1, device)
    for _ in range(max(0, iterations - 1)):
        trainer.iteration()
    synchronize(device)
    return first


def compare(args: argparse.Namespace, data: ImageData, device: torch.device) -> dict[str, Any]:
    gcfg, dcfg = network_configs(False, args.network_size)
    config = train_config(args, args.batch_size)
    trainers: dict[str, Trainer | NaiveTrainer] = {
        "naive": NaiveTrainer(config, gcfg, dcfg, data.images, device),
        "project": Trainer(config, gcfg, dcfg, data, device),
    }
    first_s = {name: warm_up(t, args.warmup, device) for name, t in trainers.items()}
    peak_before = peak_gflops(device)
    load = OtherLoad()
    timings = interleaved(trainers, args.repeats, args.iterations_per_repeat, device)
    others = load.share()
    peak = max(peak_before, peak_gflops(device))
    project_dtype = autocast_dtype(resolve_precision(args.precision, device, args.compile))
    project_peak = peak if project_dtype is None else peak_gflops(device, project_dtype)
    naive, project = timings["naive"], timings["project"]
    ratios = [
        n / p
        for n, p in zip(naive.seconds_per_iteration, project.seconds_per_iteration, strict=True)
    ]
    # counted eagerly (a compiled trainer hides its kernels from the counter): same arithmetic
    eager = argparse.Namespace(**{**vars(args), "compile": False})
    flops = flops_per_iteration(
        lambda: Trainer(train_config(eager, args.batch_size), gcfg, dcfg, data, device)
    )
    naive_flops = flops_per_iteration(lambda: NaiveTrainer(config, gcfg, dcfg, data.images, device))
    result: dict[str, Any] = {
        "device": describe_device(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch_size": args.batch_size,
        "network_size": args.network_size,
        "precision": args.precision,
        "compile": args.compile,
        "repeats": args.repeats,
        "iterations_per_repeat": args.iterations_per_repeat,
        "first_iteration_s": {k: round(v, 3) for k, v in first_s.items()},
        "other_processes_cpu_share": None if others is None else round(others, 2),
        "peak_float32_gflops": round(peak, 1),
        "project_dtype": str(project_dtype or torch.float32).removeprefix("torch."),
        "project_peak_gflops": round(project_peak, 1),
        "gflop_per_iteration": round(flops / 1e9, 2),
        "naive_gflop_per_iteration_counted": round(naive_flops / 1e9, 2),
        "flop_count": "FlopCounterMode: matmul/convolution FLOPs of one project iteration",
        "ratio_median": round(statistics.median(ratios), 3),
        "ratio_best": round(project.best_iterations_per_s / naive.best_iterations_per_s, 3),
        "ratios": [round(r, 3) for r in ratios],
    }
    for timing, timing_peak in ((naive, peak), (project, project_peak)):
        result[timing.name] = {
            "iterations_per_s_median": round(timing.median_iterations_per_s, 3),
            "iterations_per_s_best": round(timing.best_iterations_per_s, 3),
            "gflops_median": round(flops * timing.median_iterations_per_s / 1e9, 1),
            "percent_of_peak": round(
                100 * flops * timing.median_iterations_per_s / 1e9 / timing_peak, 1
            ),
            "seconds_per_iteration": [round(s, 4) for s in timing.seconds_per_iteration],
        }
    return result


def size_table(
    args: argparse.Namespace, data: ImageData, device: torch.device
) -> list[dict[str, Any]]:
    gcfg, dcfg = network_configs(False, args.network_size)
    trainers: dict[str, Trainer | NaiveTrainer] = {}
    for size in args.sizes:
        trainer = Trainer(train_config(args, size), gcfg, dcfg, data, device)
        warm_up(trainer, args.warmup, device)
        trainers[str(size)] = trainer
    repeats = max(2, args.repeats // 2)
    iterations = max(1, args.iterations_per_repeat // 2)
    timings = interleaved(trainers, repeats, iterations, device)
    rows = []
    for size in args.sizes:
        rate = timings[str(size)].median_iterations_per_s
        rows.append(
            {
                "batch_size": size,
                "iterations_per_s": round(rate, 3),
                "images_per_s": round(rate * size, 1),
                "best_iterations_per_s": round(timings[str(size)].best_iterations_per_s, 3),
            }
        )
    return rows


def full_run(args: argparse.Namespace, data: ImageData, device: torch.device) -> dict[str, Any]:
    """A whole ``train`` run (checkpoint at the end included), as ``dcgan train`` does it: the
    wall time end to end (a compile included), and the loop's own time from iteration 50 on
    (after any compile and warm-up), scaled to the whole run."""
    config = TrainConfig(
        iterations=args.full_run,
        batch_size=args.batch_size,
        precision=args.precision,
        compile=args.compile,
    )
    marks: dict[int, float] = {}

    def mark(progress: Progress) -> None:
        marks.setdefault(progress.step, time.perf_counter())

    hooks = TrainHooks(on_progress=mark, progress_every_s=0.0)
    with tempfile.TemporaryDirectory() as temp:
        run_dir = args.keep_run or Path(temp)
        start = time.perf_counter()
        gcfg, dcfg = network_configs(False, args.network_size)
        result = train(config, data, run_dir, generator_config=gcfg, discriminator_config=dcfg,
                       device=device, hooks=hooks)
        wall = time.perf_counter() - start
    steady = [step for step in sorted(marks) if step >= min(50, result.step // 2)]
    first, last = steady[0], steady[-1]
    per_iteration = (marks[last] - marks[first]) / max(1, last - first)
    return {
        "iterations": result.step,
        "wall_s": round(wall, 1),
        "iterations_per_s": round(result.iterations_per_s, 2),
        "loop_s_after_warmup": round(per_iteration * result.step, 2),
        "first_iterations_s": round(marks[first] - start, 1),
        "d_loss": result.d_loss,
        "g_loss": result.g_loss,
    }


def print_report(report: dict[str, Any]) -> None:
    c = report["comparison"]
    print(
        f"device {c['device']}, torch {c['torch']}, batch {c['batch_size']}, "
        f"precision {c['precision']}, compile {c['compile']}"
    )
    print(f"peak float32 matmul: {c['peak_float32_gflops']:.0f} GFLOP/s (measured now)")
    if c["project_dtype"] != "float32":
        print(
            f"peak {c['project_dtype']} matmul: {c['project_peak_gflops']:.0f} GFLOP/s "
            "(the project's % of peak is against this one)"
        )
    print(f"work per iteration: {c['gflop_per_iteration']:.1f} GFLOP ({c['flop_count']})")
    print(f"first iteration (s): {c['first_iteration_s']}")
    if c["other_processes_cpu_share"] is not None:
        print(
            f"other processes used {100 * c['other_processes_cpu_share']:.0f}% of the CPUs "
            "while the trainers were timed"
        )
    print(f"{'trainer':<10}{'it/s median':>13}{'it/s best':>11}{'GFLOP/s':>10}{'% peak':>8}")
    for name in ("naive", "project"):
        row = c[name]
        print(
            f"{name:<10}{row['iterations_per_s_median']:>13.3f}{row['iterations_per_s_best']:>11.3f}"
            f"{row['gflops_median']:>10.1f}{row['percent_of_peak']:>8.1f}"
        )
    print(
        f"project / naive: {c['ratio_median']:.2f}x (median of per-repeat ratios "
        f"{c['ratios']}), {c['ratio_best']:.2f}x best against best"
    )
    if report.get("sizes"):
        print(f"\n{'batch':>6}{'it/s':>10}{'images/s':>11}")
        for row in report["sizes"]:
            print(
                f"{row['batch_size']:>6}{row['iterations_per_s']:>10.3f}{row['images_per_s']:>11.0f}"
            )
    if report.get("full_run"):
        f = report["full_run"]
        print(
            f"\nfull run: {f['iterations']} iterations in {f['wall_s']} s end to end "
            f"({f['first_iterations_s']} s to the steady state, the loop "
            f"{f['loop_s_after_warmup']} s at its steady rate), "
            f"final D {f['d_loss']:.3f} G {f['g_loss']:.3f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when present)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--iterations-per-repeat", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations per trainer")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--no-sizes", action="store_const", const=[], dest="sizes")
    parser.add_argument("--compile", action="store_true", help="TrainConfig(compile=True)")
    parser.add_argument("--network-size", choices=NETWORK_SIZES, default="tutorial",
                        help="the networks to time (default: the tutorial's)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto")
    parser.add_argument(
        "--full-run",
        type=int,
        default=0,
        metavar="N",
        help="also time a whole N-iteration train() run (e.g. 10000: slow mode)",
    )
    parser.add_argument("--keep-run", type=Path, help="keep the full run's checkpoints here")
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("DCGAN_DATA_DIR", "data"))
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    parser.add_argument("--json-out", type=Path, help="also write the JSON object to this file")
    args = parser.parse_args(argv)

    device = pick_device(args.device)
    data = load_dataset("mnist", args.data_dir)
    report: dict[str, Any] = {"comparison": compare(args, data, device)}
    if args.sizes:
        report["sizes"] = size_table(args, data, device)
    if args.full_run:
        report["full_run"] = full_run(args, data, device)
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2) + "\n")
    if args.json:
        print(json.dumps(report))
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
