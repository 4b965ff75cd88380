"""The Python API: thin over the pipeline the command and the service use, str or Path
everywhere, the command's devices, and nothing of training imported by the service."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import shared_models
from shared_models import (
    Generator,
    export_model,
    load_dataset,
    load_generator,
    load_mnist,
    sample_images,
    save_grid,
    train_model,
)
from shared_models.checkpoint import read_checkpoint
from shared_models.generator_io import generator_from_state
from shared_models.grids import grid_png
from shared_models.pretrained import write_archive
from shared_models.python_api import default_data_dir
from shared_models.sampling import generate, grid_inputs
from shared_models.training import pick_device
from tests.conftest import REPO, TINY_D, TINY_G


@pytest.fixture(scope="module")
def run(mnist_small, tmp_path_factory):
    folder = tmp_path_factory.mktemp("api") / "run"
    result = train_model(str(folder), iterations=3, batch_size=16, seed=2, ema_decay=0.5,
                         checkpoint_every=2, data=mnist_small, generator_config=TINY_G,
                         discriminator_config=TINY_D)
    return folder, result


def test_train_model_trains_on_the_commands_device_into_the_run_folder(run):
    folder, result = run
    assert result.step == 3 and result.checkpoint == folder / "checkpoints" / "step_0000003.pt"
    assert result.device == pick_device().type  # CUDA when present, else the CPU
    state = read_checkpoint(folder).state
    assert state["train_config"]["seed"] == 2 and state["train_config"]["ema_decay"] == 0.5
    assert state["train_config"]["checkpoint_every"] == 2  # any TrainConfig field by name


def test_a_run_folder_is_continued_only_when_asked(run, mnist_small):
    folder, _ = run
    with pytest.raises(ValueError, match="resume=True"):
        train_model(folder, iterations=4, batch_size=16, seed=2, data=mnist_small,
                    generator_config=TINY_G, discriminator_config=TINY_D)


def test_every_kind_of_model_loads_to_the_same_samples(run, tmp_path):
    folder, result = run
    original = generator_from_state(read_checkpoint(folder).state)  # the weight average
    expected = generate(original, grid_inputs(original, 24, 6))
    export_model(folder, tmp_path / "exported", eval_samples=0)
    files = {path.name: path for path in (tmp_path / "exported").iterdir()}
    archive = write_archive(files, tmp_path / "exported.zip", "zip", "exported")
    for source in (folder, str(folder), result.checkpoint, tmp_path / "exported", archive):
        generator = load_generator(source)
        assert isinstance(generator, Generator) and not generator.training
        assert next(generator.parameters()).device.type == "cpu"  # as dcgan sample and serve
        images = sample_images(generator, n=24, seed=6)
        assert images.dtype == torch.uint8 and images.shape == (24, 28, 28)
        assert torch.equal(images, expected), source


def test_save_grid_writes_the_grids_png(run, tmp_path):
    folder, _ = run
    images = sample_images(load_generator(folder), n=10, seed=1)
    written = save_grid(images, str(tmp_path / "sub" / "grid.png"), nrow=5, padding=1)
    assert written == tmp_path / "sub" / "grid.png"
    assert written.read_bytes() == grid_png(images, 5, 1)


def test_data_sets_load_from_the_commands_data_folder(data_dir, monkeypatch):
    monkeypatch.setenv("DCGAN_DATA_DIR", str(data_dir))
    test = load_mnist(split="test")
    assert len(test) == 10_000 and test.images.dtype == torch.uint8
    assert len(load_dataset("mnist", str(data_dir), "test")) == 10_000
    assert default_data_dir() == data_dir
    monkeypatch.delenv("DCGAN_DATA_DIR")
    assert default_data_dir() == Path("data")  # as the command: ./data


def test_the_service_imports_no_training_code():
    code = (
        "import sys, service.app\n"
        "loaded = [m for m in sys.modules if m.startswith(('shared_models.training', "
        "'shared_models.python_api', 'shared_models.evaluation'))]\n"
        "assert not loaded, loaded\n"
        "import shared_models\n"
        "assert shared_models.train_model and 'shared_models.training' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_unknown_names_are_still_attribute_errors():
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        shared_models.nothing  # noqa: B018
    assert Path(shared_models.__file__).parent.name == "shared_models"
