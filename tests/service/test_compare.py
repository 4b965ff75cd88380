"""GET /compare: several models' digits from the same noise, one labelled grid each."""

import io
from dataclasses import replace

import numpy as np
from PIL import Image

from service.routes.compare import MAX_COMPARED
from shared_models.grids import LABEL_HEIGHT
from tests.conftest import TINY_D, TINY_G
from tests.service.conftest import train_run

LAYOUT = {"n": 6, "nrow": 3, "padding": 2}
GRID = (2 * 30 + 2, 3 * 30 + 2)  # height, width of 6 digits, 3 a row


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


def blocks(png: bytes, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(label band, grid) of each model, top to bottom."""
    image = pixels(png)
    assert image.shape == (count * (LABEL_HEIGHT + GRID[0]), GRID[1])
    step = LABEL_HEIGHT + GRID[0]
    tops = [i * step for i in range(count)]
    return [(image[top: top + LABEL_HEIGHT], image[top + LABEL_HEIGHT: top + step]) for top in tops]


def test_each_models_grid_is_its_generate_grid_for_the_seed(client, settings, mnist_small):
    train_run(settings, "first", mnist_small)
    train_run(settings, "second", mnist_small, seed=11)
    reply = client.get("/compare", params={"models": "first:2, second", "seed": 5, **LAYOUT})
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "image/png"
    assert reply.headers["x-model-versions"] == "first:2,second:2"
    assert reply.headers["x-seed"] == "5"
    assert reply.headers["cache-control"] == "no-cache"  # "second" names its newest model
    shown = blocks(reply.content, 2)
    for (label, grid), name in zip(shown, ("first:2", "second:2"), strict=True):
        alone = client.get("/generate", params={"model": name, "seed": 5, **LAYOUT})
        assert np.array_equal(grid, pixels(alone.content))
        assert label.max() > 200  # the model's name is written above its grid
    assert not np.array_equal(shown[0][0], shown[1][0])  # two different names
    assert not np.array_equal(shown[0][1], shown[1][1])  # two different models

    again = client.get("/compare", params={"models": "first:2,second", "seed": 5, **LAYOUT})
    assert again.content == reply.content and again.headers["etag"] == reply.headers["etag"]
    cached = client.get("/compare", params={"models": "first:2,second", "seed": 5, **LAYOUT},
                        headers={"If-None-Match": reply.headers["etag"]})
    assert cached.status_code == 304
    other_seed = client.get("/compare", params={"models": "first:2,second", "seed": 6, **LAYOUT})
    assert other_seed.headers["etag"] != reply.headers["etag"]
    random = client.get("/compare", params={"models": "first:2,second:2", **LAYOUT})
    assert random.status_code == 200 and random.headers["cache-control"] == "no-store"
    assert "etag" not in random.headers
    pinned = client.get("/compare", params={"models": "first:2,second:2", "seed": 5, **LAYOUT})
    assert pinned.headers["cache-control"].endswith("immutable")


def test_conditional_and_unconditional_models_line_up_on_the_same_noise(
    client, settings, mnist_small
):
    train_run(settings, "cond", mnist_small, generator_config=replace(TINY_G, num_classes=10),
              discriminator_config=replace(TINY_D, num_classes=10))
    train_run(settings, "plain", mnist_small)
    reply = client.get("/compare", params={"models": "plain,cond", "seed": 3, **LAYOUT})
    assert reply.status_code == 200, reply.text
    (_, plain), (_, cond) = blocks(reply.content, 2)
    # the conditional model draws 0, 1, ... in turn: its /generate grid, label for label
    assert np.array_equal(cond, pixels(client.get(
        "/generate", params={"model": "cond", "seed": 3, **LAYOUT}).content))
    assert np.array_equal(plain, pixels(client.get(
        "/generate", params={"model": "plain", "seed": 3, **LAYOUT}).content))

    sevens = client.get("/compare", params={"models": "cond", "seed": 3, "digit": 7, **LAYOUT})
    assert sevens.status_code == 200
    (_, drawn), = blocks(sevens.content, 1)
    assert np.array_equal(drawn, pixels(client.get(
        "/generate", params={"model": "cond", "seed": 3, "digit": 7, **LAYOUT}).content))
    mixed = client.get("/compare", params={"models": "cond,plain", "digit": 7})
    assert mixed.status_code == 422
    assert "plain:2 is not conditional" in mixed.json()["detail"]


def test_bad_lists_are_refused_in_words(client, settings, mnist_small):
    train_run(settings, "run", mnist_small)
    cases = {
        "run,nothing-here": (404, "nothing-here"),
        "run,run": (422, "run is named twice"),
        "run,": (422, "'' is not a model id"),
        "run,../etc": (422, "'../etc' is not a model id"),
        ",".join(f"m{i}" for i in range(MAX_COMPARED + 1)): (422, f"at most {MAX_COMPARED}"),
    }
    for models, (code, words) in cases.items():
        reply = client.get("/compare", params={"models": models})
        assert reply.status_code == code, (models, reply.text)
        assert words in reply.json()["detail"], (models, reply.json())
    missing = client.get("/compare")
    assert missing.status_code == 422 and "models: Field required" in missing.json()["detail"]
    too_many = client.get("/compare", params={"models": "run", "n": 65})
    assert too_many.status_code == 422 and "n:" in too_many.json()["detail"]
