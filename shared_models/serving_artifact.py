"""The serving artifact: one checkpoint's generator alone, ready to sample, without pickle.

A folder holds ``model.safetensors`` (the weights sampling uses: the weight average when the run
kept one, else the live weights) and ``config.json``, the weights' manifest: format version,
architecture (the GeneratorConfig dict), whether it is conditional, the average's decay (0.0 for
live weights), which weights are served and why (``served_weights``), data set, training
settings (the TrainConfig dict), step, the SHA-256 of the checkpoint it came from, and the
SHA-256 and size of ``model.safetensors``, which identify the served model. Both are written and
checked by :mod:`shared_models.verified_files`, weights first; loading needs only torch,
safetensors and this package.

Reading trusts nothing in either file: every field of config.json must be of the type and
range it was written with, the architecture within the networks' parameter cap, and the
weights' declared size no more than that architecture's weights take, all before a byte of the
weights is read or a network is built.

Scores are not part of it: they are computed later and kept with the model's record.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from shared_models import stored_values as stored
from shared_models import verified_files
from shared_models.config import GeneratorConfig, TrainConfig, from_dict
from shared_models.generator_io import generator_from_weights, sampling_weights
from shared_models.networks import Generator
from shared_models.weight_average import describe_average, describe_constant_average

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
# Room for the safetensors header beside the tensors: a JSON list of each tensor's name, dtype,
# shape and offsets, a few dozen bytes per tensor for the generator's sixteen or so.
SAFETENSORS_HEADER_BYTES = 64 << 10


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
    served_weights: str  # which weights these are and why, in words
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
        """The manifest in ``data``, each field of the type and range it was written with,
        the architecture a generator within the parameter cap, the training settings a
        TrainConfig (ValueError naming the first that is not)."""
        info = cls(
            folder=folder,
            sha256=stored.sha256_text(data, "sha256"),
            size=stored.integer(data, "size"),
            architecture=stored.mapping(data, "architecture"),
            conditional=stored.flag(data, "conditional"),
            ema_decay=stored.real(data, "ema_decay", 0.0, 1.0),
            averaged=stored.flag(data, "averaged"),
            served_weights=_served_weights(data),
            dataset=stored.text(data, "dataset"),
            train_config=stored.mapping(data, "train_config"),
            step=stored.integer(data, "step"),
            source_sha256=stored.text(data, "source_sha256"),
        )
        config = info.generator_config
        if info.conditional != (config.num_classes > 0):
            raise ValueError(
                f"conditional is {info.conditional}, but the architecture has "
                f"{config.num_classes} classes"
            )
        from_dict(TrainConfig, info.train_config)
        return info


def _served_weights(data: dict[str, Any]) -> str:
    """``served_weights``; for an artifact written before it existed, what it serves: its
    average then had a constant decay."""
    if data.get("served_weights") is not None:
        return stored.text(data, "served_weights")
    if not stored.flag(data, "averaged"):
        return describe_average(None)
    return describe_constant_average(stored.real(data, "ema_decay", 0.0, 1.0))


def weights_size_limit(config: GeneratorConfig) -> int:
    """The most bytes a safetensors file of ``config``'s generator takes: its float32 state
    dict and the header that names the tensors."""
    return config.state_dict_bytes + SAFETENSORS_HEADER_BYTES


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
        "served_weights": describe_average(average),
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
    weights_path = folder / WEIGHTS_FILE
    data, info = read_artifact_info(folder)
    if expected_sha256 is not None and info.sha256 != expected_sha256:
        raise ArtifactError(
            f"{folder}: holds model {info.sha256[:12]}…, not the expected "
            f"{expected_sha256[:12]}…"
        )
    payload = verified_files.read_payload(weights_path, data, ArtifactError)
    try:
        weights = load_safetensors(payload)
    except Exception as error:  # noqa: BLE001 - any parse failure is a bad file
        raise ArtifactError(f"{weights_path}: cannot load ({error})") from error
    check_architecture(weights_path, weights, info.generator_config)
    return weights, info


def read_artifact_info(folder: Path) -> tuple[dict[str, Any], ArtifactInfo]:
    """config.json of the artifact in ``folder`` (as read, and as ArtifactInfo), every field
    checked, and the weights' declared size no more than its architecture takes; nothing of
    the weights is read. Refused with :class:`ArtifactError` saying what is wrong."""
    config_path = folder / CONFIG_FILE
    data = verified_files.read_manifest(
        folder / WEIGHTS_FILE, format_version=FORMAT_VERSION, manifest=config_path,
        error=ArtifactError,
    )
    try:
        info = ArtifactInfo.from_json(folder, data)
    except ValueError as error:
        raise ArtifactError(f"{config_path}: unreadable manifest ({error})") from error
    limit = weights_size_limit(info.generator_config)
    if info.size > limit:
        raise ArtifactError(
            f"{config_path}: declares weights of {info.size} bytes; its architecture's take "
            f"at most {limit} bytes"
        )
    return data, info


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
