"""The members of a tar stream, read header by header with bounded memory.

Python's tarfile reads a GNU long-name or long-link header ('L', 'K') and a PAX extended header
('x', 'g') whole into memory while it iterates, before its caller sees the member: a .tar.gz of
a few megabytes can hold a gigabyte-long name. This reader parses the 512-byte headers itself
(name, size in octal or base-256, type; a name prefix; the PAX ``path`` and ``size`` records),
refuses any extended header over a bound and more than a few in a row, and hands each member
on with a reader of exactly its declared bytes. It reads tar as tarfile does otherwise: the
first empty block ends the archive; links, folders and devices carry no data.

Every refusal is a :class:`tarfile.ReadError` saying what was found.
"""

from __future__ import annotations

import re
import struct
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

BLOCK = 512
REGULAR = (b"0", b"\0", b"7")  # file, old-style file, contiguous file
NO_DATA = (b"1", b"2", b"3", b"4", b"5", b"6")  # links, devices, folder, FIFO
GNU_LONG = (b"L", b"K")  # the next member's long name, long link target
PAX = (b"x", b"X", b"g")  # extended header for the next member (Solaris's too), global
# mode, uid, gid, mtime, devmajor, devminor: not used here, but a header whose numbers are
# not numbers is damaged (tarfile reads no further)
NUMBERS = ((100, 108), (108, 116), (116, 124), (136, 148), (329, 337), (337, 345))
# an archive writer puts one or two extended headers before a member; more is not an archive
MAX_EXTENDED_IN_A_ROW = 4
_PAX_RECORD = re.compile(rb"(\d{1,20}) ")


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class TarMember:
    name: str
    size: int  # bytes of data that follow the header
    regular: bool  # a file's contents (not a link, folder or device)
    headers: int  # header blocks it took, its extended headers included


class MemberData:
    """Reads a member's data: at most its declared size, never past it."""

    def __init__(self, stream: Readable, size: int) -> None:
        self._stream, self.left = stream, size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        chunk = _read_exact(self._stream, n)
        self.left -= len(chunk)
        return chunk


def iter_members(
    stream: Readable, max_extended_bytes: int
) -> Iterator[tuple[TarMember, MemberData]]:
    """Each member of the tar ``stream`` with a reader of its data; whatever of the data the
    caller leaves unread is skipped before the next header."""
    global_records: dict[str, str] = {}
    # what the extended headers before a member say of it: ("name", a GNU long name) or
    # ("pax", a PAX header's records, the global ones under its own)
    overrides: list[tuple[str, Any]] = []
    extended = 0
    first = True
    while True:
        block = _read_exact(stream, BLOCK)
        if len(block) < BLOCK or block == bytes(BLOCK):
            if first:
                raise tarfile.ReadError("empty file")
            return  # the end-of-archive block, or a stream cut at a header: the end
        first = False
        name, size, kind = _parse_header(block)
        if kind in GNU_LONG or kind in PAX:
            extended += 1
            if extended > MAX_EXTENDED_IN_A_ROW:
                raise tarfile.ReadError(
                    f"more than {MAX_EXTENDED_IN_A_ROW} extended headers for one member"
                )
            if size > max_extended_bytes:
                raise tarfile.ReadError(
                    f"an extended header of {size} bytes, over the {max_extended_bytes} allowed"
                )
            payload = _read_blocks(stream, size)  # as tarfile, padding included
            if kind == b"L":
                overrides.append(("name", _text(payload.split(b"\0", 1)[0])))
            elif kind == b"g":
                global_records.update(_pax_records(payload))
                if "size" in global_records:  # tarfile would not skip the data it sizes
                    raise tarfile.ReadError("a global PAX header that sets sizes")
            elif kind in PAX:
                overrides.append(("pax", {**global_records, **_pax_records(payload)}))
            continue
        # as tarfile: a global PAX path names every member after it, a member's own extended
        # headers come over it, and the first of those has the last word
        if "path" in global_records:
            name = global_records["path"].rstrip("/")
        for what, said in reversed(overrides):
            if what == "name":
                name = said
                continue
            if "path" in said:
                name = said["path"].rstrip("/")
            if "size" in said:
                size = _pax_size(said["size"])
        if kind == b"S":
            raise tarfile.ReadError(f"{name!r} is a GNU sparse member, which is not read")
        carries_data = kind not in NO_DATA
        member = TarMember(name, size, kind in REGULAR, extended + 1)
        data = MemberData(stream, size if carries_data else 0)
        yield member, data
        _skip(stream, data.left)
        if carries_data and size % BLOCK:
            _skip(stream, BLOCK - size % BLOCK)
        overrides, extended = [], 0


