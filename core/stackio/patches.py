"""Patch requests and reads: check a request, then read one C(Z)YX patch from any array-like.

One `PatchPlan` per layout says where the stack's axes sit in the original array; the common
request (all channels, wholly inside) and every other request (channel lists, zero fill at the
edges, errors) are both read through it.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from . import memory
from .axes import Layout
from .errors import PatchBoundsError, ReadError

#: Patches larger than this are checked against the memory available before they are allocated.
LARGE_PATCH = 256 * 2**20


def check_patch_request(
    source: str,
    shape: tuple[int, ...],
    sample_idx: int,
    channels: Sequence[int] | None,
    coords: Sequence[int],
    patch_size: Sequence[int],
) -> tuple[int, list[int] | None, tuple[tuple[int, int], ...]]:
    """Validate a patch request against an SC(Z)YX shape.

    Returns the sample index, the channel list (or None for all) and, per spatial
    axis, the (start, stop) of the part of the patch that lies inside the image.
    """
    n_samples, n_channels, *spatial = shape
    spatial_names = "ZYX"[-len(spatial) :] if len(spatial) <= 3 else "?" * len(spatial)
    try:
        coords, patch_size = tuple(coords), tuple(patch_size)
    except TypeError:
        raise PatchBoundsError(
            f"{source}: coords and patch_size must be sequences of ints, not {coords!r} and {patch_size!r}",
            source=source,
        ) from None
    if not isinstance(sample_idx, (int, np.integer)) or isinstance(sample_idx, bool):
        raise PatchBoundsError(f"{source}: sample_idx must be an int, not {sample_idx!r}", source=source)
    if not 0 <= sample_idx < n_samples:
        raise PatchBoundsError(
            f"{source}: sample {sample_idx} does not exist; the stack has {n_samples} "
            f"sample(s), indices 0 to {n_samples - 1}",
            source=source,
        )
    if channels is not None:
        if isinstance(channels, (int, np.integer, str, bytes)) or not hasattr(channels, "__iter__"):
            raise PatchBoundsError(
                f"{source}: channels must be None (all) or a list of channel indices such as [0, 2], not {channels!r}",
                source=source,
            )
        channels = [_whole(c, "channels", source) for c in channels]
        if not channels:
            raise PatchBoundsError(f"{source}: channels is empty; pass None for all channels", source=source)
        bad = [c for c in channels if not 0 <= c < n_channels]
        if bad:
            raise PatchBoundsError(
                f"{source}: channel(s) {bad} do not exist; the stack has {n_channels} "
                f"channel(s), indices 0 to {n_channels - 1}",
                source=source,
            )
    if len(coords) != len(spatial) or len(patch_size) != len(spatial):
        raise PatchBoundsError(
            f"{source}: coords {tuple(coords)} and patch_size {tuple(patch_size)} must each have "
            f"{len(spatial)} values ({spatial_names}) for a stack of shape {shape}",
            source=source,
        )
    ranges = []
    for name, start, size, extent in zip(spatial_names, coords, patch_size, spatial, strict=True):
        start, size = _whole(start, "coords", source), _whole(size, "patch_size", source)
        if size < 1:
            raise PatchBoundsError(f"{source}: patch_size must be positive, got {tuple(patch_size)}", source=source)
        if start >= extent or start + size <= 0:
            raise PatchBoundsError(
                f"{source}: the patch at {tuple(coords)} of size {tuple(patch_size)} lies wholly "
                f"outside the image along {name} (extent {extent}); spatial shape is {tuple(spatial)}",
                source=source,
            )
        ranges.append((max(start, 0), min(start + size, extent)))
    return int(sample_idx), channels, tuple(ranges)


def _whole(value: Any, what: str, source: str) -> int:
    """`value` as an int; a float, a string or a bool is refused rather than truncated."""
    if isinstance(value, (bool, np.bool_)):
        raise PatchBoundsError(f"{source}: {what} must be whole numbers, not {value!r}", source=source)
    try:
        return operator.index(value)
    except TypeError:
        raise PatchBoundsError(f"{source}: {what} must be whole numbers, not {value!r}", source=source) from None


@attrs.frozen
class PatchPlan:
    """Where a layout's axes sit in its original array: everything a read derives from the layout."""

    #: The stack's SC(Z)YX shape.
    shape: tuple[int, ...]
    original_shape: tuple[int, ...]
    #: (position, size) of each axis merged into S, innermost first (the order S is unravelled in).
    sample_axes: tuple[tuple[int, int], ...]
    #: Position of each spatial axis, in output order.
    spatial_positions: tuple[int, ...]
    channel_position: int | None
    #: Puts a read block's axes in C(Z)YX order; None when they already are.
    transpose: tuple[int, ...] | None

    @staticmethod
    @functools.lru_cache(maxsize=4096)
    def of(layout: Layout) -> PatchPlan:
        """The plan of `layout`, made once per layout (layouts are frozen values)."""
        orig = layout.original_axes
        remaining = [a for a in orig if a not in layout.sample_axes]
        order = [remaining.index("C")] if "C" in remaining else []
        order += [remaining.index(a) for a in layout.spatial_axes]
        samples = tuple((orig.index(a), n) for a, n in zip(layout.sample_axes, layout.sample_shape, strict=True))
        return PatchPlan(
            shape=layout.shape,
            original_shape=layout.original_shape,
            sample_axes=samples[::-1],
            spatial_positions=tuple(orig.index(a) for a in layout.spatial_axes),
            channel_position=orig.index("C") if "C" in orig else None,
            transpose=None if order == sorted(order) else tuple(order),
        )

    def start_key(self, sample_idx: int) -> tuple[list[int | slice], list[int | None]]:
        """The key selecting one whole sample, and the extents it leaves (None where an axis is dropped)."""
        key: list[int | slice] = [slice(None)] * len(self.original_shape)
        extents: list[int | None] = list(self.original_shape)
        index = sample_idx
        for pos, n in self.sample_axes:
            key[pos] = index % n
            extents[pos] = None
            index //= n
        return key, extents

    def read(
        self,
        reader: Any,
        key: list[int | slice],
        extents: list[int | None],
        dtype: np.dtype,
        source: str,
        *,
        private: bool = True,
    ) -> np.ndarray:
        """`reader[key]` checked and arranged as C(Z)YX; a copy nothing else holds unless `private=False`."""
        block = checked(np.asarray(reader[tuple(key)]), tuple(n for n in extents if n is not None), dtype, source)
        fresh = block.base is None
        if self.transpose is not None:
            block = block.transpose(self.transpose)
        if self.channel_position is None:
            block = block[np.newaxis]
        if not private:
            return block
        if not fresh:
            return block.copy()
        return block if block.flags.c_contiguous else np.ascontiguousarray(block)


