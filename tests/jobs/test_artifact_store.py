"""The artifact store on both backends: a local folder and S3 (moto's server, a real process)."""

from __future__ import annotations

import errno
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

from artifacts.store import ArtifactStore
from dcgan_cli.waiting import wait_for
from tests.conftest import REPO
from tests.support.s3_server import REGION

BACKENDS = ["local", "s3"]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        store = ArtifactStore.from_url(str(tmp_path / "store"))
    else:
        store = ArtifactStore.from_url(f"s3://{request.getfixturevalue('s3_bucket')}/runs")
    store.ensure_ready()
    return store


def random_file(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def no_temporaries(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if ".tmp-" in p.name]


# --- the interface, on both backends --------------------------------------------------------


def test_bytes_round_trip_exist_list_and_delete(store):
    store.put_bytes(b"weights", "JOB/checkpoints/step_0000001.pt")
    store.put_bytes(b"{}", "JOB/checkpoints/step_0000001.json")
    store.put_bytes(b"other", "JOB2/checkpoints/step_0000001.pt")
    assert store.get_bytes("JOB/checkpoints/step_0000001.pt") == b"weights"
    assert store.exists("JOB/checkpoints/step_0000001.pt")
    assert not store.exists("JOB/checkpoints/step_0000002.pt")
    assert not store.exists("JOB/checkpoints")  # a folder is not an object
    assert store.list("JOB") == [
        "JOB/checkpoints/step_0000001.json", "JOB/checkpoints/step_0000001.pt",
    ]
    assert store.list("JOB/checkpoints/") == store.list("JOB")
    assert store.list("JO") == [] and store.list("missing") == []
    assert len(store.list("")) == 3
    store.delete("JOB/checkpoints/step_0000001.pt", "JOB/checkpoints/step_0000001.json", "nope")
    assert store.list("JOB") == [] and not store.exists("JOB/checkpoints/step_0000001.pt")
    assert store.list("") == ["JOB2/checkpoints/step_0000001.pt"]
    with pytest.raises(FileNotFoundError):
        store.get_bytes("JOB/checkpoints/step_0000001.pt")


def test_files_round_trip_and_overwrite(store, tmp_path):
    data = random_file(tmp_path / "up" / "model.safetensors", 3_000_000)
    key = "JOB/models/step_0000001/model.safetensors"
    store.put_file(tmp_path / "up" / "model.safetensors", key)
    target = tmp_path / "cache" / "deep" / "model.safetensors"
    store.get_file(key, target)
    assert target.read_bytes() == data
    newer = random_file(tmp_path / "up" / "newer", 1000)
    store.put_file(tmp_path / "up" / "newer", key)
    assert store.get_bytes(key) == newer and store.list("JOB") == [key]
    assert no_temporaries(tmp_path / "cache")


def test_a_download_goes_to_a_temporary_name_then_replaces_the_file(store, tmp_path):
    store.put_bytes(b"new contents", "JOB/checkpoints/step_0000001.pt")
    target = tmp_path / "cache" / "step_0000001.pt"
    random_file(target, 100)
    before = target.stat().st_ino
    store.get_file("JOB/checkpoints/step_0000001.pt", target)
    assert target.read_bytes() == b"new contents"
    assert target.stat().st_ino != before  # renamed into place, not rewritten in place
    previous = target.read_bytes()
    with pytest.raises(FileNotFoundError):
        store.get_file("JOB/checkpoints/step_0000002.pt", target)
    assert target.read_bytes() == previous and no_temporaries(target.parent)
    with pytest.raises(FileNotFoundError):
        store.get_file("JOB/checkpoints/step_0000002.pt", tmp_path / "cache" / "absent.pt")
    assert not (tmp_path / "cache" / "absent.pt").exists()


@pytest.mark.parametrize("key", ["", "/", "../outside", "JOB/../../x", "JOB//x", "./JOB"])
def test_keys_stay_inside_the_store(store, key):
    with pytest.raises(ValueError, match="invalid store key"):
        store.put_bytes(b"x", key)


def test_ensure_ready_is_idempotent(store):
    store.ensure_ready()
    store.put_bytes(b"x", "a/b")
    store.ensure_ready()
    assert store.get_bytes("a/b") == b"x"


# --- local folder -------------------------------------------------------------------------


def test_a_local_store_is_the_folder_itself(tmp_path):
    store = ArtifactStore.from_url(f"file://{tmp_path}/runs")
    assert store.local_path("JOB/models/step_0000001") == tmp_path / "runs/JOB/models/step_0000001"
    store.ensure_ready()
    store.put_bytes(b"x", "JOB/checkpoints/step_0000001.pt")
    assert (tmp_path / "runs/JOB/checkpoints/step_0000001.pt").read_bytes() == b"x"
    assert ArtifactStore.from_url(str(tmp_path / "runs")).list("JOB") == store.list("JOB")


def test_putting_the_keys_own_file_is_a_no_op(tmp_path):
    store = ArtifactStore.from_url(str(tmp_path / "runs"))
    path = store.local_path("JOB/checkpoints/step_0000001.pt")
    assert path is not None
    data = random_file(path, 1000)
    inode = path.stat().st_ino
    store.put_file(path, "JOB/checkpoints/step_0000001.pt")
    store.put_file(tmp_path / "runs" / "JOB" / ".." / "JOB/checkpoints/step_0000001.pt",
                   "JOB/checkpoints/step_0000001.pt")
    assert path.stat().st_ino == inode and path.read_bytes() == data  # not copied over itself
    assert no_temporaries(tmp_path)
    store.get_file("JOB/checkpoints/step_0000001.pt", path)  # and downloading onto itself
    assert path.stat().st_ino == inode and path.read_bytes() == data


def test_a_failed_local_write_leaves_the_previous_object(tmp_path, monkeypatch):
    store = ArtifactStore.from_url(str(tmp_path / "runs"))
    store.put_bytes(b"first", "JOB/checkpoints/step_0000001.pt")
    random_file(tmp_path / "second", 5_000_000)

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        store.put_file(tmp_path / "second", "JOB/checkpoints/step_0000001.pt")
    with pytest.raises(OSError, match="No space left"):
        store.put_bytes(b"third", "JOB/checkpoints/step_0000002.pt")
    monkeypatch.undo()
    assert store.get_bytes("JOB/checkpoints/step_0000001.pt") == b"first"
    assert store.list("JOB") == ["JOB/checkpoints/step_0000001.pt"]
    assert no_temporaries(tmp_path / "runs")


def test_an_s3_store_has_no_local_path(s3_bucket):
    store = ArtifactStore.from_url(f"s3://{s3_bucket}/runs")
    assert store.local_path("JOB/models/step_0000001") is None


def test_the_bucket_is_created_and_keys_sit_under_the_prefix(s3_endpoint, s3_bucket):
    store = ArtifactStore.from_url(f"s3://{s3_bucket}-new/some/prefix/")
    store.ensure_ready()
    store.put_bytes(b"x", "JOB/checkpoints/step_0000001.pt")
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION)
    listed = client.list_objects_v2(Bucket=f"{s3_bucket}-new")["Contents"]
    assert [item["Key"] for item in listed] == ["some/prefix/JOB/checkpoints/step_0000001.pt"]


