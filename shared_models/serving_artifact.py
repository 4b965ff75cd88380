"""The serving artifact: one checkpoint's generator alone, ready to sample, without pickle.

A folder holds ``model.safetensors`` (the weights sampling uses: the weight average when the run
kept one, else the live weights) and ``config.json``, the weights' manifest: format version,
architecture (the GeneratorConfig dict), whether it is conditional, the average's decay (0.0 for
live weights), data set, training settings (the TrainConfig dict), step, the SHA-256 of the
checkpoint it came from, and the SHA-256 and size of ``model.safetensors``, which identify the
served model. Both are written and checked by :mod:`shared_models.verified_files`, weights
first; loading needs only torch, safetensors and this package.

Scores are not part of it: they are computed later and kept with the model's record.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from shared_models import verified_files
from shared_models.config import GeneratorConfig, from_dict
from shared_models.generator_io import generator_from_weights, sampling_weights
from shared_models.networks import Generator

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


class ArtifactError(verified_files.VerifiedFileError):
    """A serving artifact is incomplete, corrupt, of another format or not the one expected."""


@dataclass(frozen=True)
class ArtifactInfo:
    folder: Path
    sha256: str  # of model.safetensors
    size: int
    architecture: dict[str, Any]  # GeneratorConfig as a dict
    conditional: bool
    ema_decay: float  # decay of the weight average held; 0.0: the live weights
    averaged: bool
    dataset: str
    train_config: dict[str, Any]
    step: int
    source_sha256: str  # of the checkpoint the weights came from

    @property
    def generator_config(self) -> GeneratorConfig:
        config: GeneratorConfig = from_dict(GeneratorConfig, self.architecture)
        return config

    @classmethod
    def from_json(cls, folder: Path, data: dict[str, Any]) -> ArtifactInfo:
        return cls(
            folder=folder,
            sha256=str(data["sha256"]),
            size=int(data["size"]),
            architecture=dict(data["architecture"]),
            conditional=bool(data["conditional"]),
            ema_decay=float(data["ema_decay"]),
            averaged=bool(data["averaged"]),
            dataset=str(data["dataset"]),
            train_config=dict(data["train_config"]),
            step=int(data["step"]),
            source_sha256=str(data["source_sha256"]),
        )


def write_serving_artifact(state: dict, folder: Path, source_sha256: str) -> ArtifactInfo:
    """Write the sampling weights of a checkpoint ``state`` (already in memory) to ``folder``:
    ``model.safetensors`` atomically, then ``config.json``."""
    weights = {
        name: tensor.detach().cpu().contiguous()
        for name, tensor in sampling_weights(state).items()
    }
    average = state.get("generator_average")
    architecture = dict(state["generator_config"])
    fields = {
        "file": WEIGHTS_FILE,
        "architecture": architecture,
        "conditional": int(architecture.get("num_classes", 0)) > 0,
        "ema_decay": float(average["decay"]) if average is not None else 0.0,
        "averaged": average is not None,
        "dataset": str(state["dataset"]),
        "train_config": dict(state["train_config"]),
        "step": int(state["step"]),
        "source_sha256": source_sha256,
    }
    data = verified_files.write_verified(
        folder / WEIGHTS_FILE,
        save_safetensors(weights),
        fields,
        format_version=FORMAT_VERSION,
        manifest=folder / CONFIG_FILE,
    )
    return ArtifactInfo.from_json(folder, data)


def read_serving_artifact(
    folder: Path, expected_sha256: str | None = None
) -> tuple[dict[str, torch.Tensor], ArtifactInfo]:
    """The verified weights (on the CPU) and description of the artifact in ``folder``.

    Refused with :class:`ArtifactError`: a missing or unreadable config.json, another format,
    weights whose size or SHA-256 differ from config.json's (or from ``expected_sha256``), and
    weights that are not the architecture's.
    """
    weights_path, config_path = folder / WEIGHTS_FILE, folder / CONFIG_FILE
    payload, data = verified_files.read_verified(
        weights_path, format_version=FORMAT_VERSION, manifest=config_path, error=ArtifactError
    )
    if expected_sha256 is not None and data["sha256"] != expected_sha256:
        raise ArtifactError(
            f"{folder}: holds model {data['sha256'][:12]}…, not the expected "
            f"{expected_sha256[:12]}…"
        )
    try:
        info = ArtifactInfo.from_json(folder, data)
        config = info.generator_config
    except (ValueError, KeyError, TypeError) as error:
        raise ArtifactError(f"{config_path}: unreadable manifest ({error})") from error
    try:
        weights = load_safetensors(payload)
    except Exception as error:  # noqa: BLE001 - any parse failure is a bad file
        raise ArtifactError(f"{weights_path}: cannot load ({error})") from error
    check_architecture(weights_path, weights, config)
    return weights, info


def check_architecture(
    path: Path, weights: dict[str, torch.Tensor], config: GeneratorConfig
) -> None:
    """Refuse weights whose names, shapes or dtypes are not those of ``config``'s generator."""
    with torch.device("meta"):
        expected = Generator(config).state_dict()
    found = {name: (tuple(t.shape), t.dtype) for name, t in weights.items()}
    wanted = {name: (tuple(t.shape), t.dtype) for name, t in expected.items()}
    if found != wanted:
        differ = sorted(name for name in found.keys() | wanted.keys()
                        if found.get(name) != wanted.get(name))
        raise ArtifactError(
            f"{path}: weights do not fit the architecture in {CONFIG_FILE} "
            f"({len(differ)} tensors differ, e.g. {', '.join(differ[:3])})"
        )


def load_serving_generator(
    folder: Path,
    device: torch.device | str = "cpu",
    fast_layers: bool = True,
    expected_sha256: str | None = None,
) -> tuple[Generator, ArtifactInfo]:
    """The artifact's generator in eval mode on ``device`` (fast layers unless told not to)."""
    weights, info = read_serving_artifact(folder, expected_sha256)
    return generator_from_weights(info.architecture, weights, device, fast_layers), info
