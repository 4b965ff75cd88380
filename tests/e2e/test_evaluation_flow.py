"""The worker scores every checkpoint it writes (in a scorer process of its own, off the
training loop); /models and GET /jobs/{id} show the figures."""

import pytest

from dcgan_cli.waiting import wait_for
from shared_models.evaluation.classifier_store import classifier_path, load_or_train_classifier
from tests.e2e.conftest import REDIS_URL
from tests.support.stack import running_stack, submit_job, wait_for_job

pytestmark = pytest.mark.processes


def test_checkpoints_are_scored_and_the_figures_are_served(tmp_path, data_dir):
    load_or_train_classifier("mnist", data_dir)  # cached by make setup; trained here if not
    assert classifier_path("mnist", data_dir).is_file()
    with running_stack(tmp_path, REDIS_URL, DCGAN_EVAL_SAMPLES="200") as stack:
        with stack.client() as client:
            job = submit_job(
                client, {"iterations": 10, "batch_size": 32, "checkpoint_every": 5}
            )["id"]
            done = wait_for_job(client, job)

            def scored_models():
                listed = [m for m in client.get("/models").json()["models"] if m["job"] == job]
                return listed if len(listed) == 2 and all(m["metrics"] for m in listed) else None

            models = wait_for(scored_models, 60, "the API to list both scored checkpoints")
            record = client.get(f"/jobs/{job}").json()
    assert done["state"] == "succeeded", done
    metrics = record["progress"]["metrics"]
    assert metrics["step"] == 10 and metrics["n"] == 200
    assert metrics["frechet_distance"] > 0 and 1 <= metrics["inception_score"] <= 10
    assert sorted(m["step"] for m in models) == [5, 10]
    for model in models:
        assert model["metrics"]["n"] == 200 and model["metrics"]["frechet_distance"] > 0