@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
def test_a_store_made_before_a_fork_works_in_the_child(store):
    store.put_bytes(b"parent", "JOB/parent")  # the file system exists before the fork
    child = multiprocessing.get_context("fork").Process(
        target=store.put_bytes, args=(b"child", "JOB/child")
    )
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert store.get_bytes("JOB/child") == b"child"


def test_store_urls_that_name_nothing_usable_are_refused():
    with pytest.raises(ValueError, match="names no bucket"):
        ArtifactStore.from_url("s3:///prefix")
    with pytest.raises(ValueError, match="expected a path"):
        ArtifactStore.from_url("gs://bucket/prefix")


# --- an upload killed half way never shows under its key -------------------------------------

LOCAL_UPLOADER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from artifacts.store import ArtifactStore

    root, source, marker = sys.argv[1:4]
    real_fsync = os.fsync
    def stalled_fsync(fd):
        if ".tmp-" in os.readlink(f"/proc/self/fd/{fd}"):  # the copy is written, not renamed
            Path(marker).write_text("copied")
            time.sleep(60)
        real_fsync(fd)
    os.fsync = stalled_fsync
    ArtifactStore.from_url(root).put_file(Path(source), "JOB/checkpoints/step_0000002.pt")
    """
)

S3_UPLOADER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from artifacts import store as artifact_store

    url, source = sys.argv[1:3]
    artifact_store.UPLOAD_PART_BYTES = 5 * 2**20  # S3's smallest part: many parts, one by one
    store = artifact_store.ArtifactStore.from_url(url)
    store.fs.max_concurrency = 1
    store.put_file(Path(source), "JOB/checkpoints/step_0000002.pt")
    """
)


def kill_when(child: subprocess.Popen[bytes], ready: Callable[[], bool]) -> None:
    def interruptible() -> bool:
        assert child.poll() is None, "the upload ended before it could be interrupted"
        return ready()

    try:
        wait_for(interruptible, 60, "the upload to be under way", interval=0.01)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()


def test_a_local_upload_killed_midway_leaves_no_object(tmp_path):
    store = ArtifactStore.from_url(str(tmp_path / "runs"))
    store.put_bytes(b"first", "JOB/checkpoints/step_0000001.pt")
    random_file(tmp_path / "big", 20_000_000)
    marker = tmp_path / "marker"
    child = subprocess.Popen(
        [sys.executable, "-c", LOCAL_UPLOADER, store.url, str(tmp_path / "big"), str(marker)],
        cwd=REPO,
    )
    kill_when(child, marker.exists)
    assert not no_temporaries(tmp_path / "runs"), "the upload should have died half way"
    assert not store.exists("JOB/checkpoints/step_0000002.pt")
    assert store.list("JOB") == ["JOB/checkpoints/step_0000001.pt"]  # temporaries not listed


def test_an_s3_upload_killed_midway_leaves_no_object(tmp_path, s3_endpoint, s3_bucket):
    store = ArtifactStore.from_url(f"s3://{s3_bucket}/runs")
    store.put_bytes(b"first", "JOB/checkpoints/step_0000001.pt")
    random_file(tmp_path / "big", 100_000_000)  # 20 parts of 5 MiB, sent one after another
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION)

    def parts_uploaded() -> bool:
        uploads = client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])
        return any(
            client.list_parts(Bucket=s3_bucket, Key=u["Key"], UploadId=u["UploadId"]).get("Parts")
            for u in uploads
        )

    child = subprocess.Popen(
        [sys.executable, "-c", S3_UPLOADER, store.url, str(tmp_path / "big")],
        cwd=REPO,
    )
    kill_when(child, parts_uploaded)
    assert not store.exists("JOB/checkpoints/step_0000002.pt")
    assert store.list("JOB") == ["JOB/checkpoints/step_0000001.pt"]
    assert store.get_bytes("JOB/checkpoints/step_0000001.pt") == b"first"