def _parse_header(block: bytes) -> tuple[str, int, bytes]:
    """(name, size, type) of one 512-byte header, its checksum and numbers checked, read as
    tarfile reads them: an old-style file whose name ends in '/' is a folder, a folder's name
    loses its '/', and a prefix field is the name's start."""
    stored = _number(block[148:156])
    unsigned = 256 + sum(block[:148]) + sum(block[156:])
    signed = 256 + sum(struct.unpack("148b", block[:148])) + sum(
        struct.unpack("356b", block[156:])
    )
    if stored not in (unsigned, signed):
        raise tarfile.ReadError("bad checksum in a tar header: not a tar archive, or damaged")
    for start, end in NUMBERS:
        _number(block[start:end])
    size = _number(block[124:136])
    if size < 0:
        raise tarfile.ReadError(f"a negative size in a tar header ({size})")
    name = _text(block[:100].split(b"\0", 1)[0])
    kind = block[156:157]
    if kind == b"\0" and name.endswith("/"):
        kind = b"5"
    if kind == b"5":
        name = name.rstrip("/")
    prefix = _text(block[345:500].split(b"\0", 1)[0])
    if prefix and kind not in (*GNU_LONG, b"S"):
        name = f"{prefix}/{name}"
    return name, size, kind


def _number(field: bytes) -> int:
    """A numeric header field: octal text, or GNU's base-256 when its first byte says so."""
    if field[:1] in (b"\x80", b"\xff"):
        value = int.from_bytes(field[1:], "big")
        return value - 256 ** (len(field) - 1) if field[:1] == b"\xff" else value
    digits = field.split(b"\0", 1)[0].strip() or b"0"
    try:
        return int(digits, 8)
    except ValueError:
        found = digits[:20]
        raise tarfile.ReadError(f"a tar header field that is not a number ({found!r})") from None


def _pax_records(payload: bytes) -> dict[str, str]:
    """The ``path`` and ``size`` records of a PAX header ("<length> <key>=<value>\\n" each)."""
    records: dict[str, str] = {}
    position = 0
    while position < len(payload) and payload[position] != 0:
        match = _PAX_RECORD.match(payload, position)
        if match is None:
            raise tarfile.ReadError("a malformed PAX header")
        length = int(match.group(1))
        record = payload[match.end() : position + length]
        if position + length > len(payload) or not record.endswith(b"\n") or b"=" not in record:
            raise tarfile.ReadError("a malformed PAX header")
        key, value = record[:-1].split(b"=", 1)
        if key.startswith(b"GNU.sparse."):
            raise tarfile.ReadError("a GNU sparse member, which is not read")
        if key in (b"path", b"size"):
            records[key.decode()] = _text(value)
        position += length
    return records


def _pax_size(value: str) -> int:
    if not value.isdigit() or not value.isascii():
        raise tarfile.ReadError(f"a PAX size that is not a number ({value[:20]!r})")
    return int(value)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _read_blocks(stream: Readable, size: int) -> bytes:
    """``size`` bytes of data and the padding to the next block."""
    padded = size + -size % BLOCK
    payload = _read_exact(stream, padded)
    if len(payload) < padded:
        raise tarfile.ReadError("unexpected end of data")
    return payload


def _skip(stream: Readable, size: int) -> None:
    while size > 0:
        chunk = stream.read(min(size, 64 << 10))
        if not chunk:
            raise tarfile.ReadError("unexpected end of data")
        size -= len(chunk)


def _read_exact(stream: Readable, size: int) -> bytes:
    """Up to ``size`` bytes: fewer only at the end of the stream."""
    parts, left = [], size
    while left > 0:
        chunk = stream.read(left)
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)
