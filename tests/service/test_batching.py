"""The render batcher with real tiny generators: grouping by model, errors, the row cap and
stopping. Requests are queued before the batching thread starts, so what forms one batch is
decided by the code under test, not by timing. "Alone" is a request that a batcher serves by
itself: what /generate answers when nothing else is asked at the same time."""

from __future__ import annotations

import asyncio
import threading
from collections import deque

import pytest
import torch
from fastapi.testclient import TestClient

from service.app import create_app
from service.batching import Pending, RenderBatcher
from shared_models.generator_io import load_generator
from shared_models.grids import grid_png
from shared_models.networks import Generator, init_weights
from shared_models.noise import seeded_noise
from shared_models.sampling import RENDER_BLOCK, SampleInputs, grid_inputs
from tests.service.conftest import make_settings, train_run
from tests.support.sampling import block_floats

Request = tuple[Generator, SampleInputs]
Result = torch.Tensor | BaseException


@pytest.fixture(scope="module")
def generators(tmp_path_factory, mnist_small) -> tuple[Generator, Generator]:
    """Two real tiny checkpoints, trained from different seeds, loaded as the service does."""
    settings = make_settings(tmp_path_factory.mktemp("batching"))
    first = train_run(settings, "first", mnist_small, seed=3)
    second = train_run(settings, "second", mnist_small, seed=4)
    return load_generator(first.checkpoint)[0], load_generator(second.checkpoint)[0]


def noise(generator: Generator, n: int, seed: int) -> SampleInputs:
    return grid_inputs(generator, n, seed)


async def queued_then_started(batcher: RenderBatcher, requests: list[Request]) -> list[Result]:
    """Queue every request, then start the thread: it finds them all waiting at once."""
    tasks = [asyncio.ensure_future(batcher.images(g, inputs)) for g, inputs in requests]
    await asyncio.sleep(0)  # each task runs up to its await: its request is in the queue
    batcher.start()
    return await asyncio.gather(*tasks, return_exceptions=True)


def run_batch(batcher: RenderBatcher, requests: list[Request]) -> list[Result]:
    try:
        return asyncio.run(queued_then_started(batcher, requests))
    finally:
        batcher.stop()


def alone(generator: Generator, inputs: SampleInputs) -> torch.Tensor:
    (images,) = run_batch(RenderBatcher(), [(generator, inputs)])
    assert isinstance(images, torch.Tensor)
    return images


def test_each_request_gets_its_own_models_images_with_the_bytes_it_gets_alone(generators):
    first, second = generators
    seeds = range(8)
    requests = [(g, noise(g, 1 + seed % 5, seed)) for seed in seeds for g in (first, second)]
    rows = sum(inputs.rows for _, inputs in requests)
    assert rows > 2 * RENDER_BLOCK  # each model's forward spans several blocks
    batcher = RenderBatcher(max_rows=1024, max_wait_s=0.0, workers=2)
    results = run_batch(batcher, requests)

    assert batcher.batches == 2  # one forward pass per model for everything that was waiting
    assert batcher.rows == rows
    for (generator, inputs), images in zip(requests, results, strict=True):
        assert isinstance(images, torch.Tensor) and images.dtype == torch.uint8
        solo = alone(generator, inputs)
        assert torch.equal(images, solo)  # bit for bit
        assert grid_png(images, 8, 2) == grid_png(solo, 8, 2)  # the PNG /generate sends
    # the two models draw different digits from the same noise: a mix-up would show
    assert not torch.equal(results[0], results[1])


def test_a_full_size_rows_bits_do_not_depend_on_its_batch_when_blocks_run_on_the_workers():
    """As tests/shared_models/test_sampling.py checks for blocks run one after the other."""
    model = Generator()  # full size: its kernels are the ones that vary with batch size
    init_weights(model, torch.Generator().manual_seed(1))
    model.eval()
    z = seeded_noise(70, model.config.nz, 7)
    batcher = RenderBatcher(workers=2)
    batcher.start()
    try:
        many = block_floats(model, SampleInputs(z), batcher._map)  # floats, bit for bit
        order = torch.randperm(70, generator=torch.Generator().manual_seed(0))
        for rows in (order, order[:1], order[:5], order[:23]):
            assert torch.equal(block_floats(model, SampleInputs(z[rows]), batcher._map),
                               many[rows])
    finally:
        batcher.stop()


