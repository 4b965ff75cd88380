"""Sweeps through the API, with the controller's passes run by the test: members submitted
within the parallel cap and once each, even by two replicas at once; ranked by their scores;
neither served nor pruned while the sweep is open; the best passing member pinned at its
end; cancelled and deleted."""

import threading

import pytest
from fastapi.testclient import TestClient

from dcgan_cli.sweep_command import table
from jobs.job_removal import prune_finished
from service.app import create_app
from tests.service.conftest import make_settings
from tests.support.sweeps import SCORES, TINY, run_member


@pytest.fixture
def api(tmp_path):
    settings = make_settings(tmp_path, DCGAN_SWEEP_INTERVAL_SECONDS=3600)  # passes by hand
    with TestClient(create_app(settings)) as client:
        yield client, settings, client.app.state.sweep_controller


def test_a_sweep_runs_its_members_ranks_them_and_pins_the_best_that_passes(api, mnist_small):
    client, settings, controller = api
    reply = client.post("/sweeps", json={
        "base": TINY, "grid": {"lr": list(SCORES)}, "parallel": 2, "at_end": "pin_best"})
    assert reply.status_code == 202, reply.text
    sweep = reply.json()
    assert reply.headers["location"] == f"/sweeps/{sweep['id']}"
    assert [m["state"] for m in sweep["members"]] == ["queued", "queued", "waiting"]
    assert [m["params"]["lr"] for m in sweep["members"]] == list(SCORES)
    first, second = (m["job"] for m in sweep["members"][:2])
    assert client.get(f"/jobs/{first}").json()["params"]["network_size"] == "tiny"

    run_member(client.app, settings, first, mnist_small)
    run_member(client.app, settings, second, mnist_small)
    # open: the members' models neither take over serving nor are pruned
    server = client.app.state.model_server
    server.refresh()
    assert client.get("/models").json()["served"] is None
    assert prune_finished(server.records.engine, client.app.state.artifacts, keep_jobs=0) == []
    ranked = client.get(f"/sweeps/{sweep['id']}").json()["members"]
    assert [(m["rank"], m["job"]) for m in ranked] == [(1, second), (2, first), (None, None)]

    controller.pass_once()  # a slot is free: the third member goes
    third = client.get(f"/sweeps/{sweep['id']}").json()["members"][2]["job"]
    assert third is not None
    run_member(client.app, settings, third, mnist_small)
    controller.pass_once()  # all ran and were scored: it ends
    done = client.get(f"/sweeps/{sweep['id']}").json()
    assert done["state"] == "succeeded"
    assert [(m["rank"], m["job"], m["score"]) for m in done["members"]] == [
        (1, second, 10.0), (2, third, 20.0), (3, first, 40.0)]
    assert done["pinned"] == f"{third}:2"
    assert client.get("/serving").json()["pin"]["model"] == f"{third}:2"
    assert [s["id"] for s in client.get("/sweeps").json()] == [sweep["id"]]


def test_two_replicas_passing_at_once_submit_each_member_once(api, mnist_small):
    client, settings, controller = api
    sweep = client.post("/sweeps", json={"base": TINY, "grid": {"lr": list(SCORES)},
                                         "parallel": 1}).json()
    with TestClient(create_app(settings)) as other:
        passes = [threading.Thread(target=replica.app.state.sweep_controller.pass_once)
                  for replica in (client, other, client, other)]
        for thread in passes:
            thread.start()
        for thread in passes:
            thread.join()
    members = client.get(f"/sweeps/{sweep['id']}").json()["members"]
    assert [m["state"] for m in members] == ["queued", "waiting", "waiting"]
    assert client.get("/jobs").json()["total"] == 1


