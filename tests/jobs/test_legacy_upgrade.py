"""A single-machine deployment upgraded in place: its job records survive the migrations, and
the checkpoints its runs folder holds become models-table rows with serving artifacts, so the
service finds every model it served before, with its scores and its loss curve."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient

from core.settings import Settings
from jobs.bootstrap import prepare_shared_state
from service.app import create_app
from service.settings import ServiceSettings
from shared_models.checkpoint import iter_manifests, load_checkpoint, manifest_path
from shared_models.generator_io import generator_from_state
from shared_models.grids import grid_png
from shared_models.sampling import generate, grid_inputs
from shared_models.serving_artifact import read_serving_artifact
from shared_models.training import train
from shared_models.verified_files import write_manifest
from tests.conftest import TINY_D, TINY_G, tiny_train_config
from tests.jobs.legacy import LEGACY_JOBS, make_legacy_database
from worker.context import WorkerContext


def legacy_run(runs_dir, name, mnist_small, **config):
    return train(tiny_train_config(**config), mnist_small, runs_dir / name,
                 generator_config=TINY_G, discriminator_config=TINY_D)


def test_jobs_and_checkpoints_of_a_single_machine_deployment_carry_over(tmp_path, mnist_small):
    settings = Settings(DCGAN_RUNS_DIR=tmp_path / "runs", DCGAN_DATA_DIR=tmp_path / "data")
    make_legacy_database(settings.runs_dir / "jobs.sqlite3")
    legacy_run(settings.runs_dir, "done1", mnist_small, iterations=4, checkpoint_every=2)
    legacy_run(settings.runs_dir, "older", mnist_small, iterations=2, seed=9)
    [first, final] = iter_manifests(settings.runs_dir / "done1")
    # the single-machine worker wrote each checkpoint's scores into its manifest
    scored = {**final.to_json(), "metrics": {"frechet_distance": 42.5, "classes_covered": 7}}
    write_manifest(manifest_path(final.path), scored)

    prepare_shared_state(settings)
    prepare_shared_state(settings)  # a second start changes nothing

    context = WorkerContext(settings)
    assert [context.jobs.get(job[0]).state.value for job in LEGACY_JOBS] == [
        job[3] for job in LEGACY_JOBS
    ]
    rows = {row.id: row for row in context.models.page(0, 100)[0]}
    assert sorted(rows) == ["done1:2", "done1:4", "older:2"]
    done = rows["done1:4"]
    assert done.final and done.checkpoint_sha256 == final.sha256
    assert done.metrics == {"frechet_distance": 42.5, "classes_covered": 7}
    assert done.created_at == final.created_at  # the checkpoint's own time, not the upgrade's
    assert rows["done1:2"].checkpoint_sha256 == first.sha256 and not rows["done1:2"].final
    _, info = read_serving_artifact(settings.runs_dir / done.artifact_key, done.sha256)
    assert info.source_sha256 == final.sha256
    state, _ = load_checkpoint(final.path)
    assert np.array_equal(context.jobs.losses("done1"), state["loss_history"].numpy())

    # the service serves what the runs folder served before: the newest final model
    service = ServiceSettings(DCGAN_RUNS_DIR=settings.runs_dir, DCGAN_DATA_DIR=settings.data_dir)
    with TestClient(create_app(service)) as client:
        listed = client.get("/models").json()
        assert listed["served"] == "older:2"
        assert {m["id"] for m in listed["models"]} == set(rows)
        reply = client.get("/generate", params={"model": "done1:4", "n": 8, "seed": 3})
        assert reply.status_code == 200
        generator = generator_from_state(state)
        assert reply.content == grid_png(generate(generator, grid_inputs(generator, 8, seed=3)))
        curve = client.get("/jobs/done1/losses").json()
        assert curve["checkpoint"] == "done1:4" and curve["iterations"] == 4
