"""The CUDA paths a CPU cannot exercise (marked ``gpu``: deselected unless ``-m gpu``; run by
bench/gpu_check.sh on a machine with an NVIDIA GPU).

They import only what training and serving a model need (torch, this package, SQLAlchemy and
fsspec for the models table and the store): no FastAPI, Celery or pydantic-settings, which the
GPU check machine does not have.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from shared_models.checkpoint import newest_checkpoint
from shared_models.config import NUM_CLASSES, TrainConfig
from shared_models.generator_io import generator_from_state
from shared_models.grids import grid_png
from shared_models.sampling import generate, grid_inputs, outputs
from shared_models.serving_artifact import load_serving_generator, write_serving_artifact
from shared_models.training import TrainHooks, train
from tests.conftest import TINY_D, TINY_G, tiny_train_config

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
CUDA = torch.device("cuda")
CONDITIONAL = (replace(TINY_G, num_classes=NUM_CLASSES), replace(TINY_D, num_classes=NUM_CLASSES))


def run(config: TrainConfig, data, run_dir: Path, configs=(TINY_G, TINY_D), resume=False,
        hooks: TrainHooks | None = None):
    start = newest_checkpoint(run_dir) if resume else None
    return train(config, data, run_dir, generator_config=configs[0],
                 discriminator_config=configs[1], device=CUDA, start=start, hooks=hooks)


def stop_after(steps: int) -> TrainHooks:
    done = {"step": 0}
    return TrainHooks(should_stop=lambda: done["step"] >= steps,
                      on_progress=lambda p: done.update(step=p.step), progress_every_s=0.0)


def test_a_run_stopped_and_resumed_on_cuda_ends_like_one_that_never_stopped(tmp_path, mnist_small):
    config = tiny_train_config(iterations=8, checkpoint_every=3, precision="float32")
    straight = run(config, mnist_small, tmp_path / "straight")
    first = run(config, mnist_small, tmp_path / "resumed", hooks=stop_after(5))
    assert first.stopped and first.step == 5
    resumed = run(config, mnist_small, tmp_path / "resumed", resume=True)
    assert resumed.step == 8
    a = newest_checkpoint(tmp_path / "straight").state
    b = newest_checkpoint(tmp_path / "resumed").state
    for name, value in a["generator"].items():
        assert torch.allclose(value.float(), b["generator"][name].float(), atol=1e-5), name
    assert straight.step == 8


def test_conditional_training_with_a_weight_average_on_cuda(tmp_path, mnist_small):
    config = tiny_train_config(iterations=6, ema_decay=0.9)
    result = run(config, mnist_small, tmp_path, configs=CONDITIONAL)
    state = newest_checkpoint(tmp_path).state
    assert result.step == 6 and state["generator_average"]["updates"] == 6
    assert [s["device"] for s in state["segments"]] == ["cuda"]
    assert state["segments"][0]["precision"] == "tf32"  # auto, eager, on CUDA
    generator = generator_from_state(state, CUDA)
    sevens = generate(generator, grid_inputs(generator, 8, seed=1, digit=7))
    assert sevens.shape == (8, 28, 28) and sevens.device.type == "cpu"


def test_a_cuda_written_checkpoint_is_served_on_the_cpu(tmp_path, mnist_small):
    run(tiny_train_config(iterations=3), mnist_small, tmp_path)
    checkpoint = newest_checkpoint(tmp_path)
    info = write_serving_artifact(checkpoint.state, tmp_path / "artifact",
                                  checkpoint.manifest.sha256)
    on_cpu, _ = load_serving_generator(tmp_path / "artifact", "cpu", expected_sha256=info.sha256)
    png = grid_png(generate(on_cpu, grid_inputs(on_cpu, 16, seed=3)))
    assert png.startswith(b"\x89PNG")


def test_a_conditional_model_is_served_on_cuda(tmp_path, mnist_small):
    """The model loader's test forward and the renders build their inputs on the model's
    device: a conditional model on a CUDA service draws every class."""
    run(tiny_train_config(iterations=3), mnist_small, tmp_path, configs=CONDITIONAL)
    checkpoint = newest_checkpoint(tmp_path)
    info = write_serving_artifact(checkpoint.state, tmp_path / "artifact",
                                  checkpoint.manifest.sha256)
    generator, _ = load_serving_generator(tmp_path / "artifact", CUDA, expected_sha256=info.sha256)
    checked = outputs(generator, grid_inputs(generator, 2, seed=0))
    assert checked.device.type == "cuda" and torch.isfinite(checked).all()
    on_cpu, _ = load_serving_generator(tmp_path / "artifact", "cpu")
    for digit in (None, 4):
        cuda_images = generate(generator, grid_inputs(generator, 16, seed=2, digit=digit))
        cpu_images = generate(on_cpu, grid_inputs(on_cpu, 16, seed=2, digit=digit))
        assert (cuda_images.int() - cpu_images.int()).abs().max() <= 2


def test_a_resume_where_another_precision_resolves_is_recorded_per_segment(tmp_path,
                                                                          mnist_small):
    config = tiny_train_config(iterations=6)
    run(config, mnist_small, tmp_path, hooks=stop_after(3))
    run(replace(config, precision="bfloat16"), mnist_small, tmp_path, resume=True)
    segments = newest_checkpoint(tmp_path).state["segments"]
    assert [(s["from_step"], s["precision"]) for s in segments] == [(0, "tf32"), (3, "bfloat16")]

