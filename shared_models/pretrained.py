"""An exported model as a folder or as one archive file, and loading it back.

An exported model is a folder: the serving artifact (``model.safetensors`` + ``config.json``,
:mod:`shared_models.serving_artifact`) plus its model card (``README.md``) and sample grid
(:mod:`shared_models.model_card`). ``write_archive`` packs such files into a ``.zip`` or a
``.tar.gz`` under one top folder; ``load_pretrained`` loads a folder or either archive.

Reading an archive writes nothing under a name taken from it: only the two files the artifact
needs (and its model card, whose figures the registry keeps) are copied out, from the
archive's root or from a single top folder, into fixed names in a temporary folder, and only
regular files. Links, devices, absolute or ``..`` names are never followed, so a hostile
archive cannot write outside that folder.

Nor can it take more memory, disk or time than its bounds, whatever its headers say. Every size
is checked before the bytes it describes are read: the archive file's (``max_archive_bytes``),
the entries' count and declared sizes, a zip's central directory (which zipfile parses whole), a
tar's extended headers (which tarfile would read whole: tar headers are parsed here instead, see
:mod:`shared_models.tar_stream`). config.json is copied first and checked whole; a model's
weights are copied only once it has been, and only when they are the size it declares, which
must be no more than its architecture's weights take. Bytes are counted as they are copied and
as a .tar.gz is decompressed. The weights are then checked against the SHA-256 in config.json.
"""

from __future__ import annotations

import gzip
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path, PurePosixPath

import torch

from shared_models.model_card import CARD_FILE
from shared_models.networks import Generator
from shared_models.serving_artifact import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    ArtifactError,
    ArtifactInfo,
    load_serving_generator,
    read_artifact_info,
)
from shared_models.tar_stream import BLOCK, Readable, iter_members
from shared_models.verified_files import MAX_MANIFEST_BYTES, atomic_replace

ARCHIVE_FORMATS = {"zip": ".zip", "tar.gz": ".tar.gz"}
MEDIA_TYPES = {"zip": "application/zip", "tar.gz": "application/gzip"}
# The archive file's own size, unless a caller sets another bound: float32 weights barely
# compress, so this admits generators of up to about 16 M parameters (the tutorial's has 6.9 M).
MAX_ARCHIVE_BYTES = 64 << 20
# What its entries may declare, checked before any is read. config.json is a manifest. Each
# model's weights are held to what the architecture in its config.json takes; this bound is
# above that for every generator within the parameter cap (batch norm's running statistics are
# fewer than the parameters, so the float32 state dict is under twice the parameters' bytes).
MAX_CONFIG_BYTES = MAX_MANIFEST_BYTES
MAX_WEIGHTS_BYTES = 1 << 29
MAX_OTHER_BYTES = 64 << 20  # the model card, the sample grid, whatever else comes along
MAX_UNPACKED_BYTES = MAX_CONFIG_BYTES + MAX_WEIGHTS_BYTES + MAX_OTHER_BYTES  # all entries'
MAX_MEMBERS = 64  # entries, a tar's extended headers included
MAX_CENTRAL_DIRECTORY_BYTES = 1 << 20  # a zip's list of its entries
MAX_EXTENDED_HEADER_BYTES = 64 << 10  # a tar's long name or PAX records, for one path
# A .tar.gz's decompressed stream: the entries' declared bytes, and each entry's header block,
# padding and extended header (twice as many entries: a few more are read before a count is over)
MAX_TAR_STREAM_BYTES = MAX_UNPACKED_BYTES + 2 * MAX_MEMBERS * (
    MAX_EXTENDED_HEADER_BYTES + 2 * BLOCK
)
MAX_CARD_BYTES = 64 << 10  # the model card an imported model comes with, kept beside it
LIMITS = {CONFIG_FILE: MAX_CONFIG_BYTES, WEIGHTS_FILE: MAX_WEIGHTS_BYTES, CARD_FILE: MAX_CARD_BYTES}
REQUIRED = (CONFIG_FILE, WEIGHTS_FILE)  # the card may be missing
COPY_CHUNK = 1 << 20

# take(name in the archive, its declared size, its bytes): called for each model file found
Take = Callable[[str, int, Readable], None]
Folder = tuple[str, ...]  # a model's folder in the archive: () at the top, or (name,)


def archive_format(path: Path) -> str | None:
    """"zip" or "tar.gz" from the file name (``.tgz`` too); None for anything else."""
    name = path.name.lower()
    if name.endswith(".zip"):
        return "zip"
    if name.endswith((".tar.gz", ".tgz")):
        return "tar.gz"
    return None


