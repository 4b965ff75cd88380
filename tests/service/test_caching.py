"""Honest caching: only JOB:STEP responses may be kept; an ETag from the model's SHA-256, the
seed and the parameters; If-None-Match answered with 304 without rendering."""

from __future__ import annotations

from tests.service.conftest import train_run
from tests.service.test_api import wait_served


def test_only_an_immutable_model_may_be_cached_and_etags_revalidate(client, settings,
                                                                    mnist_small):
    train_run(settings, "run", mnist_small)
    wait_served(client, "run:2")
    grid = {"n": 4, "seed": 3}
    pinned_down = client.get("/generate", params={**grid, "model": "run:2"})
    newest_of_job = client.get("/generate", params={**grid, "model": "run"})
    served = client.get("/generate", params=grid)
    random = client.get("/generate", params={"n": 4, "model": "run:2"})
    assert pinned_down.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert newest_of_job.headers["Cache-Control"] == "no-cache"
    assert served.headers["Cache-Control"] == "no-cache"
    assert random.headers["Cache-Control"] == "no-store" and "ETag" not in random.headers
    # the same bytes, the same tag, whichever way the model was named
    tag = pinned_down.headers["ETag"]
    assert newest_of_job.headers["ETag"] == served.headers["ETag"] == tag
    assert pinned_down.content == served.content

    batches = client.app.state.batcher.batches
    again = client.get("/generate", params={**grid, "model": "run:2"},
                       headers={"If-None-Match": f'W/"other", {tag}'})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["ETag"] == tag and again.headers["X-Model-Version"] == "run:2"
    assert client.app.state.batcher.batches == batches  # nothing rendered
    assert client.get("/generate", params=grid, headers={"If-None-Match": "*"}).status_code == 304
    # another parameter, another seed or another model: another tag, a full answer
    for changed in ({**grid, "n": 5}, {**grid, "seed": 4}, {**grid, "padding": 0}):
        reply = client.get("/generate", params=changed, headers={"If-None-Match": tag})
        assert reply.status_code == 200 and reply.headers["ETag"] != tag, changed
    strip = {"seed_a": 1, "seed_b": 2, "steps": 3}
    interpolated = client.get("/interpolate", params=strip)
    assert interpolated.headers["Cache-Control"] == "no-cache"
    assert interpolated.headers["ETag"] not in (tag, None)
    assert client.get("/interpolate", params={**strip, "model": "run:2"}).headers[
        "Cache-Control"] == "public, max-age=31536000, immutable"
    assert client.get("/interpolate", params=strip, headers={
        "If-None-Match": interpolated.headers["ETag"]}).status_code == 304


def test_the_tag_follows_the_model_when_the_job_moves_on(client, settings, mnist_small):
    train_run(settings, "run", mnist_small)
    wait_served(client, "run:2")
    first = client.get("/generate", params={"n": 2, "seed": 1, "model": "run"})
    train_run(settings, "run", mnist_small, iterations=4, resume=True)  # newest: step 4
    moved = client.get("/generate", params={"n": 2, "seed": 1, "model": "run"},
                       headers={"If-None-Match": first.headers["ETag"]})
    assert moved.status_code == 200 and moved.headers["X-Model-Version"] == "run:4"
    assert moved.headers["ETag"] != first.headers["ETag"]
