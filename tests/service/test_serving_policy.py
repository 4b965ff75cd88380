"""Which model is served: promotion through the score gate on the served data set, a
provisional model before any passes, pins and rollbacks shared by every replica, and /models
saying why."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from dcgan_cli.waiting import wait_for
from registry.model_records import ModelRecord
from service.app import create_app
from tests.service.conftest import make_settings, train_run

GOOD = {"inception_score": 7.5, "frechet_distance": 20.0}
POOR = {"inception_score": 1.5, "frechet_distance": 180.0}


def serving(client) -> dict:
    return client.get("/serving").json()


def wait_serving(client, model: str, reason: str, timeout: float = 10.0) -> dict:
    return wait_for(
        lambda: now if ((now := serving(client))["model"], now["reason"]) == (model, reason)
        else None, timeout, f"{model} to be served ({reason})", failure=lambda: serving(client),
    )


def reload_passes(client, passes: int = 2) -> None:
    """Wait for the app to finish ``passes`` more reload passes: the last of them began after
    whatever the test changed before."""
    server = client.app.state.model_server
    target = server.refreshes + passes
    wait_for(lambda: server.refreshes >= target, 30, f"{passes} reload passes")


def clone(client, source: ModelRecord, job: str, metrics: dict | None,
          **changes) -> ModelRecord:
    """Another job's row for the same stored artifact (another data set, other scores)."""
    time.sleep(0.003)
    return client.app.state.models.add(replace(source, job_id=job, **changes), metrics)


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path, DCGAN_PROMOTE_MIN_INCEPTION_SCORE=5,
                         DCGAN_PROMOTE_MAX_FRECHET_DISTANCE=50)


def test_only_scored_final_models_of_the_served_data_set_are_promoted(client, settings,
                                                                      mnist_small):
    models = client.app.state.models
    train_run(settings, "first", mnist_small)
    first = wait_serving(client, "first:2", "provisional")
    assert "no model passes the gate" in first["detail"]
    assert first["gate"] == {"dataset": "mnist", "min_inception_score": 5.0,
                             "max_frechet_distance": 50.0}
    models.set_metrics("first:2", GOOD)
    promoted = wait_serving(client, "first:2", "promoted")
    assert "Inception Score >= 5" in promoted["detail"]

    # a newer 1-iteration job, a Fashion-MNIST job and an unscored job change nothing
    train_run(settings, "quick", mnist_small, iterations=1)
    models.set_metrics("quick:1", POOR)
    original = models.get("first:2")
    clone(client, original, "fashion", dataset="fashion-mnist", metrics=GOOD)
    clone(client, original, "unscored", metrics=None)
    reload_passes(client)
    listed = client.get("/models").json()
    assert listed["served"] == "first:2" and listed["serving"]["reason"] == "promoted"
    verdicts = {m["id"]: (m["promotable"], m["gate"]) for m in listed["models"]}
    assert verdicts["first:2"][0] is True and "passes the gate" in verdicts["first:2"][1]
    assert verdicts["quick:1"] == (False, "Inception Score 1.5 < 5")
    assert verdicts["fashion:2"] == (False, "trained on fashion-mnist; the service serves mnist")
    assert verdicts["unscored:2"] == (False, "not scored (yet)")
    assert client.get("/generate", params={"n": 1}).headers["X-Model-Version"] == "first:2"

    # a newer model that passes is promoted on its own
    clone(client, original, "better", metrics={"inception_score": 8.0, "frechet_distance": 9.0})
    wait_serving(client, "better:2", "promoted")


def test_pin_rollback_and_unpin_reach_every_replica(client, settings, mnist_small):
    models = client.app.state.models
    train_run(settings, "a", mnist_small)
    models.set_metrics("a:2", GOOD)
    train_run(settings, "b", mnist_small, seed=9)
    models.set_metrics("b:2", GOOD)
    wait_serving(client, "b:2", "promoted")
    with TestClient(create_app(settings)) as replica:
        wait_serving(replica, "b:2", "promoted")

        rolled = client.post("/serving/rollback").json()  # b was promoted after a
        assert (rolled["model"], rolled["reason"]) == ("a:2", "pinned")
        assert rolled["pin"]["action"] == "rollback" and rolled["pin"]["replaced"] == "b:2"
        assert rolled["detail"].startswith("rolled back to by an operator")
        wait_serving(replica, "a:2", "pinned")
        # a pinned model stays served whatever promotion would choose
        clone(client, models.get("b:2"), "newest", metrics=GOOD)
        reload_passes(replica)
        assert serving(replica)["model"] == "a:2"

        pinned = client.put("/serving/pin", json={"model": "b", "note": "b is fine after all"})
        assert pinned.status_code == 200
        body = pinned.json()
        assert (body["model"], body["reason"]) == ("b:2", "pinned")
        assert body["pin"] == {**body["pin"], "model": "b:2", "action": "pin",
                               "replaced": "a:2", "note": "b is fine after all"}
        assert body["pin"]["at"].endswith("Z")
        assert [p["action"] for p in body["history"]] == ["pin", "rollback"]
        wait_serving(replica, "b:2", "pinned")
        assert client.post("/serving/rollback").json()["model"] == "a:2"  # what b replaced

        unpinned = client.delete("/serving/pin").json()
        assert (unpinned["model"], unpinned["reason"], unpinned["pin"]) == (
            "newest:2", "promoted", None)
        wait_serving(replica, "newest:2", "promoted")
        assert [p["action"] for p in unpinned["history"]] == ["unpin", "rollback", "pin",
                                                              "rollback"]
        assert client.delete("/serving/pin").json()["history"] == unpinned["history"]


def test_pins_and_rollbacks_that_cannot_be_done_say_why(client, settings, mnist_small):
    assert client.post("/serving/rollback").status_code == 409  # nothing served yet
    train_run(settings, "only", mnist_small)
    wait_serving(client, "only:2", "provisional")
    nothing_before = client.post("/serving/rollback")
    assert nothing_before.status_code == 409
    assert "nothing to roll back to" in nothing_before.json()["detail"]
    missing = client.put("/serving/pin", json={"model": "only:7"})
    assert missing.status_code == 404 and "no checkpoint at step 7" in missing.json()["detail"]
    malformed = client.put("/serving/pin", json={"model": "../x"})  # not JOB or JOB:STEP
    assert malformed.status_code == 422 and "model: String should match" in malformed.text
    assert client.put("/serving/pin", json={"model": "only:2", "x": 1}).status_code == 422


def test_a_pinned_model_whose_row_is_gone_gives_way_to_promotion(client, settings, mnist_small):
    train_run(settings, "kept", mnist_small)
    train_run(settings, "pinned", mnist_small, seed=4)
    client.put("/serving/pin", json={"model": "kept:2"})
    client.app.state.models.delete("kept:2")
    now = wait_serving(client, "pinned:2", "provisional")
    assert now["detail"].startswith("the pinned model kept:2 no longer exists")
