"""What one reload of the API's model registry costs as stored checkpoints pile up.

Every reload interval (1 s by default) each API replica asks which model to serve. This
measures one reload — ``ModelServer.refresh`` with its model already served, the steady
state — against a models table of 10 and of 1,000 rows (one real tiny model, the rest
synthetic rows), on SQLite and, when a server answers at 127.0.0.1:5432, PostgreSQL. The
baseline, measured in the same run, is how the registry found models before the models table:
listing the runs folder and reading every checkpoint's manifest, here for the same number of
checkpoints (manifest files only).

    .venv/bin/python -m bench.registry_reload [--repeats 300]
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import torch

from artifacts.cache import ArtifactCache
from artifacts.publishing import StoredModel
from artifacts.store import ArtifactStore
from bench.timing import median_seconds
from core.database import make_engine
from core.settings import Settings
from jobs.bootstrap import prepare_shared_state
from registry.model_records import ModelRecords
from registry.promotion import Gate, ServingPolicy
from registry.serving_pins import ServingPins
from service.model_loader import ModelLoader
from service.model_server import ModelServer
from shared_models.checkpoint import CHECKPOINT_DIR, read_manifest
from shared_models.config import DiscriminatorConfig, GeneratorConfig, TrainConfig
from shared_models.data import load_dataset
from shared_models.training import TrainHooks, train
from worker.context import WorkerContext
from worker.publisher import CheckpointPublisher

REPO = Path(__file__).resolve().parent.parent
SIZES = (10, 1_000)
TINY_G = GeneratorConfig(nz=8, hidden=32, channels=8)
TINY_D = DiscriminatorConfig(conv2_channels=8, hidden=32)


def synthetic_rows(records: ModelRecords, count: int, template: StoredModel) -> None:
    for index in range(count):
        records.add(replace(template, job_id=f"synthetic{index:05d}", final=False))


def real_model(settings: Settings) -> StoredModel:
    """Train and publish one tiny model; its row, to copy."""
    context = WorkerContext(settings)
    publisher = CheckpointPublisher(context.store, context.models, context.jobs,
                                    settings.runs_dir)
    data = load_dataset("mnist", REPO / "data", "train")
    config = TrainConfig(iterations=1, batch_size=16)
    train(config, data, settings.runs_dir / "real", generator_config=TINY_G,
          discriminator_config=TINY_D, device=torch.device("cpu"),
          hooks=TrainHooks(on_checkpoint=lambda saved: publisher.publish("real", saved, 3)))
    [row] = context.models.of_job("real")
    context.engine.dispose()
    return row


def reload_ms(settings: Settings, size: int, repeats: int) -> float:
    prepare_shared_state(settings)
    template = real_model(settings)
    engine = make_engine(settings.database_url)
    records = ModelRecords(engine)
    synthetic_rows(records, size - 1, template)
    loader = ModelLoader(ArtifactCache(ArtifactStore.from_url(settings.store_url),
                                       settings.model_cache_dir))
    policy = ServingPolicy(records, ServingPins(records.engine), Gate("mnist", 5.0, 50.0))
    registry = ModelServer(records, loader, policy)
    registry.refresh()
    assert registry.served is not None and registry.served.id == "real:1"
    assert records.count() == size
    try:
        return 1000 * median_seconds(registry.refresh, repeats)
    finally:
        registry.stop()
        engine.dispose()


def folder_scan_ms(root: Path, size: int, repeats: int) -> float:
    """The registry before the models table: glob the runs folder, read every manifest."""
    runs = root / "scan"
    for index in range(size):
        folder = runs / f"job{index:05d}" / CHECKPOINT_DIR
        folder.mkdir(parents=True)
        (folder / "step_0000010.pt").write_bytes(b"")
        (folder / "step_0000010.json").write_text(json.dumps({
            "format": 1, "file": "step_0000010.pt", "sha256": "0" * 64, "size": 0, "step": 10,
            "iterations": 10, "dataset": "mnist", "final": True, "created_at": float(index),
        }))

    def scan() -> list:
        found = [read_manifest(path) for path in runs.glob(f"*/{CHECKPOINT_DIR}/step_*.pt")]
        return sorted(found, key=lambda m: (m.created_at, m.step), reverse=True)

    return 1000 * median_seconds(scan, repeats)


def databases(root: Path) -> Iterator[tuple[str, str]]:
    """(name, URL) of each database to measure, dropped once the loop moves on."""
    yield "SQLite", f"sqlite:///{root / 'sqlite' / 'jobs.sqlite3'}"
    try:
        admin = psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True)
    except psycopg.OperationalError:
        logging.warning("no PostgreSQL at 127.0.0.1:5432: SQLite only")
        return
    name = f"dcgan_bench_{int(time.time())}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield "PostgreSQL", f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = []
    for size in SIZES:
        with tempfile.TemporaryDirectory() as temp:
            root = Path(temp)
            scan = folder_scan_ms(root, size, args.repeats)
            figures = {"folder scan (before)": scan}
            for name, url in databases(root / "db"):
                settings = Settings(DCGAN_RUNS_DIR=root / name / "runs",
                                    DCGAN_DATA_DIR=root / name / "data",
                                    DCGAN_DATABASE_URL=url)
                figures[f"models table, {name}"] = reload_ms(settings, size, args.repeats)
            rows.append((size, figures))
    print(f"one reload, median of {args.repeats} (ms)")
    for size, figures in rows:
        print(f"  {size:>5} stored checkpoints: " + ", ".join(
            f"{name} {value:.3f}" for name, value in figures.items()))


if __name__ == "__main__":
    main()
