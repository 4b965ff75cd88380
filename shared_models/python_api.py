"""The Python API: train, load, sample and save in a few lines, e.g. in a notebook.

Thin functions over the same pipeline the ``dcgan`` command and the service use: training is
:func:`shared_models.training.train`, sampling is :mod:`shared_models.sampling`, grids are
:mod:`shared_models.grids`, export is :mod:`shared_models.export`. Paths may be ``str`` or
``Path``. Devices are chosen as the command chooses them: training on CUDA when present, else
the CPU (``dcgan train``); generators are loaded on the CPU (``dcgan sample`` and the service),
where a seed gives the service's bytes. Data sets and classifiers live in ``$DCGAN_DATA_DIR``,
else ``./data``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from shared_models.checkpoint import read_checkpoint
from shared_models.config import (
    DiscriminatorConfig,
    GeneratorConfig,
    TrainConfig,
    network_configs,
)
from shared_models.data import ImageData
from shared_models.data import load_dataset as load_split
from shared_models.export import EXPORT_EVAL_SAMPLES, ExportResult, is_artifact, write_export
from shared_models.generator_io import generator_from_state
from shared_models.grids import grid_png
from shared_models.networks import Generator
from shared_models.sampling import generate, grid_inputs
from shared_models.training import TrainHooks, TrainResult, pick_device
from shared_models.training.run_folder import plan_run, run
from shared_models.verified_files import atomic_write

DATA_DIR_VARIABLE = "DCGAN_DATA_DIR"


def default_data_dir() -> Path:
    """``$DCGAN_DATA_DIR``, else ``./data``: where the command looks too."""
    return Path(os.environ.get(DATA_DIR_VARIABLE) or "data")


def load_dataset(
    name: str = "mnist", data_dir: str | Path | None = None, split: str = "train"
) -> ImageData:
    """A data set split as uint8 images (N, 28, 28) and labels, verified; MNIST is fetched
    when it is missing."""
    return load_split(name, Path(data_dir) if data_dir else default_data_dir(), split)


def load_mnist(data_dir: str | Path | None = None, split: str = "train") -> ImageData:
    return load_dataset("mnist", data_dir, split)


def train_model(
    out_dir: str | Path,
    *,
    conditional: bool = False,
    network_size: str = "tutorial",
    data: ImageData | None = None,
    data_dir: str | Path | None = None,
    device: str | torch.device | None = None,
    resume: bool = False,
    generator_config: GeneratorConfig | None = None,
    discriminator_config: DiscriminatorConfig | None = None,
    hooks: TrainHooks | None = None,
    **settings: Any,
) -> TrainResult:
    """Train the tutorial's DCGAN into the run folder ``out_dir``; ``result.checkpoint`` is
    the final checkpoint. Every TrainConfig field (``iterations``, ``batch_size``, ``seed``,
    ``dataset``, ``ema_decay``, ``lr``, ``checkpoint_every``, ...) may be passed by name, with
    TrainConfig's defaults (the tutorial's; seed 0). ``resume=True`` continues the run folder's
    newest checkpoint (on the same settings); otherwise a folder that already holds one is
    refused."""
    config = TrainConfig(**settings)
    default_generator, default_discriminator = network_configs(conditional, network_size)
    plan = plan_run(
        Path(out_dir), config, generator_config or default_generator,
        discriminator_config or default_discriminator, resume=resume,
    )
    if data is None:
        data = load_dataset(config.dataset, data_dir)
    return run(plan, data, pick_device(str(device) if device is not None else None), hooks)


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> Generator:
    """The generator to sample from, in eval mode: from a checkpoint file, a run folder (its
    newest checkpoint; the weight average when the run kept one), or an exported model (a
    folder, or its .zip/.tar.gz)."""
    path = Path(path)
    if is_artifact(path):
        return Generator.from_pretrained(path, device)
    return generator_from_state(read_checkpoint(path).state, device)


def sample_images(
    generator: Generator, n: int = 64, seed: int = 0, digit: int | None = None
) -> torch.Tensor:
    """n samples as uint8 (n, 28, 28) images on the CPU, white on black; the same generator
    and seed give the same bytes (a conditional generator draws every class in turn, or
    ``digit``)."""
    return generate(generator, grid_inputs(generator, n, seed, digit))


def save_grid(images: torch.Tensor, path: str | Path, nrow: int = 8, padding: int = 2) -> Path:
    """Write ``images`` (uint8 (n, 28, 28)) as a PNG grid in make_grid's layout."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, grid_png(images, nrow, padding))
    return path


def export_model(
    source: str | Path,
    out_dir: str | Path,
    *,
    data_dir: str | Path | None = None,
    eval_samples: int = EXPORT_EVAL_SAMPLES,
) -> ExportResult:
    """``dcgan export``: ``source`` (a checkpoint, a run folder or an exported model) as the
    serving artifact, sample grid and model card in ``out_dir``, which
    ``Generator.from_pretrained`` loads."""
    folder = Path(data_dir) if data_dir else default_data_dir()
    return write_export(Path(source), Path(out_dir), data_dir=folder, eval_samples=eval_samples)


__all__ = [
    "default_data_dir",
    "export_model",
    "load_dataset",
    "load_generator",
    "load_mnist",
    "sample_images",
    "save_grid",
    "train_model",
]
