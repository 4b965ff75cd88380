"""Data sets: IDX parsing, MNIST fetching, verified loading."""

from shared_models.data.catalog import CATALOG, FASHION_MNIST, MNIST, DatasetSpec
from shared_models.data.datasets import ImageData, describe, load_dataset
from shared_models.data.idx import DataError, read_idx, write_idx

__all__ = [
    "CATALOG",
    "FASHION_MNIST",
    "MNIST",
    "DataError",
    "DatasetSpec",
    "ImageData",
    "describe",
    "load_dataset",
    "read_idx",
    "write_idx",
]
