"""Two job specs trained one after the other on each seed, timed and scored: how a new quick
start is judged against the one it would replace.

Each run is ``dcgan train`` as a user starts it (its wall time includes the process's start),
then ``dcgan eval RUN --n N --json`` on what it serves. Seeds alternate the two specs, so a
machine that slows down slows both. Prints one Markdown row per run (per-class label accuracy
for conditional runs) and the wall-time ratio of the candidate to the baseline.

    python -m bench.quickstart_choice --candidate '{"network_size": "small"}' --seeds 1 2 3

``--baseline`` and ``--candidate`` are job specs (the fields of ``POST /jobs``); the baseline
defaults to the quick start (``QUICKSTART``), the candidate to the quick start with its fields
replaced.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from jobs.spec import QUICKSTART, JobSpec

log = logging.getLogger("quickstart_choice")

DCGAN = str(Path(sys.executable).with_name("dcgan"))  # the command a user runs
# job-spec fields `dcgan train` takes as flags of the same name
TRAIN_FLAGS = ("iterations", "batch_size", "seed", "k", "lr", "beta1", "checkpoint_every",
               "network_size", "ema_decay", "dataset")


def train_argv(spec: JobSpec, out: Path, data_dir: Path) -> list[str]:
    argv = [DCGAN, "train", "--out", str(out),
            "--data-dir", str(data_dir)]
    values = spec.model_dump(exclude_none=True)
    for name in TRAIN_FLAGS:
        if name in values:
            argv += [f"--{name.replace('_', '-')}", str(values[name])]
    return argv + (["--conditional"] if spec.conditional else [])


def run_once(spec: JobSpec, out: Path, data_dir: Path, n: int) -> dict[str, Any]:
    started = time.perf_counter()
    with (out.parent / f"{out.name}.log").open("w") as log_file:
        subprocess.run(train_argv(spec, out, data_dir), check=True, stdout=log_file,
                       stderr=subprocess.STDOUT)
    wall = time.perf_counter() - started
    scored = subprocess.run(
        [DCGAN, "eval", str(out), "--n", str(n), "--json",
         "--data-dir", str(data_dir)],
        check=True, capture_output=True, text=True,
    )
    return {"wall_s": round(wall, 1), **json.loads(scored.stdout.strip().splitlines()[-1])}


def row(name: str, seed: int, result: dict[str, Any]) -> str:
    per_class = result.get("per_class_accuracy") or []
    worst = min(range(len(per_class)), key=lambda i: per_class[i]) if per_class else None
    accuracy = result.get("label_accuracy")
    return " | ".join([
        f"| {name}", str(seed), f"{result['wall_s']:.0f} s", f"{result['frechet_distance']:.2f}",
        f"{result['inception_score']:.2f}", f"{result['classes_covered']}/10",
        "—" if accuracy is None else f"{100 * accuracy:.1f} %",
        "—" if worst is None else f"{worst}: {100 * per_class[worst]:.1f} %",
        " ".join(f"{100 * value:.0f}" for value in per_class) or "—",
    ]) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=json.loads, default=None,
                        help="job spec (JSON); default the quick start")
    parser.add_argument("--candidate", type=json.loads, required=True,
                        help="job spec fields replacing the baseline's (JSON)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--n", type=int, default=10_000, help="samples scored (10,000)")
    parser.add_argument("--out", type=Path, default=Path("runs/quickstart-choice"))
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    baseline = (JobSpec.model_validate(args.baseline) if args.baseline is not None
                else QUICKSTART)
    candidate = JobSpec.model_validate({**baseline.model_dump(exclude_none=True),
                                        **args.candidate})
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[tuple[int, dict[str, Any]]]] = {"baseline": [], "candidate": []}
    for seed in args.seeds:
        for name, spec in (("baseline", baseline), ("candidate", candidate)):
            seeded = spec.model_copy(update={"seed": seed})
            log.info("%s, seed %d: %s", name, seed, seeded.model_dump(exclude_none=True))
            result = run_once(seeded, args.out / f"{name}-seed{seed}", args.data_dir, args.n)
            log.info("%s", row(name, seed, result))
            results[name].append((seed, result))
    print(f"baseline: {baseline.model_dump(exclude_none=True)}")
    print(f"candidate: {candidate.model_dump(exclude_none=True)}")
    print("| run | seed | wall time | Fréchet distance | Inception Score | classes ≥ 5 % "
          "| label accuracy | weakest digit | per digit (%) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, runs in results.items():
        for seed, result in runs:
            print(row(name, seed, result))
    walls = {name: sum(result["wall_s"] for _, result in runs) for name, runs in results.items()}
    print(f"wall time, candidate / baseline: {walls['candidate'] / walls['baseline']:.2f} "
          f"({walls['candidate']:.0f} s / {walls['baseline']:.0f} s over {len(args.seeds)} seeds)")


if __name__ == "__main__":
    main()
