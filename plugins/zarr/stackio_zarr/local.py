"""zarr's LocalStore, reading only regular files: a chunk that is a FIFO or a link to `/dev/zero` is refused.

zarr opens chunk files by name; a FIFO would block the read forever and a device would be read without
end. Every read here goes through `stackio.files.open_regular`, which checks the opened descriptor.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

from stackio.files import open_regular
from zarr.abc.store import ByteRequest, OffsetByteRequest, RangeByteRequest, SuffixByteRequest
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype
from zarr.storage import LocalStore


def _span(f: BinaryIO, byte_range: ByteRequest | None) -> tuple[int, int | None]:
    """Where the requested bytes start in the file, and how many (None: to the end)."""
    if byte_range is None:
        return 0, None
    if isinstance(byte_range, RangeByteRequest):
        return byte_range.start, max(0, byte_range.end - byte_range.start)
    if isinstance(byte_range, OffsetByteRequest):
        return byte_range.offset, None
    if isinstance(byte_range, SuffixByteRequest):
        return max(0, os.fstat(f.fileno()).st_size - byte_range.suffix), None
    raise TypeError(f"unexpected byte range {byte_range!r}")


def _read(path: Path, prototype: BufferPrototype, byte_range: ByteRequest | None) -> Buffer | None:
    try:
        with open_regular(path, what="the zarr chunk or document") as f:
            start, length = _span(f, byte_range)
            f.seek(start)
            data = f.read() if length is None else f.read(length)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None  # no chunk there: zarr fills it (a directory is no key either)
    return prototype.buffer.from_bytes(data)


class RegularFileStore(LocalStore):
    """A read-only LocalStore whose reads open regular files only."""

    async def get(self, key: str, prototype: BufferPrototype | None = None, byte_range: Any = None) -> Buffer | None:
        if not self._is_open:
            await self._open()
        return await asyncio.to_thread(_read, self.root / key, prototype or default_buffer_prototype(), byte_range)

    async def get_partial_values(
        self, prototype: BufferPrototype, key_ranges: Iterable[tuple[str, ByteRequest | None]]
    ) -> list[Buffer | None]:
        reads = [asyncio.to_thread(_read, self.root / key, prototype, byte_range) for key, byte_range in key_ranges]
        return list(await asyncio.gather(*reads))
