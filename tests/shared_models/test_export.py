"""Exporting: exactly the serving artifact a worker publishes, plus a model card with the data
set's licence, the training settings, the figures and a sample grid."""

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from shared_models.checkpoint import read_checkpoint
from shared_models.evaluation import load_or_train_classifier
from shared_models.export import write_export
from shared_models.model_card import card_text, sample_grid
from shared_models.pretrained import write_archive
from shared_models.serving_artifact import (
    ArtifactError,
    load_serving_generator,
    read_serving_artifact,
    write_serving_artifact,
)
from shared_models.training import train
from tests.conftest import TINY_D, TINY_G, tiny_train_config

EXPORTED = ["README.md", "config.json", "model.safetensors", "samples.png"]


@pytest.fixture(scope="module")
def run_dir(mnist_small, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("export") / "run"
    train(tiny_train_config(iterations=4, checkpoint_every=2, seed=9), mnist_small, run,
          generator_config=TINY_G, discriminator_config=TINY_D, device=torch.device("cpu"))
    return run


@pytest.fixture(scope="module")
def published(run_dir, tmp_path_factory) -> Path:
    """The serving artifact a worker publishes for the run's final checkpoint."""
    checkpoint = read_checkpoint(run_dir)
    folder = tmp_path_factory.mktemp("published")
    write_serving_artifact(checkpoint.state, folder, checkpoint.manifest.sha256)
    return folder


def test_export_writes_the_published_artifact_and_its_card(run_dir, published, tmp_path):
    result = write_export(run_dir, tmp_path / "out", data_dir=tmp_path, eval_samples=0)
    out = tmp_path / "out"
    assert sorted(path.name for path in out.iterdir()) == EXPORTED
    for name in ("model.safetensors", "config.json"):
        assert (out / name).read_bytes() == (published / name).read_bytes()
    assert result.info.step == 4 and result.metrics is None
    generator, info = load_serving_generator(out)
    assert (out / "samples.png").read_bytes() == sample_grid(generator)
    card = (out / "README.md").read_text()
    assert "# DCGAN generator: MNIST, step 4" in card
    assert "![Samples: noise seed 0](samples.png)" in card
    assert info.sha256 in card and info.source_sha256 in card
    assert "CC BY-SA 3.0" in card and "Yann LeCun and Corinna Cortes" in card
    assert "| `batch_size` | 16 | minibatch size |" in card
    assert "| `seed` | 9 |" in card
    assert "| weights | the live weights: the run keeps no weight average" in card
    assert "None: scoring was skipped" in card
    assert "Generator.from_pretrained" in card and "torch.hub.load" in card


def test_a_checkpoint_file_an_exported_folder_and_an_archive_export_the_same_weights(
    run_dir, published, tmp_path
):
    step2 = run_dir / "checkpoints" / "step_0000002.pt"
    write_export(step2, tmp_path / "two", data_dir=tmp_path, eval_samples=0)
    assert read_serving_artifact(tmp_path / "two")[1].step == 2
    write_export(published, tmp_path / "copy", data_dir=tmp_path, eval_samples=0)
    weights = (published / "model.safetensors").read_bytes()
    assert (tmp_path / "copy" / "model.safetensors").read_bytes() == weights
    files = {path.name: path for path in (tmp_path / "copy").iterdir()}
    archive = write_archive(files, tmp_path / "copy.tar.gz", "tar.gz", "copy")
    write_export(archive, tmp_path / "again", data_dir=tmp_path, eval_samples=0)
    assert (tmp_path / "again" / "model.safetensors").read_bytes() == weights


def test_a_damaged_artifact_is_not_exported(published, tmp_path):
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "config.json").write_bytes((published / "config.json").read_bytes())
    (damaged / "model.safetensors").write_bytes(b"\0" * 100)
    with pytest.raises(ArtifactError, match="do not match"):
        write_export(damaged, tmp_path / "out", data_dir=tmp_path, eval_samples=0)
    assert not (tmp_path / "out").exists()


def test_without_a_cached_classifier_the_card_says_how_to_get_figures(run_dir, tmp_path):
    result = write_export(run_dir, tmp_path / "out", data_dir=tmp_path / "empty",
                          eval_samples=1000)
    assert result.metrics is None
    assert "dcgan classifier --dataset mnist" in (tmp_path / "out" / "README.md").read_text()


def test_with_the_cached_classifier_the_card_holds_the_figures(run_dir, data_dir, tmp_path):
    load_or_train_classifier("mnist", data_dir)  # cached once for the whole suite
    result = write_export(run_dir, tmp_path / "out", data_dir=data_dir, eval_samples=200)
    metrics = result.metrics
    assert metrics is not None and metrics["n"] == 200 and metrics["seed"] == 0
    card = (tmp_path / "out" / "README.md").read_text()
    assert f"| {metrics['frechet_distance']:.4g} |" in card
    assert "On 200 samples (noise seed 0)" in card


def test_the_card_names_fashion_mnists_licence_and_a_conditional_models_figures(published):
    _, info = read_serving_artifact(published)
    fashion = replace(info, dataset="fashion-mnist", train_config={
        **info.train_config, "dataset": "fashion-mnist"})
    metrics = {"n": 1000, "frechet_distance": 3.58, "inception_score": 9.73,
               "classes_covered": 10, "label_accuracy": 0.99}
    card = card_text(fashion, metrics, model_id="job-1:8000")
    assert "# DCGAN generator: Fashion-MNIST, step 4" in card
    assert "Licence: MIT (copyright 2017 Zalando SE)." in card and "CC BY-SA" not in card
    assert "| model | `job-1:8000` |" in card
    assert "| 99.0 % |" in card and "| 10/10 |" in card
    failed = card_text(info, {"step": 4, "error": "classifier missing"})
    assert "None: scoring failed (classifier missing)." in failed
