"""Checks of a CZI file's structure that libCZI does not make itself (it would crash or hang instead)."""

from __future__ import annotations

import os
import struct
from typing import Any, Protocol

from stackio import ReadError

#: The first bytes of every CZI file: the id of its file-header segment.
MAGIC = b"ZISRAWFILE"
#: Most dimension entries a subblock directory entry can have (CZI defines X, Y, Z, C, T, R, S, I, H, V, B, M).
MAX_DIMENSIONS = 16
_SEGMENT = struct.Struct("<16sqq")  # id, allocated size, used size
_SUBBLOCK = struct.Struct("<16sqqiiq")  # segment header, then metadata, attachment and data sizes
_ENTRY = struct.Struct("<2siqiiB5si")  # schema, pixel type, file position, file part, compression, pyramid,
#                                        spare, dimension count; then 20 bytes per dimension


class Bytes(Protocol):
    """Random access to a file's bytes: a local file, or a remote one read by ranges."""

    size: int

    def read(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        """The bytes at each (offset, length), shorter where the file ends."""
        ...


class _LocalBytes:
    def __init__(self, path: str) -> None:
        self.path = path
        self.size = os.stat(path).st_size

    def read(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            return [os.pread(fd, n, offset) for offset, n in ranges]
        finally:
            os.close(fd)


def check_directory(path: str, data_source: Bytes | None = None) -> None:
    """Validate the file header and the subblock directory's entry sizes before libCZI parses them.

    libCZI trusts each entry's dimension count: a corrupt one (e.g. 119, or negative) makes it read
    past its buffer and crash the process (segfault) instead of raising. Everything else libCZI checks.
    `data_source` reads the bytes of a remote file (the local file at `path` by default).
    """

    def corrupt(what: str) -> ReadError:
        return ReadError(f"{path}: the CZI file is corrupt ({what}); it cannot be read safely", source=path)

    file = data_source if data_source is not None else _LocalBytes(path)
    size = file.size
    (header,) = file.read([(0, _SEGMENT.size + 60)])
    if len(header) < _SEGMENT.size + 60 or not header.startswith(MAGIC):
        return  # not a CZI at all, or truncated in the header: libCZI says so without crashing
    (position,) = struct.unpack_from("<q", header, _SEGMENT.size + 52)
    if not 0 < position <= size - _SEGMENT.size - 128:
        return  # libCZI reports a directory outside the file itself
    (segment,) = file.read([(position, _SEGMENT.size + 128)])
    ident, _allocated, used = _SEGMENT.unpack_from(segment)
    if not ident.startswith(b"ZISRAWDIRECTORY"):
        return
    (count,) = struct.unpack_from("<i", segment, _SEGMENT.size)
    end = min(position + _SEGMENT.size + max(used, 0), size)
    start = position + _SEGMENT.size + 128
    (data,) = file.read([(start, max(0, end - start))])
    offset = 0
    positions = []
    for index in range(max(count, 0)):
        if offset + _ENTRY.size > len(data):
            break  # fewer entries than declared: libCZI reports "data too small"
        schema, _pixel_type, position, *_, dimensions = _ENTRY.unpack_from(data, offset)
        if schema != b"DV":
            break  # another entry schema: left to libCZI
        if not 0 < dimensions <= MAX_DIMENSIONS:
            raise corrupt(f"subblock directory entry {index} declares {dimensions} dimensions")
        entry = data[offset : offset + _ENTRY.size + 20 * dimensions]
        positions.append((index, position, entry))
        offset += len(entry)
    _check_subblocks(file, positions, size, corrupt)


def _same_entry(directory: bytes, own: bytes) -> bool:
    """A subblock's own copy of its directory entry says the same (file position and the float start
    coordinates aside): schema, pixel type, compression, and every dimension's index, size and stored size."""
    # bytes 0-6 schema and pixel type, 18-23 compression and pyramid type, 28-32 dimension count
    if len(own) != len(directory) or any(own[a:b] != directory[a:b] for a, b in ((0, 6), (18, 23), (28, 32))):
        return False
    dims = range(_ENTRY.size, len(directory), 20)
    return all(
        own[i : i + 12] == directory[i : i + 12] and own[i + 16 : i + 20] == directory[i + 16 : i + 20] for i in dims
    )


def _check_subblocks(file: Bytes, positions: list[tuple[int, int, bytes]], size: int, corrupt: Any) -> None:
    """Each subblock's sizes must fit in the file, and its header must repeat its directory entry.

    libCZI allocates and decodes by the declared sizes and trusts the subblock's own entry: a corrupt
    data size of 2**40 (or negative), or a corrupt dimension count in the subblock's header, segfaults
    it; 2**32 makes it allocate 4 GiB before failing; a tile position that differs from the directory's
    makes patches disagree with the whole image. Real files repeat the entry byte for byte.
    """
    inside = [(i, p, e) for i, p, e in positions if 0 <= p <= size - _SUBBLOCK.size - len(e)]
    # (subblocks outside the file itself are left to libCZI, which reports them)
    heads = file.read([(p, _SUBBLOCK.size + len(e)) for _, p, e in inside])  # one batch: remote files read in parallel
    for (index, position, entry), head in zip(inside, heads, strict=True):
        ident, _allocated, _used, metadata, attachment, data = _SUBBLOCK.unpack_from(head)
        if not ident.startswith(b"ZISRAWSUBBLOCK"):
            continue  # libCZI reports a wrong segment
        # the subblock's own header takes at least 256 bytes after the segment header
        end = position + _SEGMENT.size + 256 + metadata + attachment + data
        if min(metadata, attachment, data) < 0 or end > size:
            raise corrupt(
                f"subblock {index} declares {data} bytes of data, {metadata} of metadata and {attachment} "
                f"of attachments, more than the file holds"
            )
        if not _same_entry(entry, head[_SUBBLOCK.size :]):
            raise corrupt(f"subblock {index}'s header disagrees with its subblock directory entry")
