"""How long the training loop stops for each checkpoint, before and after writing them beside
training.

Before, each checkpoint stopped the loop for: serialising and writing the ~100 MB state
(atomically, fsync'd), publishing it (the serving artifact and the models row) and scoring
``--eval-samples`` samples with the cached classifier. After, the loop takes a copy of the
state and goes on; the write, the publishing and the scoring happen on the checkpoint
writer's thread and in the scorer process. Both are measured in this run, on the tutorial's
full-size networks: "before" as the same three steps timed one after the other on a
checkpoint, "after" as the stalls the training loop itself reports.

    .venv/bin/python -m bench.checkpoint_stall [--checkpoints 5] [--eval-samples 1000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from core.settings import Settings
from shared_models.checkpoint import newest_checkpoint, save_checkpoint
from shared_models.config import TrainConfig
from shared_models.data import load_dataset
from shared_models.evaluation import Evaluator
from shared_models.generator_io import generator_from_state
from shared_models.training import SavedCheckpoint
from worker.context import WorkerContext
from worker.published_run import train_published
from worker.publisher import CheckpointPublisher

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints", type=int, default=5)
    parser.add_argument("--every", type=int, default=10, help="iterations between checkpoints")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--eval-samples", type=int, default=1000)
    parser.add_argument("--data-dir", type=Path, default=REPO / "data")
    args = parser.parse_args()
    data = load_dataset("mnist", args.data_dir, "train")
    evaluator = Evaluator.for_dataset("mnist", args.data_dir)
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        settings = Settings(DCGAN_RUNS_DIR=root / "runs", DCGAN_DATA_DIR=root / "data")
        config = TrainConfig(iterations=args.every * args.checkpoints,
                             batch_size=args.batch_size, checkpoint_every=args.every)
        started = time.perf_counter()
        result = train_published(settings, "after", config, data)
        seconds = time.perf_counter() - started
        after = result.checkpoint_stalls_s

        checkpoint = newest_checkpoint(settings.runs_dir / "after")
        assert checkpoint is not None
        context = WorkerContext(settings)
        publisher = CheckpointPublisher(context.store, context.models, context.jobs,
                                        settings.runs_dir)
        before = []
        for index in range(3):
            start = time.perf_counter()
            state = checkpoint.state
            path = settings.runs_dir / "before" / "checkpoints" / f"step_{index + 1:07d}.pt"
            manifest = save_checkpoint({**state, "step": index + 1}, path)
            publisher.publish("before", SavedCheckpoint(manifest, state), keep=3)
            if args.eval_samples:
                evaluator.evaluate_generator(generator_from_state(state), args.eval_samples)
            before.append(time.perf_counter() - start)
        context.engine.dispose()
    print(f"full-size networks, batch {args.batch_size}, a checkpoint every {args.every} "
          f"iterations ({checkpoint.manifest.size / 1e6:.1f} MB each)")
    print(f"  before: the loop stops {statistics.median(before):.3f} s per checkpoint "
          f"(write + publish + score {args.eval_samples} samples; median of {len(before)})")
    print(f"  after:  the loop stops {statistics.median(after):.3f} s per checkpoint "
          f"(median of {len(after)}: {', '.join(f'{s:.3f}' for s in after)})")
    print(f"  the run: {result.step} iterations in {seconds:.1f} s")


if __name__ == "__main__":
    main()
