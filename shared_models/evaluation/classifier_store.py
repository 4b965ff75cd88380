"""The evaluation classifiers' weights, cached in the data directory.

``<data_dir>/classifiers/mnist-cnn.pt`` is written atomically, then its manifest
``mnist-cnn.json`` (SHA-256, size, configs, test accuracy), the same way checkpoints are
(:mod:`shared_models.verified_files`). A weights file without a manifest is an unfinished save
and is trained again; one whose bytes do not match its manifest is refused. Loading uses
``torch.load(weights_only=True)`` after the hash check. A manifest written for other settings
than the ones asked for is stale: the classifier is trained again and the cache replaced.
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from shared_models import stored_values as stored
from shared_models import verified_files
from shared_models.checkpoint import CheckpointError
from shared_models.data.datasets import get_spec, load_dataset
from shared_models.evaluation.classifier import Classifier, ClassifierConfig
from shared_models.evaluation.classifier_training import (
    ClassifierTrainConfig,
    accuracy,
    train_classifier,
)

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CLASSIFIER_DIR = "classifiers"


class ClassifierError(CheckpointError):
    """A cached classifier is corrupt, incomplete or not what its manifest says."""


@dataclass(frozen=True)
class ClassifierInfo:
    path: Path
    dataset: str
    sha256: str
    size: int
    test_accuracy: float
    train_seconds: float
    config: dict[str, Any]
    train_config: dict[str, Any]
    created_at: float

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT_VERSION, **asdict(self), "path": self.path.name}

    @classmethod
    def from_json(cls, path: Path, data: dict[str, Any]) -> ClassifierInfo:
        """The manifest in ``data``, each field of the type it was written as (ValueError
        naming the first that is not)."""
        return cls(
            path=path,
            dataset=stored.text(data, "dataset"),
            sha256=stored.sha256_text(data, "sha256"),
            size=stored.integer(data, "size"),
            test_accuracy=stored.real(data, "test_accuracy", 0.0, 1.0),
            train_seconds=stored.real(data, "train_seconds", 0.0),
            config=stored.mapping(data, "config"),
            train_config=stored.mapping(data, "train_config"),
            created_at=stored.real(data, "created_at"),
        )


def classifier_path(dataset: str, data_dir: Path) -> Path:
    return data_dir / CLASSIFIER_DIR / f"{get_spec(dataset).name}-cnn.pt"


def manifest_path(weights: Path) -> Path:
    return verified_files.default_manifest(weights)


def load_or_train_classifier(
    dataset: str,
    data_dir: Path,
    *,
    force: bool = False,
    config: ClassifierConfig | None = None,
    train_config: ClassifierTrainConfig | None = None,
) -> tuple[Classifier, ClassifierInfo]:
    """The cached classifier for ``dataset``, trained (and cached) first when there is none."""
    config = config or ClassifierConfig()
    train_config = train_config or ClassifierTrainConfig()
    path = classifier_path(dataset, data_dir)
    if not force:
        info = read_info(path)
        if info is None:
            log.info("no %s classifier in %s: training one (about a minute)", dataset, path.parent)
        elif info.config != asdict(config) or info.train_config != asdict(train_config):
            log.info("%s was trained with other settings: training it again", path)
        else:
            return load_classifier(path, info), info
    return train_and_save(dataset, data_dir, config, train_config)


def train_and_save(
    dataset: str, data_dir: Path, config: ClassifierConfig, train_config: ClassifierTrainConfig
) -> tuple[Classifier, ClassifierInfo]:
    trained = train_classifier(load_dataset(dataset, data_dir, "train"), config, train_config)
    test_accuracy = accuracy(trained.model, load_dataset(dataset, data_dir, "test"))
    log.info(
        "%s classifier: %.2f%% test accuracy after %.0fs",
        dataset,
        100 * test_accuracy,
        trained.seconds,
    )
    state = {
        "format": FORMAT_VERSION,
        "dataset": dataset,
        "config": asdict(config),
        "model": trained.model.state_dict(),
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    path = classifier_path(dataset, data_dir)
    fields = {
        "path": path.name,
        "dataset": dataset,
        "test_accuracy": test_accuracy,
        "train_seconds": trained.seconds,
        "config": asdict(config),
        "train_config": asdict(train_config),
        "created_at": time.time(),
    }
    data = verified_files.write_verified(
        path, buffer.getvalue(), fields, format_version=FORMAT_VERSION
    )
    return trained.model, ClassifierInfo.from_json(path, data)


def read_info(path: Path) -> ClassifierInfo | None:
    """The manifest of a complete cached classifier; None when either file is missing."""
    if not path.is_file() or not manifest_path(path).is_file():
        return None
    try:
        data = verified_files.read_manifest(path, format_version=FORMAT_VERSION)
        return ClassifierInfo.from_json(path, data)
    except (verified_files.VerifiedFileError, ValueError) as error:
        message = str(error)
        if not isinstance(error, verified_files.VerifiedFileError):
            message = f"{manifest_path(path)}: unreadable manifest ({error})"
        raise ClassifierError(f"{message}; {_REMEDY}") from error


def load_classifier(path: Path, info: ClassifierInfo) -> Classifier:
    """Check the weights against their manifest, then rebuild the classifier in eval mode:
    the one ``info.config`` describes (the settings asked for), no other."""
    try:
        payload = verified_files.read_payload(path, info.to_json())
    except verified_files.VerifiedFileError as error:
        raise ClassifierError(f"{error}; {_REMEDY}") from error
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
        if state.get("format") != FORMAT_VERSION or state.get("dataset") != info.dataset:
            raise ValueError(f"not a {info.dataset} classifier (format {FORMAT_VERSION})")
        if state.get("config") != info.config:
            raise ValueError(f"weights of other settings than {manifest_path(path).name}'s")
        model = Classifier(ClassifierConfig(**info.config))
        model.load_state_dict(state["model"])
    except Exception as error:  # noqa: BLE001 - any unpickling/shape failure is a bad file
        raise ClassifierError(f"{path}: cannot load ({error}); {_REMEDY}") from error
    return model.eval()


_REMEDY = "delete it or run 'dcgan classifier --force' to train it again"
