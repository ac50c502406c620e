"""The dask adapter: any ImageStack as a lazy dask array whose chunks are read with `extract_patch`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .protocol import ImageStack


class StackArray:
    """An SC(Z)YX array-like over any ImageStack, for `dask.array.from_array`."""

    def __init__(self, stack: ImageStack) -> None:
        self.stack = stack
        self.shape = tuple(stack.data_shape)
        self.dtype = np.dtype(stack.data_dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, key: tuple[slice, ...]) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (key,)
        key = key + (slice(None),) * (self.ndim - len(key))
        ranges = [range(*k.indices(n)) for k, n in zip(key, self.shape, strict=True)]
        samples, channels, *spatial = ranges
        out = np.empty([len(r) for r in ranges], dtype=self.dtype)
        if 0 in out.shape:
            return out
        for i, sample in enumerate(samples):
            out[i] = self.stack.extract_patch(
                sample, list(channels), [r.start for r in spatial], [len(r) for r in spatial]
            )
        return out


def natural_chunks(stack: ImageStack) -> tuple[int, ...]:
    shape = tuple(stack.data_shape)
    n_channels, spatial = shape[1], shape[2:]
    layout = getattr(stack, "layout", None)
    native = getattr(stack, "chunks", None)
    if native is not None and layout is not None:
        return (1, n_channels, *(native[layout.original_axes.index(a)] for a in layout.spatial_axes))
    plane = n_channels * math.prod(spatial[-2:]) * np.dtype(stack.data_dtype).itemsize
    if len(spatial) == 3:
        depth = max(1, min(spatial[0], (64 * 2**20) // max(plane, 1)))
        return (1, n_channels, depth, *spatial[1:])
    return (1, n_channels, *spatial)


def stack_to_dask(stack: ImageStack, chunks: tuple[int, ...] | None = None) -> Any:
    """Wrap any ImageStack as a dask array whose chunks are read with `extract_patch`."""
    import dask.array as da
    from dask.base import tokenize

    array = StackArray(stack)
    name = "stackio-" + tokenize(stack.source, array.shape, str(array.dtype), chunks)
    return da.from_array(
        array, chunks=chunks or natural_chunks(stack), name=name, asarray=False, fancy=False, lock=False
    )