def load_pretrained(
    path: str | Path,
    device: torch.device | str | None = None,
    fast_layers: bool = True,
    max_archive_bytes: int = MAX_ARCHIVE_BYTES,
) -> tuple[Generator, ArtifactInfo]:
    """The generator of an exported model (a folder, or a .zip/.tar.gz of one of at most
    ``max_archive_bytes``), verified, in eval mode on ``device`` (default the CPU, where the
    service samples)."""
    with artifact_folder(Path(path), max_archive_bytes) as folder:
        generator, info = load_serving_generator(folder, device or "cpu", fast_layers)
    return generator, replace(info, folder=Path(path))


@contextmanager
def artifact_folder(path: Path, max_archive_bytes: int = MAX_ARCHIVE_BYTES) -> Iterator[Path]:
    """The folder holding the artifact's two files: ``path`` itself, or for an archive (of at
    most ``max_archive_bytes``) a temporary copy of them, removed afterwards. An ArtifactError
    about that copy names the archive instead (the copy is gone once it is read)."""
    if path.is_dir():
        yield path
        return
    kind = archive_format(path)
    if kind is None or not path.is_file():
        what = "no such file or folder" if not path.exists() else (
            "not a model folder, nor a .zip or .tar.gz archive of one")
        raise ArtifactError(f"{path}: {what}")
    with tempfile.TemporaryDirectory(prefix=".dcgan-model-") as temp:
        folder = extract_artifact(path, kind, Path(temp), max_archive_bytes)
        try:
            yield folder
        except ArtifactError as error:
            if str(folder) not in str(error):
                raise
            raise ArtifactError(f"{path}: {str(error).replace(f'{folder}/', '')}") from error


def extract_artifact(
    archive: Path, kind: str, into: Path, max_archive_bytes: int = MAX_ARCHIVE_BYTES,
    with_card: bool = False,
) -> Path:
    """Copy the artifact's config.json and model.safetensors (and with ``with_card`` its
    README.md model card, when it has one) out of ``archive`` into ``into``; the folder
    holding them. Loading needs no card: only a model kept with its card copies one."""
    size = archive.stat().st_size
    if size > max_archive_bytes:
        raise ArtifactError(
            f"{archive}: the archive is {size} bytes, over the {max_archive_bytes} allowed"
        )
    found = _ModelFiles(archive, into, with_card)
    read = _read_zip if kind == "zip" else _read_tar
    try:
        read(archive, found.take)
        if found.waiting:  # weights met before their config.json: read again for them
            read(archive, found.take_waiting)
    except ArtifactError:
        raise
    except (
        OSError, EOFError, zipfile.BadZipFile, tarfile.TarError, zlib.error, NotImplementedError,
        RuntimeError,  # zipfile's word for an encrypted entry
    ) as error:
        raise ArtifactError(f"{archive}: unreadable {kind} archive ({error})") from error
    complete = found.complete()
    if not complete:
        raise ArtifactError(
            f"{archive}: holds no model ({CONFIG_FILE} and {WEIGHTS_FILE} side by side, at the "
            "top or in one folder)"
        )
    if len(complete) > 1:
        raise ArtifactError(f"{archive}: holds {len(complete)} models; expected one")
    return complete[0]


class _ModelFiles:
    """The model files of an archive, copied out as they are met: config.json whenever it
    comes, a model's weights only once its config.json is here to say how big they are."""

    def __init__(self, archive: Path, into: Path, with_card: bool) -> None:
        self.archive, self.into, self.with_card = archive, into, with_card
        self.slots: dict[Folder, Path] = {}  # a model folder in the archive -> its copy here
        self.declared: dict[Folder, int] = {}  # the weights' size each config.json declares
        self.waiting: set[Folder] = set()  # folders whose weights came before config.json

    def take(self, name: str, size: int, source: Readable) -> None:
        where = self._bounded(name, size)
        if where is None:
            return
        folder, file = where
        slot = self.slots.setdefault(folder, self.into / str(len(self.slots)))
        slot.mkdir(parents=True, exist_ok=True)
        if file in (CONFIG_FILE, CARD_FILE):
            _copy_bounded(source, slot / file, size, f"{self.archive}: {name}")
            if file == CONFIG_FILE:
                self.declared.pop(folder, None)  # read when its weights come
        elif (slot / CONFIG_FILE).is_file():
            self._copy_weights(folder, name, size, source)
        else:
            self.waiting.add(folder)

    def take_waiting(self, name: str, size: int, source: Readable) -> None:
        """The second reading: the weights that came before their config.json."""
        where = self._bounded(name, size)
        if where is not None and where[1] == WEIGHTS_FILE and where[0] in self.waiting:
            if (self.slots[where[0]] / CONFIG_FILE).is_file():
                self._copy_weights(where[0], name, size, source)

    def complete(self) -> list[Path]:
        return [slot for slot in self.slots.values() if all((slot / f).is_file() for f in REQUIRED)]

    def _bounded(self, name: str, size: int) -> tuple[Folder, str] | None:
        """Where a model file goes (None for anything else), its declared size in bounds."""
        where = _model_member(name)
        if where is not None and where[1] == CARD_FILE and not self.with_card:
            return None
        if where is not None and size > LIMITS[where[1]]:
            limit = LIMITS[where[1]]
            raise ArtifactError(f"{self.archive}: {name} is {size} bytes, over the {limit} allowed")
        return where

    def _copy_weights(self, folder: Folder, name: str, size: int, source: Readable) -> None:
        declared = self._declared_size(folder)
        if size != declared:
            raise ArtifactError(
                f"{self.archive}: {name} is {size} bytes; its {CONFIG_FILE} declares {declared}"
            )
        _copy_bounded(source, self.slots[folder] / WEIGHTS_FILE, size, f"{self.archive}: {name}")

    def _declared_size(self, folder: Folder) -> int:
        """The weights' size the folder's config.json declares, within what its architecture's
        weights take (its whole config.json checked)."""
        if folder not in self.declared:
            slot = self.slots[folder]
            try:
                _, info = read_artifact_info(slot)
            except ArtifactError as error:
                where = "/".join((*folder, CONFIG_FILE))
                reason = str(error).removeprefix(f"{slot / CONFIG_FILE}: ")
                raise ArtifactError(f"{self.archive}: {where}: {reason}") from error
            self.declared[folder] = info.size
        return self.declared[folder]


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
    _check_central_directory(archive)
    with zipfile.ZipFile(archive) as zipped:
        members = zipped.infolist()
        _check_counts(archive, len(members), sum(member.file_size for member in members))
        found = [(where, member) for member in members if not member.is_dir()
                 if (where := _model_member(member.filename)) is not None]
        archive_size = archive.stat().st_size
        # config.json first: it says how big its weights may be
        for _, member in sorted(found, key=lambda item: item[0][1] != CONFIG_FILE):
            if member.compress_size > archive_size:
                raise ArtifactError(
                    f"{archive}: {member.filename} declares {member.compress_size} compressed "
                    f"bytes, more than the archive's {archive_size}"
                )
            with zipped.open(member) as source:
                take(member.filename, member.file_size, source)


