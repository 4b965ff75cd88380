"""Raw samples beyond a grid's 1,024: ``dcgan sample --out FILE.npz`` streams them in blocks,
with the digits one big batch would give."""

from __future__ import annotations

import tracemalloc
from dataclasses import replace

import numpy as np
import torch

from shared_models.networks import Generator
from shared_models.npz_samples import write_npz
from shared_models.sampling import generate, grid_inputs
from tests.cli.run import dcgan
from tests.conftest import TINY_G


def test_blocks_give_the_digits_of_one_batch(tmp_path):
    for config, digit in ((TINY_G, None), (replace(TINY_G, num_classes=10), None),
                          (replace(TINY_G, num_classes=10), 3)):
        generator = Generator(config)
        path = tmp_path / "digits.npz"
        write_npz(path, generator, 2500, seed=7, digit=digit, chunk=1024)
        streamed = np.load(path)["images"]
        whole = generate(generator, grid_inputs(generator, 2500, 7, digit)).numpy()
        assert streamed.shape == (2500, 28, 28) and streamed.dtype == np.uint8
        assert np.array_equal(streamed, whole)


def test_memory_stays_bounded_however_many_samples(tmp_path):
    generator = Generator(TINY_G)

    def peak(n: int) -> int:
        tracemalloc.start()
        write_npz(tmp_path / f"{n}.npz", generator, n, seed=0, digit=None, chunk=256)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    torch.manual_seed(0)
    small, large = peak(512), peak(8192)  # 16x the samples: 6.4 MB of digits at the end
    assert large < 2 * small + 1_000_000, (small, large)
    assert np.load(tmp_path / "8192.npz")["images"].shape == (8192, 28, 28)


def test_the_command_writes_more_than_a_grid_holds(tmp_path, data_dir):
    run = tmp_path / "run"
    trained = dcgan("train", "--out", str(run), "--iterations", "1", "--batch-size", "8",
                    "--network-size", "tiny", "--data-dir", str(data_dir))
    assert trained.returncode == 0, trained.stderr
    out = tmp_path / "many.npz"
    sampled = dcgan("sample", str(run), "--out", str(out), "--n", "3000", "--seed", "2")
    assert sampled.returncode == 0, sampled.stderr
    assert "wrote 3000 samples" in sampled.stdout
    assert np.load(out)["images"].shape == (3000, 28, 28)
