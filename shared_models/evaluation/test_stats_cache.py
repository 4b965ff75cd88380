"""The test set's feature statistics, cached beside the classifier that computed them.

Every score compares a generator's features with the test set's, and computing the test set's
(10,000 images through the classifier) takes longer than scoring a few hundred samples. They
depend on nothing but the classifier and the test split (both verified by SHA-256 when read),
so ``<data_dir>/classifiers/mnist-cnn.test-stats.pt`` keeps them, tagged with the classifier's
SHA-256 and the kind of device that computed them (their last digits differ between a CPU and
a GPU). A file for another classifier or device, or one that does not read as the statistics it
should hold, is computed again and replaced: the cache never changes a figure, only how soon
it comes.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from pathlib import Path

import torch

from shared_models.evaluation.classifier_store import ClassifierInfo
from shared_models.evaluation.metrics import FeatureStats
from shared_models.verified_files import atomic_write

log = logging.getLogger(__name__)

SUFFIX = ".test-stats.pt"


def stats_path(info: ClassifierInfo) -> Path:
    return info.path.with_name(info.path.stem + SUFFIX)


def cached_test_stats(
    info: ClassifierInfo, device_type: str, compute: Callable[[], FeatureStats]
) -> FeatureStats:
    """The statistics ``compute`` gives for ``info``'s classifier on a ``device_type`` device,
    read from the cache when it holds them, else computed and cached."""
    path = stats_path(info)
    key = {"classifier_sha256": info.sha256, "device": device_type}
    stats = read_stats(path, key)
    if stats is None:
        stats = compute()
        try:
            write_stats(path, key, stats)
        except OSError as error:  # a read-only data folder: the figures are the same
            log.warning("could not cache the test set's statistics in %s: %s", path, error)
    return stats


def read_stats(path: Path, key: dict[str, str]) -> FeatureStats | None:
    if not path.is_file():
        return None
    try:
        state = torch.load(io.BytesIO(path.read_bytes()), map_location="cpu", weights_only=True)
        if {name: state[name] for name in key} != key:
            log.info("%s holds another classifier's or device's statistics: computing them "
                     "again", path)
            return None
        mean, cov, count = state["mean"], state["cov"], state["count"]
        if not (
            isinstance(mean, torch.Tensor)
            and isinstance(cov, torch.Tensor)
            and mean.ndim == 1
            and cov.shape == (mean.shape[0], mean.shape[0])
            and mean.dtype == cov.dtype == torch.float64
            and isinstance(count, int)
            and count >= 2
            and torch.isfinite(mean).all()
            and torch.isfinite(cov).all()
        ):
            raise ValueError("not a feature mean and covariance")
    except Exception as error:  # noqa: BLE001 - any unreadable file is recomputed, not served
        log.warning("%s is unreadable (%s): computing the statistics again", path, error)
        return None
    return FeatureStats(mean, cov, count)


def write_stats(path: Path, key: dict[str, str], stats: FeatureStats) -> None:
    buffer = io.BytesIO()
    torch.save({**key, "mean": stats.mean, "cov": stats.cov, "count": stats.count}, buffer)
    atomic_write(path, buffer.getvalue())
