"""torch.hub loads an exported generator from a checkout of the repository, offline."""

import importlib.util
from pathlib import Path

import pytest
import torch

from shared_models import Generator, sample_images
from shared_models.export import write_export
from shared_models.pretrained import write_archive
from shared_models.training import train
from tests.conftest import REPO, TINY_D, TINY_G, tiny_train_config


@pytest.fixture(scope="module")
def exported(mnist_small, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hub")
    train(tiny_train_config(iterations=2), mnist_small, root / "run", generator_config=TINY_G,
          discriminator_config=TINY_D, device=torch.device("cpu"))
    write_export(root / "run", root / "model", data_dir=root, eval_samples=0)
    return root / "model"


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    """No hub cache of the user's, and any attempt to download fails the test."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))

    def no_network(*args, **kwargs):
        raise AssertionError("torch.hub tried to download")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    monkeypatch.setattr(torch.hub, "urlopen", no_network)


def test_the_repository_offers_one_entry_point_needing_torch_and_safetensors():
    spec = importlib.util.spec_from_file_location("hubconf", REPO / "hubconf.py")
    assert spec is not None and spec.loader is not None
    hubconf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hubconf)
    # torch.hub's rule: every public callable is an entry point
    entries = [name for name in dir(hubconf)
               if callable(getattr(hubconf, name)) and not name.startswith("_")]
    assert entries == ["generator"]
    assert hubconf.dependencies == ["torch", "safetensors"]


@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_torch_hub_loads_the_exported_generator(exported, tmp_path, kind):
    path = exported
    if kind == "zip":
        files = {p.name: p for p in exported.iterdir()}
        path = write_archive(files, tmp_path / "model.zip", "zip", "model")
    generator = torch.hub.load(str(REPO), "generator", source="local", path=str(path))
    assert isinstance(generator, Generator) and not generator.training
    expected = sample_images(Generator.from_pretrained(exported), 20, seed=4)
    assert torch.equal(sample_images(generator, 20, seed=4), expected)
