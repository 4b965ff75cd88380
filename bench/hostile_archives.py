"""Model archives whose headers ask for more than they should, written small: the hostile
parts are runs of one byte, which gzip and deflate shrink about a thousandfold. Each builder
takes the size it asks for, so the benchmark writes gigabyte-sized requests and the tests
megabyte-sized ones. ``model`` is a model folder (config.json + model.safetensors) whose
files follow the hostile part, so that an archive is refused for that part alone.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import struct
import zipfile
from pathlib import Path
from typing import IO

import torch

from shared_models.config import GeneratorConfig, TrainConfig, to_dict
from shared_models.networks import Generator, init_weights
from shared_models.serving_artifact import CONFIG_FILE, WEIGHTS_FILE, write_serving_artifact

CHUNK = 8 << 20
BLOCK = 512


def model_folder(folder: Path, config: GeneratorConfig) -> Path:
    """A generator's serving artifact, as a worker writes it (the weights randomly
    initialised: reading and loading do not care)."""
    generator = Generator(config)
    init_weights(generator, torch.Generator().manual_seed(0))
    state = {
        "generator": generator.state_dict(),
        "generator_config": to_dict(config),
        "dataset": "mnist",
        "train_config": to_dict(TrainConfig()),
        "step": 1,
    }
    write_serving_artifact(state, folder, "0" * 64)
    return folder


def tar_header(name: bytes, size: int, kind: bytes = b"0") -> bytes:
    """One ustar header block (``size`` up to 8 GiB, as octal)."""
    fields = [
        name.ljust(100, b"\0"), b"0000644\0", b"0000000\0", b"0000000\0",
        b"%011o\0" % size, b"00000000000\0", b" " * 8, kind, bytes(100),
        b"ustar\x0000", bytes(32), bytes(32), bytes(8), bytes(8), bytes(155), bytes(12),
    ]
    block = bytearray(b"".join(fields))
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def write_run(out: IO[bytes], byte: bytes, size: int) -> None:
    """``size`` copies of ``byte``, a chunk at a time."""
    chunk = byte * min(size, CHUNK)
    while size:
        out.write(chunk[: min(size, CHUNK)])
        size -= min(size, CHUNK)


def write_member(out: IO[bytes], name: str, payload: bytes) -> None:
    out.write(tar_header(name.encode(), len(payload)))
    out.write(payload + bytes(-len(payload) % BLOCK))


def model_members(out: IO[bytes], model: Path) -> None:
    """The model's two files under ``model/``, then the end of the archive."""
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        write_member(out, f"model/{name}", (model / name).read_bytes())
    out.write(bytes(2 * BLOCK))


def long_name_tar(path: Path, model: Path, size: int) -> None:
    """A .tar.gz whose first header is a GNU long name of ``size`` bytes."""
    with gzip.open(path, "wb") as out:
        out.write(tar_header(b"././@LongLink", size, b"L"))
        write_run(out, b"a", size)
        out.write(bytes(-size % BLOCK))
        model_members(out, model)


def pax_tar(path: Path, model: Path, size: int) -> None:
    """A .tar.gz whose first header is a PAX ``path`` record of about ``size`` bytes."""
    body = size - 64  # the record's value
    length = len(b" path=\n") + body
    length += len(str(length + len(str(length))))  # the record counts its own length
    with gzip.open(path, "wb") as out:
        out.write(tar_header(b"././@PaxHeader", length, b"x"))
        out.write(b"%d path=" % length)
        write_run(out, b"a", body)
        out.write(b"\n" + bytes(-length % BLOCK))
        model_members(out, model)


def filler_tar(path: Path, model: Path, size: int) -> None:
    """A gzip bomb: a .tar.gz of ``size`` zero bytes in a filler file, then the model."""
    with gzip.open(path, "wb") as out:
        out.write(tar_header(b"model/filler.bin", size))
        write_run(out, b"\0", size)
        out.write(bytes(-size % BLOCK))
        model_members(out, model)


def big_weights_tar(path: Path, model: Path, size: int) -> None:
    """A .tar.gz of the model's config.json and ``size`` zero bytes as its weights."""
    with gzip.open(path, "wb") as out:
        write_member(out, f"model/{CONFIG_FILE}", (model / CONFIG_FILE).read_bytes())
        out.write(tar_header(f"model/{WEIGHTS_FILE}".encode(), size))
        write_run(out, b"\0", size)
        out.write(bytes(-size % BLOCK + 2 * BLOCK))


def big_weights_zip(path: Path, model: Path, size: int) -> None:
    """A .zip of the model's config.json and ``size`` zero bytes as its weights."""
    zip_with_weights(path, (model / CONFIG_FILE).read_bytes(), size)


def declared_weights_zip(path: Path, model: Path, size: int) -> None:
    """A .zip whose config.json declares ``size`` bytes of weights (and holds them, zeros
    with their SHA-256) for the model's architecture."""
    digest = hashlib.sha256()
    left = size
    while left:
        digest.update(bytes(min(left, CHUNK)))
        left -= min(left, CHUNK)
    config = json.loads((model / CONFIG_FILE).read_text())
    config.update(size=size, sha256=digest.hexdigest())
    zip_with_weights(path, json.dumps(config).encode(), size)


def zip_with_weights(path: Path, config: bytes, size: int) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr(f"model/{CONFIG_FILE}", config)
        with zipped.open(f"model/{WEIGHTS_FILE}", "w") as out:
            write_run(out, b"\0", size)


def crowded_zip(path: Path, entries: int, says: int | None = None) -> None:
    """A .zip listing ``entries`` empty files; its end record says ``says`` (default: the
    truth). Zip64 end records, as over 65,535 entries need."""
    central = bytearray()
    with open(path, "wb") as out:
        for index in range(entries):
            name = b"%07d" % index
            offset = out.tell()
            out.write(struct.pack(zipfile.structFileHeader, zipfile.stringFileHeader, 20, 0, 0,
                                  0, 0, 0, 0, 0, 0, len(name), 0) + name)
            central += struct.pack(zipfile.structCentralDir, zipfile.stringCentralDir, 20, 0,
                                   20, 0, 0, 0, 0, 0, 0, 0, 0, len(name), 0, 0, 0, 0, 0,
                                   offset) + name
        start = out.tell()
        out.write(central)
        end64 = out.tell()
        said = entries if says is None else says
        out.write(struct.pack(zipfile.structEndArchive64, zipfile.stringEndArchive64, 44, 45,
                              45, 0, 0, said, said, len(central), start))
        out.write(struct.pack(zipfile.structEndArchive64Locator,
                              zipfile.stringEndArchive64Locator, 0, end64, 1))
        out.write(struct.pack(zipfile.structEndArchive, zipfile.stringEndArchive, 0, 0,
                              0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))