def _check_central_directory(archive: Path) -> None:
    """Refuse a zip whose list of entries is over its bounds before zipfile reads it (it
    parses the list whole, one object per entry: a few megabytes can list a million)."""
    with open(archive, "rb") as handle:
        # the end record ZipFile itself reads next, so the sizes checked are the ones it uses
        end = zipfile._EndRecData(handle)  # type: ignore[attr-defined]
    if not end:
        raise zipfile.BadZipFile("File is not a zip file")
    entries, listed = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]  # type: ignore[attr-defined]
    if entries > MAX_MEMBERS:
        raise ArtifactError(f"{archive}: more than {MAX_MEMBERS} entries; not an exported model")
    if listed > MAX_CENTRAL_DIRECTORY_BYTES:
        raise ArtifactError(
            f"{archive}: a list of entries of {listed} bytes, over the "
            f"{MAX_CENTRAL_DIRECTORY_BYTES} allowed; not an exported model"
        )


def _read_tar(archive: Path, take: Take) -> None:
    entries = declared = 0
    with open(archive, "rb") as raw, gzip.GzipFile(fileobj=raw) as unpacked:
        stream = _Counted(unpacked, MAX_TAR_STREAM_BYTES, archive)
        for member, data in iter_members(stream, MAX_EXTENDED_HEADER_BYTES):
            entries, declared = entries + member.headers, declared + member.size
            _check_counts(archive, entries, declared)
            if member.regular and _model_member(member.name) is not None:
                take(member.name, member.size, data)


class _Counted:
    """A decompressed stream that refuses to go on past ``limit`` bytes."""

    def __init__(self, stream: Readable, limit: int, archive: Path) -> None:
        self._stream, self.limit, self.archive, self.count = stream, limit, archive, 0

    def read(self, n: int = -1, /) -> bytes:
        chunk = self._stream.read(n)
        self.count += len(chunk)
        if self.count > self.limit:
            raise ArtifactError(
                f"{self.archive}: unpacks to more than {self.limit} bytes; not an exported model"
            )
        return chunk


def _check_counts(archive: Path, members: int, declared: int) -> None:
    if members > MAX_MEMBERS:
        raise ArtifactError(f"{archive}: more than {MAX_MEMBERS} entries; not an exported model")
    if declared > MAX_UNPACKED_BYTES:
        raise ArtifactError(
            f"{archive}: its entries declare over {MAX_UNPACKED_BYTES} bytes; not an exported "
            "model"
        )


def _copy_bounded(source: Readable, target: Path, limit: int, what: str) -> None:
    """Copy at most ``limit`` bytes (the size declared), refusing a source that has more."""
    copied = 0
    with open(target, "wb") as out:
        while chunk := source.read(min(COPY_CHUNK, limit + 1 - copied)):
            copied += len(chunk)
            if copied > limit:
                raise ArtifactError(f"{what}: more than the {limit} bytes declared")
            out.write(chunk)


def _anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o644
    return info
