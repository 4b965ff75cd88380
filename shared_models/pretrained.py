"""An exported model as a folder or as one archive file, and loading it back.

An exported model is a folder: the serving artifact (``model.safetensors`` + ``config.json``,
:mod:`shared_models.serving_artifact`) plus its model card (``README.md``) and sample grid
(:mod:`shared_models.model_card`). ``write_archive`` packs such files into a ``.zip`` or a
``.tar.gz`` under one top folder; ``load_pretrained`` loads a folder or either archive.

Reading an archive writes nothing under a name taken from it: only the two files the artifact
needs are copied out, from the archive's root or from a single top folder, into fixed names in a
temporary folder, and only regular files within the size bounds below. Links, devices, absolute
or ``..`` names are never followed, so a hostile archive cannot write outside that folder or
fill the disk. The weights are then checked against the SHA-256 in ``config.json``.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import IO

import torch

from shared_models.networks import Generator
from shared_models.serving_artifact import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    ArtifactError,
    ArtifactInfo,
    load_serving_generator,
)
from shared_models.verified_files import atomic_replace

ARCHIVE_FORMATS = {"zip": ".zip", "tar.gz": ".tar.gz"}
MEDIA_TYPES = {"zip": "application/zip", "tar.gz": "application/gzip"}
# what an archive may hold before reading it stops: a full-size generator's weights are 27.8 MB
MAX_WEIGHTS_BYTES = 1 << 30
MAX_CONFIG_BYTES = 1 << 20
MAX_MEMBERS = 64
MAX_ARCHIVE_BYTES = 2 << 30  # declared sizes of every member together
LIMITS = {CONFIG_FILE: MAX_CONFIG_BYTES, WEIGHTS_FILE: MAX_WEIGHTS_BYTES}
COPY_CHUNK = 1 << 20

# take(name in the archive, its declared size, its bytes): called for each model file found
Take = Callable[[str, int, IO[bytes]], None]


def archive_format(path: Path) -> str | None:
    """"zip" or "tar.gz" from the file name (``.tgz`` too); None for anything else."""
    name = path.name.lower()
    if name.endswith(".zip"):
        return "zip"
    if name.endswith((".tar.gz", ".tgz")):
        return "tar.gz"
    return None


def load_pretrained(
    path: str | Path, device: torch.device | str | None = None, fast_layers: bool = True
) -> tuple[Generator, ArtifactInfo]:
    """The generator of an exported model (a folder, or a .zip/.tar.gz of one), verified, in
    eval mode on ``device`` (default the CPU, where the service samples)."""
    with artifact_folder(Path(path)) as folder:
        generator, info = load_serving_generator(folder, device or "cpu", fast_layers)
    return generator, replace(info, folder=Path(path))


@contextmanager
def artifact_folder(path: Path) -> Iterator[Path]:
    """The folder holding the artifact's two files: ``path`` itself, or for an archive a
    temporary copy of them, removed afterwards."""
    if path.is_dir():
        yield path
        return
    kind = archive_format(path)
    if kind is None or not path.is_file():
        what = "no such file or folder" if not path.exists() else (
            "not a model folder, nor a .zip or .tar.gz archive of one")
        raise ArtifactError(f"{path}: {what}")
    with tempfile.TemporaryDirectory(prefix=".dcgan-model-") as temp:
        yield extract_artifact(path, kind, Path(temp))


def extract_artifact(archive: Path, kind: str, into: Path) -> Path:
    """Copy the artifact's config.json and model.safetensors out of ``archive`` into
    ``into``; the folder holding them."""
    slots: dict[tuple[str, ...], Path] = {}  # a model folder in the archive -> its copy here

    def take(name: str, size: int, source: IO[bytes]) -> None:
        where = _model_member(name)
        if where is None:
            return
        folder, file = where
        limit = LIMITS[file]
        if size > limit:
            raise ArtifactError(f"{archive}: {name} is {size} bytes, over the {limit} allowed")
        slot = slots.setdefault(folder, into / str(len(slots)))
        slot.mkdir(parents=True, exist_ok=True)
        _copy_bounded(source, slot / file, limit, f"{archive}: {name}")

    try:
        if kind == "zip":
            _read_zip(archive, take)
        else:
            _read_tar(archive, take)
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError) as error:
        raise ArtifactError(f"{archive}: unreadable {kind} archive ({error})") from error
    complete = [slot for slot in slots.values() if all((slot / f).is_file() for f in LIMITS)]
    if not complete:
        raise ArtifactError(
            f"{archive}: holds no model ({CONFIG_FILE} and {WEIGHTS_FILE} side by side, at the "
            "top or in one folder)"
        )
    if len(complete) > 1:
        raise ArtifactError(f"{archive}: holds {len(complete)} models; expected one")
    return complete[0]


def write_archive(files: Mapping[str, Path], out: Path, kind: str, root: str) -> Path:
    """Pack ``files`` (name in the archive -> file on disk) under the top folder ``root`` into
    ``out``, a ``kind`` ("zip" or "tar.gz") archive, atomically."""
    if kind not in ARCHIVE_FORMATS:
        raise ValueError(f"archive format must be one of {', '.join(ARCHIVE_FORMATS)}")
    if not root or "/" in root or root in (".", ".."):
        raise ValueError(f"invalid top folder name {root!r}")

    def fill(temp: Path) -> None:
        if kind == "zip":
            with zipfile.ZipFile(temp, "w", zipfile.ZIP_DEFLATED) as zipped:
                for name, source in sorted(files.items()):
                    zipped.write(source, f"{root}/{name}")
            return
        with tarfile.open(temp, "w:gz") as tar:
            for name, source in sorted(files.items()):
                tar.add(source, arcname=f"{root}/{name}", recursive=False, filter=_anonymous)

    atomic_replace(out, fill)
    return out


def copy_file(source: Path, target: Path) -> None:
    """Copy a file atomically (an exported folder never holds half a file)."""
    atomic_replace(target, lambda temp: shutil.copyfile(source, temp))


def _model_member(name: str) -> tuple[tuple[str, ...], str] | None:
    """(its folder, its file name) when ``name`` is a model file at the top or in one top
    folder; None for anything else, including absolute and ``..`` names."""
    if name.startswith("/") or "\\" in name:
        return None
    parts = tuple(part for part in PurePosixPath(name).parts if part != ".")
    if not parts or ".." in parts or len(parts) > 2 or parts[-1] not in LIMITS:
        return None
    return parts[:-1], parts[-1]


def _read_zip(archive: Path, take: Take) -> None:
    with zipfile.ZipFile(archive) as zipped:
        members = zipped.infolist()
        _check_counts(archive, len(members), sum(member.file_size for member in members))
        for member in members:
            if not member.is_dir() and _model_member(member.filename) is not None:
                with zipped.open(member) as source:
                    take(member.filename, member.file_size, source)


def _read_tar(archive: Path, take: Take) -> None:
    members = declared = 0
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:  # read as a stream: stop at the first bound crossed
            members, declared = members + 1, declared + member.size
            _check_counts(archive, members, declared)
            if member.isreg() and _model_member(member.name) is not None:
                source = tar.extractfile(member)
                if source is not None:
                    take(member.name, member.size, source)


def _check_counts(archive: Path, members: int, declared: int) -> None:
    if members > MAX_MEMBERS:
        raise ArtifactError(f"{archive}: more than {MAX_MEMBERS} entries; not an exported model")
    if declared > MAX_ARCHIVE_BYTES:
        raise ArtifactError(f"{archive}: over {MAX_ARCHIVE_BYTES} bytes; not an exported model")


def _copy_bounded(source: IO[bytes], target: Path, limit: int, what: str) -> None:
    copied = 0
    with open(target, "wb") as out:
        while chunk := source.read(min(COPY_CHUNK, limit + 1 - copied)):
            copied += len(chunk)
            if copied > limit:
                raise ArtifactError(f"{what}: more than the {limit} bytes allowed")
            out.write(chunk)


def _anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o644
    return info
