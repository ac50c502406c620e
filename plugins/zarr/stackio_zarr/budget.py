"""Reads of arrays with large chunks: each read first checks that one decoded chunk fits in memory.

zarr decodes a whole chunk (an inner chunk, for sharded arrays) for any read that touches it, so a
small gzip chunk of zeros can make an 8x8 patch allocate GiBs. Arrays whose chunks are small are read
directly: the check would cost more than it protects.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from stackio.memory import SEGMENT_CHECK_BYTES, ensure_segment_fits


class ChunkBudget:
    """A reader whose every read first asks `stackio.memory` whether one decoded chunk fits."""

    def __init__(self, reader: Any, chunks: tuple[int, ...], nbytes: int, where: str) -> None:
        self._reader = reader
        self.chunks, self.nbytes, self.where = chunks, nbytes, where
        self.dtype = reader.dtype
        self.shape = tuple(reader.shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        ensure_segment_fits(
            self.nbytes,
            self.where,
            f"one zarr chunk of shape {self.chunks}",
            "re-save it with smaller chunks (e.g. stackio.save, or zarr's chunks=(1, 512, 512))",
        )
        return self._reader[key]

    def close(self) -> None:
        close = getattr(self._reader, "close", None)
        if close is not None:
            close()


def budgeted(reader: Any, array: Any, where: str) -> Any:
    """`reader` (reading `array`), guarded by a `ChunkBudget` when one decoded chunk is large."""
    chunks = tuple(int(n) for n in array.chunks)
    nbytes = math.prod(chunks) * np.dtype(array.dtype).itemsize
    if nbytes < SEGMENT_CHECK_BYTES:
        return reader
    return ChunkBudget(reader, chunks, nbytes, where)