def read_patch(
    layout: Layout,
    reader: Any,
    dtype: np.dtype,
    source: str,
    sample_idx: int,
    channels: Sequence[int] | None,
    coords: Sequence[int],
    patch_size: Sequence[int],
) -> np.ndarray:
    """Read one C(Z)YX patch through `reader[key]` in the layout's original axes.

    `reader` needs numpy basic indexing only: an int per merged sample axis, and
    in-bounds slices for C and the spatial axes. It returns either a view of data
    it holds (the patch is then copied) or a new array it does not keep.
    """
    if not isinstance(coords, (tuple, list)) and hasattr(coords, "__iter__"):
        coords = tuple(coords)  # numpy arrays, generators: read once (the checks refuse anything else)
    if not isinstance(patch_size, (tuple, list)) and hasattr(patch_size, "__iter__"):
        patch_size = tuple(patch_size)
    plan = PatchPlan.of(layout)
    shape = plan.shape
    # The common request (all channels, a valid sample, wholly inside) skips the general checks.
    if (
        channels is None
        and type(sample_idx) is int
        and 0 <= sample_idx < shape[0]
        and isinstance(coords, (tuple, list))
        and isinstance(patch_size, (tuple, list))
        and len(coords) == len(plan.spatial_positions)
        and len(patch_size) == len(plan.spatial_positions)
    ):
        key, extents = plan.start_key(sample_idx)
        for pos, start, size, extent in zip(plan.spatial_positions, coords, patch_size, shape[2:], strict=True):
            if type(start) is not int or type(size) is not int:
                if not isinstance(start, np.integer) or not isinstance(size, np.integer):
                    break  # the general path checks (and refuses floats, strings, bools)
                start, size = int(start), int(size)
            if start < 0 or size < 1 or start + size > extent:
                break
            key[pos] = slice(start, start + size)
            extents[pos] = size
        else:
            return plan.read(reader, key, extents, dtype, source)
    return _read_any(plan, reader, dtype, source, sample_idx, channels, coords, patch_size)


