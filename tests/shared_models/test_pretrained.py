"""Generator.from_pretrained: an exported folder or an archive of one, verified, and nothing
else; hostile archives write nothing outside their temporary folder."""

import io
import tarfile
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from shared_models import Generator, sample_images
from shared_models.export import write_export
from shared_models.pretrained import load_pretrained, write_archive
from shared_models.serving_artifact import ArtifactError, load_serving_generator
from shared_models.training import train
from tests.conftest import TINY_D, TINY_G, tiny_train_config

ARTIFACT = ("config.json", "model.safetensors")


@pytest.fixture(scope="module")
def exported(mnist_small, tmp_path_factory) -> Path:
    """A tiny conditional run with a weight average, exported without figures."""
    root = tmp_path_factory.mktemp("pretrained")
    train(tiny_train_config(iterations=3, ema_decay=0.9), mnist_small, root / "run",
          generator_config=replace(TINY_G, num_classes=10),
          discriminator_config=replace(TINY_D, num_classes=10), device=torch.device("cpu"))
    write_export(root / "run", root / "model", data_dir=root / "no-data", eval_samples=0)
    return root / "model"


def files_of(folder: Path) -> dict[str, Path]:
    return {path.name: path for path in folder.iterdir()}


def expected_images(folder: Path) -> torch.Tensor:
    generator, _ = load_serving_generator(folder)
    return sample_images(generator, 40, seed=5)


@pytest.mark.parametrize("kind", ["folder", "zip", "tar.gz"])
def test_from_pretrained_loads_the_folder_or_its_archive(exported, tmp_path, kind):
    path = exported
    if kind != "folder":
        path = write_archive(files_of(exported), tmp_path / f"model.{kind}", kind, "model")
    generator = Generator.from_pretrained(str(path))  # str or Path
    assert isinstance(generator, Generator) and not generator.training
    assert generator.config.num_classes == 10
    assert next(generator.parameters()).device.type == "cpu"
    assert torch.equal(sample_images(generator, 40, seed=5), expected_images(exported))
    _, info = load_pretrained(path)
    assert info.folder == path and info.averaged and info.ema_decay == 0.9


def test_an_archive_may_hold_the_files_at_its_top(exported, tmp_path):
    zipped = tmp_path / "flat.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        for name in ARTIFACT:
            archive.write(exported / name, name)
    tarred = tmp_path / "dot.tgz"  # as `tar -czf dot.tgz -C model .` writes it
    with tarfile.open(tarred, "w:gz") as archive:
        for name in ARTIFACT:
            archive.add(exported / name, f"./{name}")
    for path in (zipped, tarred):
        assert torch.equal(sample_images(Generator.from_pretrained(path), 40, seed=5),
                           expected_images(exported))


def add_bytes(archive: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    archive.addfile(info, io.BytesIO(payload))


def test_traversing_and_linked_members_are_never_followed(exported, tmp_path):
    weights = (exported / "model.safetensors").read_bytes()
    config = (exported / "config.json").read_bytes()
    hostile = tmp_path / "deep" / "hostile.tar.gz"
    hostile.parent.mkdir()
    with tarfile.open(hostile, "w:gz") as archive:
        add_bytes(archive, "../config.json", config)
        add_bytes(archive, "/tmp/model.safetensors", weights)
        add_bytes(archive, "a/b/config.json", config)  # deeper than one top folder
        link = tarfile.TarInfo("m/model.safetensors")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
        add_bytes(archive, "m/config.json", config)
    with pytest.raises(ArtifactError, match="holds no model"):
        Generator.from_pretrained(hostile)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["deep", "hostile.tar.gz"]


def test_oversized_and_crowded_archives_are_refused(exported, tmp_path, monkeypatch):
    archive = write_archive(files_of(exported), tmp_path / "m.zip", "zip", "m")
    monkeypatch.setattr("shared_models.pretrained.LIMITS",
                        {"config.json": 1 << 20, "model.safetensors": 1000})
    with pytest.raises(ArtifactError, match="over the 1000 allowed"):
        Generator.from_pretrained(archive)
    monkeypatch.undo()
    crowded = tmp_path / "crowded.tar.gz"
    with tarfile.open(crowded, "w:gz") as tar:
        for index in range(70):
            add_bytes(tar, f"filler-{index}", b"")
    with pytest.raises(ArtifactError, match="more than 64 entries"):
        Generator.from_pretrained(crowded)


def test_two_models_in_one_archive_are_refused(exported, tmp_path):
    files = {f"{top}/{name}": exported / name for top in ("a", "b") for name in ARTIFACT}
    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for name, source in files.items():
            zipped.write(source, name)
    with pytest.raises(ArtifactError, match="holds 2 models"):
        Generator.from_pretrained(archive)


def test_weights_that_do_not_match_config_json_are_refused(exported, tmp_path):
    weights = bytearray((exported / "model.safetensors").read_bytes())
    weights[-1] ^= 0xFF
    archive = tmp_path / "flipped.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.write(exported / "config.json", "m/config.json")
        zipped.writestr("m/model.safetensors", bytes(weights))
    with pytest.raises(ArtifactError, match="do not match"):
        Generator.from_pretrained(archive)


def test_what_is_not_a_model_is_refused_in_one_sentence(tmp_path):
    with pytest.raises(ArtifactError, match="no such file or folder"):
        Generator.from_pretrained(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ArtifactError, match="nor a .zip or .tar.gz"):
        Generator.from_pretrained(tmp_path / "notes.txt")
    (tmp_path / "broken.zip").write_bytes(b"PK not really")
    with pytest.raises(ArtifactError, match="unreadable zip archive"):
        Generator.from_pretrained(tmp_path / "broken.zip")
    with pytest.raises(ArtifactError, match="no manifest"):
        Generator.from_pretrained(tmp_path)  # a folder without config.json
