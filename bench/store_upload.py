"""Artifact store speed: one real-size checkpoint up to (and back from) a local folder and S3.

The checkpoint is the one a full-size run writes (the tutorial's networks, their Adam states;
with ``--ema-decay`` also the generator's weight average), after one iteration at batch 16 on
real MNIST. It goes to:

- a local folder store (copy to a temporary name, fsync, rename), and
- an S3 store on moto's server (started here, on this machine, as tests start it), as the
  store uploads it (one PUT below twice UPLOAD_PART_BYTES, else a multipart upload) and, for
  comparison, as a multipart upload of 16 MiB parts sent concurrently.

Each figure is the median of ``--repeats`` timed transfers. Figures only: they depend on the
machine, and moto keeps objects in memory, so S3 figures are an upper bound for a real server
over a network.

    .venv/bin/python -m bench.store_upload [--repeats 5] [--ema-decay 0.999]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from pathlib import Path

import torch

from artifacts.store import UPLOAD_PART_BYTES, ArtifactStore
from bench.s3_server import REGION, moto_server
from bench.timing import median_seconds
from shared_models.checkpoint import checkpoint_path, save_checkpoint
from shared_models.config import DiscriminatorConfig, GeneratorConfig, TrainConfig
from shared_models.data import load_dataset
from shared_models.training import Trainer

REPO = Path(__file__).resolve().parent.parent
KEY = "bench-job/checkpoints/step_0000001.pt"


def real_checkpoint(folder: Path, ema_decay: float) -> Path:
    data = load_dataset("mnist", REPO / "data", "train")
    config = TrainConfig(iterations=1, batch_size=16, ema_decay=ema_decay)
    trainer = Trainer(config, GeneratorConfig(), DiscriminatorConfig(), data, torch.device("cpu"))
    trainer.iteration()
    path = checkpoint_path(folder, trainer.step)
    save_checkpoint(trainer.state_dict(), path)
    return path


def report(name: str, size: int, seconds: float) -> None:
    megabytes = size / 1e6
    print(f"{name:<42} {megabytes:8.1f} MB {seconds:8.3f} s {megabytes / seconds:9.1f} MB/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ema-decay", type=float, default=0.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        source = real_checkpoint(root / "run", args.ema_decay)
        size = source.stat().st_size
        print(f"checkpoint: {size / 1e6:.1f} MB (full-size networks, Adam states, "
              f"ema_decay {args.ema_decay}); {args.repeats} repeats, median\n")

        local = ArtifactStore.from_url(str(root / "store"))
        local.ensure_ready()
        report("local folder: put_file", size, median_seconds(lambda: local.put_file(source, KEY),
                                                     args.repeats))
        report("local folder: get_file", size, median_seconds(
            lambda: local.get_file(KEY, root / "down" / "local.pt"), args.repeats))

        with moto_server() as endpoint:
            os.environ.update({
                "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": REGION,
            })
            s3 = ArtifactStore.from_url("s3://bench/runs")
            s3.ensure_ready()
            how = "one PUT" if size < 2 * UPLOAD_PART_BYTES else "multipart"
            report(f"moto S3: put_file ({how})", size, median_seconds(
                lambda: s3.put_file(source, KEY), args.repeats))
            report("moto S3: multipart, 16 MiB parts", size, median_seconds(
                lambda: s3.fs.put_file(str(source), f"{s3.root}/{KEY}", chunksize=16 * 2**20),
                args.repeats))
            report("moto S3: get_file", size, median_seconds(
                lambda: s3.get_file(KEY, root / "down" / "s3.pt"), args.repeats))
            assert (root / "down" / "s3.pt").read_bytes() == source.read_bytes()


if __name__ == "__main__":
    main()
