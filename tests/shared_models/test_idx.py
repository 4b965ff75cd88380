import gzip
import struct

import numpy as np
import pytest

from shared_models.data.idx import DataError, read_idx, write_idx


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_round_trip_raw_and_gzip(tmp_path, name):
    array = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / name, array)
    assert np.array_equal(read_idx(tmp_path / name, (5, 28, 28)), array)


def header(*shape: int, dtype: int = 0x08) -> bytes:
    return struct.pack(">HBB", 0, dtype, len(shape)) + struct.pack(f">{len(shape)}I", *shape)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\x00\x00", "too short"),
        (b"\x00\x01\x08\x01" + b"\x00" * 8, "not an unsigned-byte IDX"),
        (header(3, dtype=0x0D) + b"\x00" * 12, "not an unsigned-byte IDX"),
        (header(2, 28, 28) + b"\x00" * 100, "truncated"),
        (header(3) + b"\x00" * 5, "trailing bytes"),
        (header(4, 28, 28)[:7], "truncated IDX header"),
    ],
)
def test_malformed_files_are_rejected_with_the_file_name(tmp_path, payload, message):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(payload)
    with pytest.raises(DataError, match=message) as error:
        read_idx(path)
    assert str(path) in str(error.value)


def test_wrong_shape_is_rejected(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(header(3) + b"\x01\x02\x03")
    with pytest.raises(DataError, match=r"shape \(3,\), expected \(60000,\)"):
        read_idx(path, (60000,))


def test_truncated_gzip_is_rejected(tmp_path):
    path = tmp_path / "images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(header(2, 28, 28) + b"\x00" * 1568)[:-20])
    with pytest.raises(DataError, match="cannot read") as error:
        read_idx(path)
    assert str(path) in str(error.value)


def test_garbage_in_a_gz_file_is_rejected(tmp_path):
    path = tmp_path / "images-idx3-ubyte.gz"
    path.write_bytes(b"this is not gzip at all")
    with pytest.raises(DataError, match=str(path)):
        read_idx(path)