def test_a_failing_forward_fails_only_the_requests_of_that_forward(generators):
    first, second = generators
    good = [(first, noise(first, 3, seed)) for seed in (1, 2)]
    wrong_width = (second, SampleInputs(torch.zeros(2, second.config.nz + 3)))  # forward raises
    batcher = RenderBatcher(max_rows=1024, max_wait_s=0.0)

    async def scenario() -> tuple[list[Result], torch.Tensor]:
        results = await queued_then_started(batcher, [good[0], wrong_width, good[1]])
        later = await batcher.images(second, noise(second, 2, 5))  # the thread lives on
        return results, later

    try:
        (one, failed, two), later = asyncio.run(scenario())
    finally:
        batcher.stop()
    assert isinstance(failed, RuntimeError)
    assert isinstance(one, torch.Tensor) and torch.equal(one, alone(*good[0]))
    assert isinstance(two, torch.Tensor) and torch.equal(two, alone(*good[1]))
    assert torch.equal(later, alone(second, noise(second, 2, 5)))
    assert batcher.batches == 2  # the good forward and the later one; the failure is not counted


@pytest.mark.parametrize(
    ("sizes", "max_rows", "forwards"),
    [
        ([3, 3, 3, 3], 6, 2),  # two requests fill a batch exactly
        ([4, 4, 4], 6, 2),  # the second request's rows are split between two batches
        ([2, 9, 2], 6, 3),  # a request bigger than the cap is drawn over several
    ],
)
def test_max_rows_caps_the_rows_of_a_forward(generators, sizes, max_rows, forwards):
    first, _ = generators
    requests = [(first, noise(first, n, seed)) for seed, n in enumerate(sizes)]
    batcher = RenderBatcher(max_rows=max_rows, max_wait_s=0.0)
    results = run_batch(batcher, requests)
    assert batcher.batches == forwards
    assert batcher.rows == sum(sizes)
    for (generator, inputs), images in zip(requests, results, strict=True):
        assert isinstance(images, torch.Tensor) and torch.equal(images, alone(generator, inputs))


def test_a_small_request_is_drawn_in_the_next_batch_whatever_waits_before_it(generators):
    """Large requests being drawn, a small one arrives: the next batch holds its rows first
    (and takes a block from each large one in turn with what is left)."""
    first, _ = generators
    batcher = RenderBatcher(max_rows=4 * RENDER_BLOCK, max_wait_s=0.0)
    large = [Pending(first, noise(first, 64 * RENDER_BLOCK, seed)) for seed in range(6)]
    active = deque(large)
    assert batcher._slices(active)  # the first batch: blocks of the first large ones
    small = Pending(first, noise(first, RENDER_BLOCK, 99))
    batcher._queue.put(small)
    assert batcher._gather(active, wait=False) is False
    batch = batcher._slices(active)
    assert batch[0].pending is small and batch[0].count == RENDER_BLOCK
    assert len({id(part.pending) for part in batch}) == 4  # one block each: nobody waits long
    # the large ones not served in the first batch come before those that were
    assert [part.pending for part in batch[1:]] == large[4:] + large[:1]


def test_stop_answers_what_was_queued_ends_the_thread_and_refuses_new_requests(generators):
    first, _ = generators
    batcher = RenderBatcher(max_rows=4, max_wait_s=0.0)
    requests = [(first, noise(first, 3, seed)) for seed in range(3)]

    async def scenario() -> list[Result]:
        tasks = [asyncio.ensure_future(batcher.images(g, inputs)) for g, inputs in requests]
        await asyncio.sleep(0)
        batcher.start()
        batcher.stop()  # after the three requests: they are served before the thread ends
        assert not batcher.running
        with pytest.raises(RuntimeError, match="stopped"):
            await batcher.images(first, noise(first, 1, 0))
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(scenario())
    assert all(isinstance(r, torch.Tensor) for r in results)
    assert batcher.batches == 3
    batcher.stop()  # a second stop is harmless


def test_the_workers_compute_on_one_thread_each_and_the_process_keeps_its_setting():
    before = torch.get_num_threads()
    batcher = RenderBatcher(workers=2)
    batcher.start()
    try:
        seen: list[int] = []
        later = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
        later.start()
        later.join()
        assert torch.get_num_threads() == before and seen == [before]
        # what a block's forward sees on the workers (the map that generate is given)
        on_workers = batcher._map(lambda _: torch.tensor(torch.get_num_threads()), range(4))
        assert [int(count) for count in on_workers] == [1, 1, 1, 1]
    finally:
        batcher.stop()


def test_the_app_starts_and_stops_its_batcher(settings):
    with TestClient(create_app(settings)) as client:
        batcher = client.app.state.batcher
        assert batcher.running
    assert not batcher.running
