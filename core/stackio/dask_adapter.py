"""The dask adapter: any ImageStack as a lazy dask array whose chunks are read with `extract_patch`."""

from __future__ import annotations

import math
import uuid
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


def data_identity(stack: ImageStack) -> tuple[Any, ...]:
    """What tells this stack's data from any other's, for naming its dask array.

    A file stack's data is named by its source, its `load_options` and how it is laid out (two loads
    of one file with the same options share a name, so dask reads them once); an in-memory stack by
    its own token; any other ImageStack is trusted to nothing: it gets a name of its own each time.
    """
    from .stacks import ArrayStack, FileBackedStack, LazyStack

    if isinstance(stack, ArrayStack):
        return ("array", stack.token)
    if isinstance(stack, (LazyStack, FileBackedStack)):
        layout = stack.layout
        options = sorted(stack.load_options.items())
        described = (layout.original_axes, layout.original_shape, layout.sample_axes, layout.depth_axis)
        return ("file", stack.source, options, described, str(stack.data_dtype))
    return ("other", uuid.uuid4().hex)


def stack_to_dask(stack: ImageStack, chunks: tuple[int, ...] | None = None) -> Any:
    """Wrap any ImageStack as a dask array whose chunks are read with `extract_patch`."""
    import dask.array as da
    from dask.base import tokenize

    array = StackArray(stack)
    chunks = chunks or natural_chunks(stack)
    name = "stackio-" + tokenize(data_identity(stack), array.shape, str(array.dtype), chunks)
    return da.from_array(array, chunks=chunks, name=name, asarray=False, fancy=False, lock=False)
