"""The worker scores every checkpoint it writes (in a scorer process of its own, off the
training loop), and every model imported through the API; /models and GET /jobs/{id} show
the figures."""

import pytest
from fastapi.testclient import TestClient

from dcgan_cli.waiting import wait_for
from service.app import create_app
from shared_models.evaluation.classifier_store import classifier_path, load_or_train_classifier
from tests.e2e.conftest import REDIS_URL
from tests.service.conftest import make_settings, train_run
from tests.support.stack import running_stack, submit_job, wait_for_job

pytestmark = pytest.mark.processes


def test_checkpoints_are_scored_and_the_figures_are_served(tmp_path, data_dir, mnist_small):
    load_or_train_classifier("mnist", data_dir)  # cached by make setup; trained here if not
    assert classifier_path("mnist", data_dir).is_file()
    # a model trained elsewhere (another deployment, in this process), exported
    lab = make_settings(tmp_path / "lab")
    train_run(lab, "elsewhere", mnist_small)
    with TestClient(create_app(lab)) as elsewhere:
        archive = elsewhere.get("/models/elsewhere:2/export").content
    with running_stack(tmp_path, REDIS_URL, DCGAN_EVAL_SAMPLES="200") as stack:
        with stack.client() as client:
            imported = client.post("/models", content=archive,
                                   headers={"Content-Type": "application/zip"})
            assert imported.status_code == 201, imported.text
            imported_id = imported.json()["id"]
            job = submit_job(
                client, {"iterations": 10, "batch_size": 32, "checkpoint_every": 5}
            )["id"]
            done = wait_for_job(client, job)

            def scored_models():
                listed = [m for m in client.get("/models").json()["models"] if m["job"] == job]
                return listed if len(listed) == 2 and all(m["metrics"] for m in listed) else None

            models = wait_for(scored_models, 60, "the API to list both scored checkpoints")
            record = client.get(f"/jobs/{job}").json()
            scored_import = wait_for(
                lambda: client.get(f"/models/{imported_id}").json()["metrics"], 60,
                "the worker to score the imported model")
    assert done["state"] == "succeeded", done
    metrics = record["progress"]["metrics"]
    assert metrics["step"] == 10 and metrics["n"] == 200
    assert metrics["frechet_distance"] > 0 and 1 <= metrics["inception_score"] <= 10
    assert sorted(m["step"] for m in models) == [5, 10]
    for model in models:
        assert model["metrics"]["n"] == 200 and model["metrics"]["frechet_distance"] > 0
    assert scored_import["n"] == 200 and scored_import["frechet_distance"] > 0