def test_bad_sweeps_are_refused_naming_the_member_or_parameter(api):
    client, _, _ = api
    cases = [
        ({"base": TINY, "grid": {"batch_size": [16, 0]}}, "member 1"),
        ({"base": TINY, "grid": {"colour": [1, 2]}}, "'colour' is not a job parameter"),
        ({"base": TINY, "variants": [{"k": 1}, {"hue": 2}]}, "'hue' is not a job parameter"),
        ({"base": TINY, "grid": {"seed": [1, 2]}, "variants": [{}, {"lr": -1}]}, "member 1"),
        ({"base": TINY, "grid": {"lr": []}}, "at least one value"),
        ({"base": TINY, "random": {"count": 2, "ranges": {"beta1": [0.9, 0.1]}}}, "is above"),
        ({"base": TINY, "grid": {"seed": list(range(11)), "k": list(range(1, 11))}},
         "at most 100"),
        ({"base": TINY, "parallel": 0}, "parallel"),
    ]
    for body, words in cases:
        reply = client.post("/sweeps", json=body)
        assert reply.status_code == 422, (body, reply.text)
        assert words in reply.json()["detail"], (words, reply.json()["detail"])
    assert client.get("/jobs").json()["total"] == 0


def test_random_draws_are_recorded_and_repeatable(api):
    client, _, _ = api
    body = {"base": TINY, "grid": {"batch_size": [16, 32]}, "parallel": 1,
            "random": {"count": 2, "seed": 7, "ranges": {"beta1": [0.3, 0.7], "k": [1, 3]}}}
    first = client.post("/sweeps", json=body).json()
    again = client.post("/sweeps", json=body).json()
    params = [m["params"] for m in first["members"]]
    assert params == [m["params"] for m in again["members"]] and len(params) == 4
    assert all(0.3 <= p["beta1"] <= 0.7 and p["k"] in (1, 2, 3) for p in params)
    assert len({(p["beta1"], p["k"]) for p in params}) == 2  # two draws per batch size


def test_variants_are_tried_in_turn_with_each_grid_combination(api):
    client, _, _ = api
    variants = [{"network_size": "tiny", "iterations": 4}, {"network_size": "small", "k": 1}]
    sweep = client.post("/sweeps", json={"base": TINY, "grid": {"seed": [4, 5]},
                                         "variants": variants}).json()
    assert [m["params"] for m in sweep["members"]] == [
        {**TINY, "seed": seed, **variant} for seed in (4, 5) for variant in variants]
    header = table(sweep).splitlines()[1].split()  # `dcgan sweep` shows what varies
    assert header[:6] == ["rank", "member", "iterations", "k", "network_size", "seed"]


def test_cancelling_a_sweep_cancels_its_members_and_then_it_can_be_deleted(api):
    client, _, controller = api
    sweep = client.post("/sweeps", json={"base": TINY, "grid": {"lr": list(SCORES)},
                                         "parallel": 2}).json()
    refused = client.delete(f"/sweeps/{sweep['id']}")
    assert refused.status_code == 409 and "cancel it first" in refused.json()["detail"]
    cancelled = client.post(f"/sweeps/{sweep['id']}/cancel")
    assert cancelled.status_code == 202 and cancelled.json()["state"] == "cancelled"
    jobs = [m["job"] for m in cancelled.json()["members"] if m["job"]]
    assert len(jobs) == 2
    assert {client.get(f"/jobs/{job}").json()["state"] for job in jobs} == {"cancelled"}
    controller.pass_once()  # an ended sweep submits nothing more
    assert client.get("/jobs").json()["total"] == 2
    assert client.post(f"/sweeps/{sweep['id']}/cancel").status_code == 409
    assert client.delete(f"/sweeps/{sweep['id']}").status_code == 204
    assert client.get(f"/sweeps/{sweep['id']}").status_code == 404
    assert client.get(f"/jobs/{jobs[0]}").status_code == 200  # members stay, as jobs


def test_a_huge_grid_cut_by_its_budget_makes_only_the_members_kept(api):
    client, _, _ = api
    # 512,000,000 combinations, within the 16 KiB body bound
    grid = {"seed": list(range(800)), "batch_size": list(range(2, 802)),
            "iterations": list(range(1, 801))}
    reply = client.post("/sweeps", json={"base": TINY, "grid": grid, "budget": 3})
    assert reply.status_code == 202, reply.text
    assert [(m["params"]["seed"], m["params"]["batch_size"], m["params"]["iterations"])
            for m in reply.json()["members"]] == [(0, 2, 1), (0, 2, 2), (0, 2, 3)]
    refused = client.post("/sweeps", json={"base": TINY, "grid": grid})
    assert refused.status_code == 422
    assert "512000000 members: at most 100" in refused.json()["detail"]


