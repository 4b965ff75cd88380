"""Where checkpoints and serving artifacts live: a local folder or an S3 bucket, one interface.

``ArtifactStore.from_url`` takes ``DCGAN_STORE_URL``: a path or ``file://`` URL (a folder on this
machine: by default the runs folder itself, so a one-machine install keeps its files where they
always were) or ``s3://bucket/prefix`` (any S3-compatible server, configured by the standard AWS
variables: ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_REGION`` / ``AWS_DEFAULT_REGION``).

Keys are "/"-separated paths relative to the store's root, e.g.
``JOB/checkpoints/step_0000500.pt`` or ``JOB/models/step_0000500/model.safetensors``.

Readers never see a partial object. A local write goes to a hidden temporary name beside the
target, is fsync'd and renamed over it; an S3 object appears only when its upload completes
(one PUT, or a multipart upload that is aborted when a part fails). Downloads go to a temporary
name and are renamed into place, so a cache never holds half a file under a real name.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

import fsspec
from fsspec import AbstractFileSystem

from shared_models.verified_files import atomic_replace

log = logging.getLogger(__name__)


# Files of at least twice this size go up as a multipart upload of parts this size, sent
# concurrently; smaller ones (a checkpoint of the full-size networks) in one PUT, which is
# faster than small parts for a file that size (bench/store_upload.py compares the two).
UPLOAD_PART_BYTES = 64 * 2**20
US_EAST = "us-east-1"


class ArtifactStore:
    """Objects under ``root``: a folder's absolute path (``local``) or ``bucket/prefix``."""

    def __init__(
        self, url: str, make_fs: Callable[[], AbstractFileSystem], root: str, local: bool
    ) -> None:
        self.url = url
        self.root = root.rstrip("/")
        self.local = local
        self._make_fs = make_fs
        self._fs: AbstractFileSystem | None = None
        self._pid = 0

    @property
    def fs(self) -> AbstractFileSystem:
        """The file system, made anew in a forked child (s3fs's event loop does not survive a
        fork: a store made before a worker pool forks still works in each worker)."""
        if self._fs is None or self._pid != os.getpid():
            self._fs, self._pid = self._make_fs(), os.getpid()
        return self._fs

    @classmethod
    def from_url(cls, url: str) -> ArtifactStore:
        """A path / ``file://`` URL -> a local folder; ``s3://bucket/prefix`` -> S3."""
        parsed = urlparse(url)
        if parsed.scheme == "s3":
            if not parsed.netloc:
                raise ValueError(f"store URL {url!r} names no bucket (s3://bucket/prefix)")
            root = f"{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/")
            options = s3_options()  # the environment as it is now
            return cls(url, lambda: fsspec.filesystem("s3", **options), root, local=False)
        if parsed.scheme == "file":
            path = Path(parsed.path)
        elif parsed.scheme == "":
            path = Path(url)
        else:
            raise ValueError(f"store URL {url!r}: expected a path, file:// or s3://bucket/prefix")
        root = str(path.expanduser().resolve())
        return cls(url, lambda: fsspec.filesystem("file"), root, local=True)

    def __repr__(self) -> str:
        return f"ArtifactStore({self.url!r})"

    # --- setup -------------------------------------------------------------------------------

    def ensure_ready(self) -> None:
        """Create the local root folder or the bucket when missing."""
        if self.local:
            Path(self.root).mkdir(parents=True, exist_ok=True)
            return
        bucket = self.root.split("/", 1)[0]
        if self.fs.exists(bucket):
            return
        # us-east-1 takes no location constraint (s3fs's mkdir would send one)
        region = self.fs.client_kwargs.get("region_name")
        where = {"CreateBucketConfiguration": {"LocationConstraint": region}}
        try:
            self.fs.call_s3(
                "create_bucket", Bucket=bucket, **(where if region not in (None, US_EAST) else {})
            )
            log.info("created bucket %s", bucket)
        except FileExistsError:  # created meanwhile by another process
            pass
        self.fs.invalidate_cache(bucket)

    # --- writing -----------------------------------------------------------------------------

    def put_file(self, local: Path, key: str) -> None:
        """Upload a file under ``key``, atomically; nothing to do when ``local`` is that file."""
        if self.local:
            target = self._local(key)
            if target.exists() and os.path.samefile(local, target):
                return
            atomic_replace(target, lambda temp: shutil.copyfile(local, temp))
            return
        self.fs.put_file(str(local), self._path(key), chunksize=UPLOAD_PART_BYTES)

    def put_bytes(self, data: bytes, key: str) -> None:
        if self.local:
            atomic_replace(self._local(key), lambda temp: temp.write_bytes(data))
            return
        self.fs.pipe_file(self._path(key), data, chunksize=UPLOAD_PART_BYTES)

    def delete(self, *keys: str) -> None:
        """Delete objects; keys that do not exist are fine."""
        for key in keys:
            if self.local:
                self._local(key).unlink(missing_ok=True)
            else:
                try:
                    self.fs.rm_file(self._path(key))
                except FileNotFoundError:
                    pass

    # --- reading -----------------------------------------------------------------------------

    def get_file(self, key: str, local: Path) -> None:
        """Download ``key`` to ``local``: to a temporary name beside it, then renamed."""
        if self.local:
            source = self._local(key)
            if not source.is_file():
                raise FileNotFoundError(f"{self.url}: no {key}")
            if local.exists() and os.path.samefile(source, local):
                return
            atomic_replace(local, lambda temp: shutil.copyfile(source, temp))
            return
        path = self._path(key)
        atomic_replace(local, lambda temp: self.fs.get_file(path, str(temp)))

    def get_bytes(self, key: str) -> bytes:
        try:
            data: bytes = self.fs.cat_file(self._path(key))
        except (FileNotFoundError, IsADirectoryError):
            raise FileNotFoundError(f"{self.url}: no {key}") from None
        return data

    def exists(self, key: str) -> bool:
        """Whether an object (not a folder) is stored under ``key``."""
        return bool(self.fs.isfile(self._path(key)))

    def list(self, prefix: str) -> list[str]:
        """The keys under the folder ``prefix`` ("" for all), sorted; temporary files left out."""
        base = self._path(prefix) if prefix.strip("/") else self.root
        if not self.fs.isdir(base):
            return []
        found = self.fs.find(base)
        keys = []
        for path in found:
            key = str(path)[len(self.root) + 1 :]
            if not _is_temporary(PurePosixPath(key).name):
                keys.append(key)
        return sorted(keys)

    def local_path(self, key: str) -> Path | None:
        """The file behind ``key`` when the store is a local folder, else None."""
        return self._local(key) if self.local else None

    # --- keys --------------------------------------------------------------------------------

    def _path(self, key: str) -> str:
        parts = key.strip("/").split("/")
        if not key.strip("/") or any(part in ("", ".", "..") for part in parts):
            raise ValueError(f"invalid store key {key!r}")
        return f"{self.root}/{'/'.join(parts)}"

    def _local(self, key: str) -> Path:
        return Path(self._path(key))


def s3_options() -> dict[str, Any]:
    """s3fs options from the standard AWS environment variables.

    botocore reads the keys itself; the endpoint and region are passed explicitly so that each
    store talks to the server the environment names when it is made (s3fs would otherwise reuse
    a cached instance made for another endpoint). Listings are not cached: other processes write
    to the same bucket.
    """
    client_kwargs: dict[str, str] = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        client_kwargs["endpoint_url"] = endpoint
    region = aws_region()
    if region:
        client_kwargs["region_name"] = region
    return {
        "client_kwargs": client_kwargs,
        "skip_instance_cache": True,
        "use_listings_cache": False,
    }


def aws_region() -> str | None:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None


def _is_temporary(name: str) -> bool:
    return name.startswith(".") and ".tmp-" in name
