"""Loading a data set split as uint8 tensors, fetching MNIST first when it is missing.

Files are looked for in torchvision's layout under the data directory
(``<data_dir>/MNIST/raw/train-images-idx3-ubyte[.gz]``) and, for Fashion-MNIST, in Debian's
package folder. Every array is checked against its pinned SHA-256 before it is returned.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shared_models.data.catalog import CATALOG, MNIST, DatasetSpec, expected_shape, idx_name
from shared_models.data.idx import DataError, read_idx, write_idx
from shared_models.data.mnist_fetch import fetch_mnist, sha256_of

log = logging.getLogger(__name__)

KINDS = ("images", "labels")


@dataclass(frozen=True)
class ImageData:
    """One split of a data set: images (N, 28, 28) uint8 and labels (N,) int64."""

    name: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor
    source: Path

    def __len__(self) -> int:
        return int(self.images.shape[0])


def get_spec(name: str) -> DatasetSpec:
    try:
        return CATALOG[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(CATALOG)}") from None


def load_dataset(
    name: str, data_dir: Path, split: str = "train", *, fetch: bool = True
) -> ImageData:
    spec = get_spec(name)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = find_files(spec, data_dir)
    if folder is None:
        if spec is not MNIST or not fetch:
            raise DataError(missing_message(spec, data_dir))
        folder = install_mnist(data_dir)
    arrays = {kind: _read_verified(spec, folder, split, kind) for kind in KINDS}
    return ImageData(
        name=spec.name,
        split=split,
        images=torch.from_numpy(arrays["images"]),
        labels=torch.from_numpy(arrays["labels"].astype(np.int64)),
        source=folder,
    )


def find_files(spec: DatasetSpec, data_dir: Path) -> Path | None:
    """The first folder holding all four IDX files (raw or .gz)."""
    for folder in (spec.raw_dir(data_dir), *spec.system_dirs):
        if all(_idx_path(folder, split, kind) for split in ("train", "test") for kind in KINDS):
            return folder
    return None


def install_mnist(data_dir: Path) -> Path:
    """Fetch MNIST, verify every array and store it as gzip'd IDX in torchvision's layout."""
    target = MNIST.raw_dir(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".mnist-fetch-", dir=data_dir) as staging:
        arrays = fetch_mnist(Path(staging))
        for key, array in arrays.items():
            _check_hash(MNIST, key, array, origin=f"downloaded {key}")
        for key, array in arrays.items():
            split, kind = key.split("-")
            write_idx(target / f"{idx_name(split, kind)}.gz", array)
    log.info("MNIST verified and stored in %s", target)
    return target


def missing_message(spec: DatasetSpec, data_dir: Path) -> str:
    places = [str(spec.raw_dir(data_dir)), *(str(p) for p in spec.system_dirs)]
    hint = " (Debian: apt-get install dataset-fashion-mnist)" if spec.system_dirs else ""
    return (
        f"{spec.name} not found: put its four IDX files (e.g. {idx_name('train', 'images')}.gz) "
        f"in {' or '.join(places)}{hint}"
    )


def describe(data: ImageData) -> dict[str, Any]:
    counts = torch.bincount(data.labels, minlength=10).tolist()
    return {
        "dataset": data.name,
        "split": data.split,
        "images": len(data),
        "shape": list(data.images.shape[1:]),
        "source": str(data.source),
        "per_class": counts,
        "mean_pixel": round(float(data.images.float().mean() / 255.0), 4),
    }


def _read_verified(spec: DatasetSpec, folder: Path, split: str, kind: str) -> np.ndarray:
    path = _idx_path(folder, split, kind)
    if path is None:
        raise DataError(f"{folder / idx_name(split, kind)}: missing")
    array = read_idx(path, expected_shape(split, kind))
    _check_hash(spec, f"{split}-{kind}", array, origin=str(path))
    return array


def _check_hash(spec: DatasetSpec, key: str, array: np.ndarray, origin: str) -> None:
    digest = sha256_of(array)
    if digest != spec.sha256[key]:
        raise DataError(
            f"{origin}: SHA-256 of the {spec.name} {key} array is {digest}, "
            f"expected {spec.sha256[key]}; the file is corrupt or not {spec.name} "
            "(delete it to fetch a fresh copy)"
        )


def _idx_path(folder: Path, split: str, kind: str) -> Path | None:
    for name in (idx_name(split, kind), f"{idx_name(split, kind)}.gz"):
        if (folder / name).is_file():
            return folder / name
    return None