def _read_any(
    plan: PatchPlan,
    reader: Any,
    dtype: np.dtype,
    source: str,
    sample_idx: int,
    channels: Sequence[int] | None,
    coords: Sequence[int],
    patch_size: Sequence[int],
) -> np.ndarray:
    """`read_patch` for any request: channel lists, zero fill at the edges, and the errors."""
    sample_idx, channel_list, ranges = check_patch_request(source, plan.shape, sample_idx, channels, coords, patch_size)
    wanted = tuple(int(p) for p in patch_size)
    _check_patch_memory(source, len(channel_list or range(plan.shape[1])) * math.prod(wanted) * dtype.itemsize, wanted)
    key, extents = plan.start_key(sample_idx)
    first_channel = 0
    if plan.channel_position is not None and channel_list is not None:
        first_channel, last_channel = min(channel_list), max(channel_list)
        key[plan.channel_position] = slice(first_channel, last_channel + 1)
        extents[plan.channel_position] = last_channel + 1 - first_channel
    for pos, (lo, hi) in zip(plan.spatial_positions, ranges, strict=True):
        key[pos] = slice(lo, hi)
        extents[pos] = hi - lo
    block = plan.read(reader, key, extents, dtype, source, private=False)
    if channel_list is not None and channel_list != list(range(first_channel, first_channel + block.shape[0])):
        block = block[[c - first_channel for c in channel_list]]  # a new array
    if block.shape[1:] == wanted:
        return block if block.flags.owndata and block.flags.c_contiguous else block.copy()
    out = np.zeros((block.shape[0], *wanted), dtype=dtype)
    inside = tuple(slice(lo - int(c), hi - int(c)) for (lo, hi), c in zip(ranges, coords, strict=True))
    out[(slice(None), *inside)] = block
    return out


def _check_patch_memory(source: str, n_bytes: int, patch_size: tuple[int, ...]) -> None:
    if n_bytes > LARGE_PATCH:
        free = memory.available_memory()
        if free is not None and n_bytes > free:
            raise PatchBoundsError(
                f"{source}: a patch of size {patch_size} needs {n_bytes / 2**30:.1f} GiB but only "
                f"{free / 2**30:.1f} GiB is available; request smaller patches",
                source=source,
            )


def checked(
    block: np.ndarray,
    shape: tuple[int, ...],
    dtype: np.dtype,
    source: str,
    what: str = "a patch",
    *,
    convert: bool = True,
) -> np.ndarray:
    """`block` if a reader returned what was asked for; a ReadError, never a broadcast or a silent cast.

    A byte-order difference alone is converted (left to the caller with `convert=False`); any other
    shape or dtype is the reader's fault.
    """
    if block.shape == shape and block.dtype == dtype:
        return block
    dtype = np.dtype(dtype)
    if block.shape != shape or block.dtype.newbyteorder("=") != dtype.newbyteorder("="):
        raise ReadError(
            f"{source}: the reader returned {block.dtype} data of shape {block.shape} for {what} of shape "
            f"{shape} ({dtype}); the file does not hold what its metadata declares, or the plugin's reader "
            "is inconsistent with the stack it built (report this to the plugin)",
            source=source,
        )
    return block if block.dtype == dtype or not convert else block.astype(dtype)
