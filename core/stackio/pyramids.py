"""Multiscale pyramids: level shapes and 2x downsampling of blocks (mean for images, mode for labels).

numpy only; every writer that builds levels (OME-Zarr, OME-TIFF SubIFDs) uses these, so the levels
of both formats hold the same pixels.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

#: Stop adding levels (pyramid="auto") once the largest of Y and X is at most this.
AUTO_SMALLEST = 256


def level_factors(spatial_shape: Sequence[int], voxel: Sequence[float] | None, levels: int) -> list[tuple[int, ...]]:
    """The downsampling factor of each level along each spatial axis ((Z)YX), level 0 first.

    Y and X halve at every level; Z (3-D data) halves only while it is not already coarser than
    twice the finer of Y and X (anisotropic stacks keep their Z until XY catch up), and never
    below one plane. Voxel sizes unknown count as 1.
    """
    ndim = len(spatial_shape)
    size = [float(v) for v in voxel] if voxel is not None else [1.0] * ndim
    out = [tuple([1] * ndim)]
    current = [1] * ndim
    for _ in range(1, levels):
        step = []
        for axis in range(ndim):
            if axis < ndim - 2:  # depth
                finest_plane = min(size[-1] * current[-1] * 2, size[-2] * current[-2] * 2)
                coarse = size[axis] * current[axis] * 2 > 2 * finest_plane
                step.append(1 if coarse or math.ceil(spatial_shape[axis] / current[axis]) < 2 else 2)
            else:
                step.append(2)
        current = [c * s for c, s in zip(current, step, strict=True)]
        out.append(tuple(current))
    return out


def level_shape(spatial_shape: Sequence[int], factor: Sequence[int]) -> tuple[int, ...]:
    return tuple(math.ceil(n / f) for n, f in zip(spatial_shape, factor, strict=True))


def auto_levels(spatial_shape: Sequence[int], smallest: int = AUTO_SMALLEST) -> int:
    """How many levels 'auto' builds: halve Y and X until the larger is at most `smallest`."""
    largest = max(spatial_shape[-2:])
    levels = 1
    while largest > smallest:
        largest = math.ceil(largest / 2)
        levels += 1
    return levels


def downsample(block: np.ndarray, step: Sequence[int], labels: bool) -> np.ndarray:
    """Reduce the trailing len(step) axes of `block` by `step` (1 or 2 each).

    An odd edge is padded by repeating its last element, so an edge voxel averages with itself.
    Images take the mean (rounded to the nearest for integers); labels the most frequent value
    of each block (ties go to the first in C order), so no new ids appear.
    """
    lead = block.ndim - len(step)
    pad = [(0, 0)] * lead + [(0, (s - n % s) % s) for n, s in zip(block.shape[lead:], step, strict=True)]
    if any(p[1] for p in pad):
        block = np.pad(block, pad, mode="edge")
    shape: list[int] = list(block.shape[:lead])
    for n, s in zip(block.shape[lead:], step, strict=True):
        shape += [n // s, s]
    grouped = block.reshape(shape)  # a view: (..., n0, s0, n1, s1, ...)
    inner = tuple(lead + 2 * i + 1 for i in range(len(step)))
    if labels:
        outer = [a for a in range(grouped.ndim) if a not in inner]
        return _mode(grouped.transpose(*outer, *inner).reshape(*[shape[a] for a in outer], -1))
    if block.dtype == np.bool_:
        return grouped.mean(axis=inner) >= 0.5
    mean = _mean(block, step)
    if block.dtype.kind in "iu":
        info = np.iinfo(block.dtype)
        return np.clip(np.rint(mean), info.min, info.max).astype(block.dtype)
    return mean.astype(block.dtype)


def _mean(block: np.ndarray, step: Sequence[int]) -> np.ndarray:
    """Block means by adding the strided views (one per position in a block): no copy of the input.

    float32 holds the sums of up to 8 values of 16 bits exactly; wider types sum in float64.
    """
    lead = block.ndim - len(step)
    exact32 = (block.dtype.kind in "iub" and block.dtype.itemsize <= 2) or block.dtype == np.float16
    acc_type = np.float32 if exact32 or block.dtype == np.float32 else np.float64
    out_shape = (*block.shape[:lead], *(n // s for n, s in zip(block.shape[lead:], step, strict=True)))
    total = np.zeros(out_shape, dtype=acc_type)
    for offsets in itertools.product(*[range(s) for s in step]):
        key: tuple[Any, ...] = (Ellipsis, *(slice(o, None, s) for o, s in zip(offsets, step, strict=True)))
        view = block[key]
        np.add(total, view, out=total, casting="unsafe")
    total /= math.prod(step)
    return total


def _mode(values: np.ndarray) -> np.ndarray:
    n = values.shape[-1]
    counts = np.zeros(values.shape, dtype=np.int8)
    for i in range(n):
        counts[..., i] = (values == values[..., i : i + 1]).sum(axis=-1)
    pick = counts.argmax(axis=-1)
    return np.take_along_axis(values, pick[..., None], axis=-1)[..., 0]
