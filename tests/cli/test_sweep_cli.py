"""``dcgan sweep`` against a real uvicorn whose sweep controller runs on its own: a sweep from
a YAML file and flags, followed member by member to its ranked table."""

from __future__ import annotations

import threading

import httpx
import pytest

from dcgan_cli.waiting import wait_for
from service.app import create_app
from tests.cli.run import assert_one_line_error, dcgan
from tests.service.conftest import make_settings
from tests.support.app_server import AppServer
from tests.support.sweeps import SCORES, run_member


@pytest.fixture
def api(tmp_path):
    settings = make_settings(tmp_path, DCGAN_SWEEP_INTERVAL_SECONDS=0.1)
    with AppServer(create_app(settings)) as server:
        yield server, settings


def test_a_sweep_from_a_file_is_followed_to_its_ranked_table(tmp_path, api, mnist_small):
    server, settings = api
    app = server.server.config.app
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(
        "base: {iterations: 2, batch_size: 16, network_size: tiny, checkpoint_every: 0}\n"
        "parallel: 1\n"
    )
    lrs = list(SCORES)[:2]

    failures: list[BaseException] = []

    def worker() -> None:  # runs each member once the sweep has submitted it
        try:
            for index in range(2):
                job = wait_for(lambda i=index: next(
                    (j for j in app.state.jobs.page(0, 10)[0] if j.id.endswith(f"-{i}")),
                    None), 60, f"member {index} to be submitted")
                run_member(app, settings, job.id, mnist_small)
        except BaseException as error:  # the sweep cannot end now: end it, so watching ends
            failures.append(error)
            for sweep in app.state.sweep_controller.sweeps.running():
                httpx.post(f"{server.url}/sweeps/{sweep.id}/cancel")

    running = threading.Thread(target=worker)
    running.start()
    done = dcgan("sweep", str(sweep_file), "--grid", f"lr={lrs[0]},{lrs[1]}", "--url",
                 server.url, "--interval", "0.1")
    running.join()
    assert not failures, failures
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("sweep sweep-") and lines[0].endswith(": 2 members")
    assert f"member 0 (lr={lrs[0]}): succeeded" in lines
    assert f"member 1 (lr={lrs[1]}): succeeded" in lines
    table = lines[lines.index(next(line for line in lines if "ranked by" in line)):]
    assert table[1].split() == [
        "rank", "member", "lr", "frechet_distance", "wall_s", "state", "model"]
    assert table[2].split()[:4] == ["1", "1", str(lrs[1]), "10"]  # the lower distance first
    assert table[3].split()[:4] == ["2", "0", str(lrs[0]), "40"]


def test_a_bad_sweep_is_one_line(api, tmp_path):
    server, _ = api
    refused = dcgan("sweep", "--base", '{"iterations": 2}', "--grid", "colour=1,2",
                    "--url", server.url, "--no-follow")
    assert_one_line_error(refused, 2, "the API refused it (422)", "'colour' is not a job")
    missing = tmp_path / "none.yaml"
    assert_one_line_error(dcgan("sweep", str(missing), "--url", server.url), 2, "none.yaml")
