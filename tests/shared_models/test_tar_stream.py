"""The bounded tar reader reads what Python's tarfile reads: the same members, names, sizes and
data, for archives in each of tarfile's formats and for damaged headers; where tarfile would
read an extended header of any size, it refuses one over its bound with tarfile.ReadError."""

from __future__ import annotations

import io
import tarfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared_models.tar_stream import BLOCK, iter_members

CONTENTS = {
    "model/config.json": b'{"a": 1}',
    "model/" + "w" * 120 + ".bin": bytes(range(256)) * 3,  # a long name: L, x or a prefix
    "model/caf\u00e9.txt": b"non-ASCII name",
    "empty": b"",
}


def archive(form: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=form) as tar:
        for name, payload in CONTENTS.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
        folder = tarfile.TarInfo("model")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        link = tarfile.TarInfo("model/link")
        link.type, link.linkname = tarfile.SYMTYPE, "/" + "l" * 150
        tar.addfile(link)
    return buffer.getvalue()


def ours(raw: bytes, max_extended: int = 1 << 16) -> list[tuple[str, int, bool, bytes]]:
    members = []
    for member, data in iter_members(io.BytesIO(raw), max_extended):
        payload = data.read(1 << 20) if member.regular else b""
        members.append((member.name, member.size, member.regular, payload))
    return members


def tarfiles(raw: bytes) -> list[tuple[str, int, bool, bytes]]:
    members = []
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
        for member in tar:
            source = tar.extractfile(member) if member.isreg() else None
            payload = source.read() if source is not None else b""
            members.append((member.name, member.size, member.isreg(), payload))
    return members


@pytest.mark.parametrize("form", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
def test_each_tarfile_format_is_read_as_tarfile_reads_it(form):
    raw = archive(form) if form != tarfile.USTAR_FORMAT else ustar_archive()
    assert ours(raw) == tarfiles(raw)
    assert any(name.endswith("/config.json") for name, *_ in ours(raw))


def ustar_archive() -> bytes:
    """ustar has no long names beyond its prefix, nor non-ASCII ones: what it can hold."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, payload in {"p" * 120 + "/config.json": b"{}", "x": b"1" * 700}.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def test_an_extended_header_over_the_bound_is_refused_where_tarfile_reads_it_whole():
    raw = archive(tarfile.GNU_FORMAT)
    with pytest.raises(tarfile.ReadError, match="extended header of 131 bytes, over the 100"):
        ours(raw, max_extended=100)
    assert len(tarfiles(raw)) == 6


def header_offsets(raw: bytes) -> list[int]:
    """Where each header block starts, extended headers included."""
    offsets, position = [], 0
    while position + BLOCK <= len(raw) and raw[position : position + BLOCK] != bytes(BLOCK):
        offsets.append(position)
        size = int(raw[position + 124 : position + 136].split(b"\0")[0].strip() or b"0", 8)
        kind = raw[position + 156 : position + 157]
        data = size if kind not in (b"1", b"2", b"3", b"4", b"5", b"6") else 0
        position += BLOCK + -(-data // BLOCK) * BLOCK
    return offsets


def with_checksum(block: bytearray) -> None:
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)


@settings(max_examples=250, derandomize=True, deadline=None, database=None)
@given(
    form=st.sampled_from([tarfile.GNU_FORMAT, tarfile.PAX_FORMAT]),
    data=st.data(),
)
def test_damaged_headers_are_read_as_tarfile_reads_them_or_refused(form, data):
    """Bytes of header blocks changed (typeflags, sizes, names, base-256 marks), checksums
    made right again so that the damage reaches the parsers: what both read, they read alike;
    ours fails only with tarfile.ReadError."""
    raw = bytearray(archive(form))
    offsets = header_offsets(bytes(raw))
    special = st.sampled_from([0, 0x80, 0xFF, *b"LKxXgS01257 /.9a"])
    for _ in range(data.draw(st.integers(1, 4))):
        start = data.draw(st.sampled_from(offsets))
        raw[start + data.draw(st.integers(0, BLOCK - 1))] = data.draw(special | st.integers(0, 255))
    for start in offsets:
        block = raw[start : start + BLOCK]
        with_checksum(block)
        raw[start : start + BLOCK] = block
    try:
        expected = tarfiles(bytes(raw))
    except (tarfile.TarError, UnicodeError, OSError, EOFError):
        expected = None
    try:
        found = ours(bytes(raw))
    except tarfile.ReadError:
        return
    if expected is not None:
        assert found == expected
