"""Exporting a model: the serving artifact plus its model card, in one folder.

The source is a checkpoint file, a run folder (its newest complete checkpoint), or a model
already exported or published (an artifact folder, or a .zip/.tar.gz of one). The folder gets
exactly what a worker publishes with every checkpoint (``model.safetensors`` + ``config.json``,
written by :func:`shared_models.serving_artifact.write_serving_artifact`, so the weights' bytes
and SHA-256 are the published ones), then ``samples.png`` and ``README.md``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared_models.checkpoint import read_checkpoint
from shared_models.config import EXPORT_EVAL_SAMPLES
from shared_models.evaluation import Evaluator
from shared_models.evaluation.classifier_store import classifier_path, read_info
from shared_models.model_card import write_model_card
from shared_models.networks import Generator
from shared_models.pretrained import archive_format, artifact_folder, copy_file
from shared_models.serving_artifact import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    ArtifactInfo,
    load_serving_generator,
    read_serving_artifact,
    write_serving_artifact,
)

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class ExportResult:
    folder: Path
    info: ArtifactInfo
    metrics: dict[str, Any] | None  # the card's figures; None when none were computed
    metrics_note: str  # why there are none


def write_export(
    source: Path, out: Path, *, data_dir: Path, eval_samples: int = EXPORT_EVAL_SAMPLES
) -> ExportResult:
    """Write ``source``'s serving artifact, sample grid and model card into ``out_dir``.

    Figures come from scoring ``eval_samples`` samples with the data set's cached classifier
    in ``data_dir``; with no cached classifier (none is trained here) or ``eval_samples`` 0
    the card says that none were computed."""
    write_artifact(source, out)
    generator, info = load_serving_generator(out)  # what was written, verified
    metrics, note = score(generator, info.dataset, data_dir, eval_samples)
    write_model_card(out, generator, info, metrics, metrics_note=note)
    log.info("exported step %d of %s to %s", info.step, source, out)
    return ExportResult(out, info, metrics, note)


def is_artifact(path: Path) -> bool:
    """Whether ``path`` is an exported or published model (folder or archive), not a run."""
    if path.is_dir():
        return (path / CONFIG_FILE).is_file() and (path / WEIGHTS_FILE).is_file()
    return archive_format(path) is not None


def write_artifact(source: Path, out: Path) -> ArtifactInfo:
    """The serving artifact of ``source`` in ``out``: built from a checkpoint's state, or a
    verified copy of an artifact."""
    if is_artifact(source):
        with artifact_folder(source) as folder:
            read_serving_artifact(folder)  # refuse a damaged one before copying it
            if folder.resolve() != out.resolve():
                for name in (WEIGHTS_FILE, CONFIG_FILE):  # weights first, as when written
                    copy_file(folder / name, out / name)
        return read_serving_artifact(out)[1]
    checkpoint = read_checkpoint(source)
    return write_serving_artifact(checkpoint.state, out, checkpoint.manifest.sha256)


def score(
    generator: Generator, dataset: str, data_dir: Path, samples: int
) -> tuple[dict[str, Any] | None, str]:
    """The card's figures, or None and the reason there are none."""
    if samples < 2:
        return None, "scoring was skipped when the model was exported"
    if read_info(classifier_path(dataset, data_dir)) is None:
        return None, (
            f"no cached {dataset} evaluation classifier in {data_dir} when the model was "
            f"exported (train one with: dcgan classifier --dataset {dataset})"
        )
    result = Evaluator.for_dataset(dataset, data_dir).evaluate_generator(generator, samples)
    return result.figures(), ""
