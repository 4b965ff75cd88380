"""``dcgan export`` as a user runs it: a real process."""

import torch

from shared_models import Generator, sample_images
from shared_models.checkpoint import read_checkpoint
from shared_models.generator_io import generator_from_state
from shared_models.training import train
from tests.cli.run import assert_one_line_error, dcgan
from tests.conftest import TINY_D, TINY_G, tiny_train_config


def test_export_writes_a_model_folder_that_samples_like_the_run(mnist_small, tmp_path):
    run = tmp_path / "run"
    train(tiny_train_config(iterations=3), mnist_small, run, generator_config=TINY_G,
          discriminator_config=TINY_D, device=torch.device("cpu"))
    result = dcgan("export", str(run), "--out", str(tmp_path / "model"), "--eval-samples", "0")
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith(f"exported step 3 of {run} to {tmp_path / 'model'}")
    assert "no evaluation figures: scoring was skipped" in line
    assert sorted(path.name for path in (tmp_path / "model").iterdir()) == [
        "README.md", "config.json", "model.safetensors", "samples.png",
    ]
    exported = sample_images(Generator.from_pretrained(tmp_path / "model"), 24, seed=2)
    original = generator_from_state(read_checkpoint(run).state)
    assert torch.equal(exported, sample_images(original, 24, seed=2))


def test_export_reports_a_missing_or_damaged_source_in_one_line(tmp_path):
    missing = dcgan("export", str(tmp_path / "nothing"), "--out", str(tmp_path / "out"))
    assert_one_line_error(missing, 1, "no such checkpoint")
    (tmp_path / "model.zip").write_bytes(b"not a zip")
    damaged = dcgan("export", str(tmp_path / "model.zip"), "--out", str(tmp_path / "out"))
    assert_one_line_error(damaged, 1, "unreadable zip archive")
    negative = dcgan("export", str(tmp_path), "--out", str(tmp_path / "o"), "--eval-samples", "-1")
    assert negative.returncode == 2 and "must be >= 0" in negative.stderr
