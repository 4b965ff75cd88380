"""Scores of a run's newest checkpoint with the cached evaluation classifier, as one JSON line
(Fréchet distance, Inception Score, classes covered), for bench/gpu_check.sh: it needs only
torch and this package.

    python3 -m bench.score_run RUN_DIR [--n 10000] [--data-dir data]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from shared_models.checkpoint import read_checkpoint
from shared_models.evaluation import evaluate_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    args = parser.parse_args()
    started = time.perf_counter()
    checkpoint = read_checkpoint(args.run)
    result = evaluate_checkpoint(checkpoint, args.data_dir, args.n)
    print(json.dumps({
        "run": str(args.run),
        "step": checkpoint.manifest.step,
        "n": result.n,
        "frechet_distance": round(result.frechet_distance, 2),
        "inception_score": round(result.inception_score, 3),
        "classes_covered": result.classes_covered,
        "seconds": round(time.perf_counter() - started, 1),
    }))


if __name__ == "__main__":
    main()