def test_a_sweep_ends_only_once_its_final_models_are_scored_on_its_samples(api, mnist_small):
    client, settings, controller = api
    sweep = client.post("/sweeps", json={"base": TINY, "grid": {"lr": list(SCORES)[:1]},
                                         "score_samples": 500}).json()
    job = sweep["members"][0]["job"]
    run_member(client.app, settings, job, mnist_small, samples=100)  # every checkpoint's
    controller.pass_once()
    waiting = client.get(f"/sweeps/{sweep['id']}").json()
    assert waiting["state"] == "running" and waiting["members"][0]["wall_s"] >= 0
    client.app.state.models.set_metrics(f"{job}:2", {"frechet_distance": 9.0, "n": 500})
    controller.pass_once()
    assert client.get(f"/sweeps/{sweep['id']}").json()["state"] == "succeeded"


def test_worst_class_accuracy_ranks_conditional_members_by_their_weakest_class(api, mnist_small):
    client, settings, controller = api
    sweep = client.post("/sweeps", json={
        "base": TINY, "grid": {"lr": list(SCORES)}, "parallel": 3,
        "rank_by": "worst_class_accuracy"}).json()
    per_class = {2e-4: [0.9, 0.95], 1e-4: [0.99, 0.6], 5e-5: None}  # None: unconditional
    for member in sweep["members"]:
        run_member(client.app, settings, member["job"], mnist_small)
        accuracy = per_class[member["params"]["lr"]]
        client.app.state.models.set_metrics(f"{member['job']}:2", {
            "frechet_distance": 1.0, "n": 10_000, "per_class_accuracy": accuracy})
    controller.pass_once()
    done = client.get(f"/sweeps/{sweep['id']}").json()
    assert done["state"] == "succeeded"
    assert [(m["rank"], m["params"]["lr"], m["score"]) for m in done["members"]] == [
        (1, 2e-4, 0.9), (2, 1e-4, 0.6), (None, 5e-5, None)]


def test_settings_are_ranked_over_the_seeds_they_ran_with(api, mnist_small):
    client, settings, controller = api
    sweep = client.post("/sweeps", json={
        "base": TINY, "grid": {"lr": list(SCORES)[:2], "seed": [1, 2]}, "parallel": 4}).json()
    # by Fréchet distance: lr 2e-4 wins on seed 1 (5 against 10) but loses over both seeds
    distances = {(2e-4, 1): 5.0, (2e-4, 2): 45.0, (1e-4, 1): 10.0, (1e-4, 2): 12.0}
    members = sweep["members"]
    for member in members[:3]:
        run_member(client.app, settings, member["job"], mnist_small)
        params = member["params"]
        client.app.state.models.set_metrics(f"{member['job']}:2", {
            "frechet_distance": distances[params["lr"], params["seed"]], "n": 10_000})
    waiting = client.get(f"/sweeps/{sweep['id']}").json()["settings"]
    assert [(s["rank"], s["params"]["lr"], s["scored"]) for s in waiting] == [
        (1, 2e-4, 2), (None, 1e-4, 1)]  # one of lr 1e-4's members has yet to run
    last = members[3]
    run_member(client.app, settings, last["job"], mnist_small)
    client.app.state.models.set_metrics(f"{last['job']}:2", {"frechet_distance": 12.0,
                                                             "n": 10_000})
    controller.pass_once()
    done = client.get(f"/sweeps/{sweep['id']}").json()
    assert done["state"] == "succeeded"
    assert done["members"][0]["params"] == {**TINY, "lr": 2e-4, "seed": 1}  # one seed's best
    assert [(s["rank"], s["params"]["lr"], s["seeds"], s["mean"], s["worst"])
            for s in done["settings"]] == [(1, 1e-4, [1, 2], 11.0, 12.0),
                                           (2, 2e-4, [1, 2], 25.0, 45.0)]
    assert "seed" not in done["settings"][0]["params"]
    printed = table(done).splitlines()  # as `dcgan sweep` ends
    settings_table = printed[printed.index(
        "settings over their seeds, ranked by the mean frechet_distance") + 1:]
    assert [line.split() for line in settings_table] == [
        ["rank", "lr", "seeds", "mean", "worst"], ["1", "0.0001", "1,2", "11", "12"],
        ["2", "0.0002", "1,2", "25", "45"]]
