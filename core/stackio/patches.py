"""Patch requests and reads: check a request, then read one C(Z)YX patch from any array-like.

One `PatchPlan` per layout says where the stack's axes sit in the original array; the common
request (all channels, wholly inside) and every other request (channel lists, zero fill at the
edges, errors) are both read through it.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import attrs
import numpy as np

from . import memory
from .axes import Layout
from .errors import PatchBoundsError, ReadError

#: Patches larger than this are checked against the memory available before they are allocated.
LARGE_PATCH = 256 * 2**20

#: The sequence types a request's coords and patch size take without conversion.
_SEQUENCES = (tuple, list)

#: `PatchPlan.head`: the original axes before the spatial ones (none, S, C, or S then C).
_HEAD_NONE, _HEAD_S, _HEAD_C, _HEAD_SC = range(4)
_HEADS = {(False, False): _HEAD_NONE, (True, False): _HEAD_S, (False, True): _HEAD_C, (True, True): _HEAD_SC}
_ALL = slice(None)


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
    _refuse_unordered(coords, "coords", source)
    _refuse_unordered(patch_size, "patch_size", source)
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
        _refuse_unordered(channels, "channels", source)
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


def _refuse_unordered(value: Any, what: str, source: str) -> None:
    """A set or a mapping has no order of its own: as channels or coordinates it would be read in hash order."""
    if isinstance(value, (AbstractSet, Mapping)):
        raise PatchBoundsError(
            f"{source}: {what} must be an ordered sequence such as a list or a tuple, not a "
            f"{type(value).__name__} ({value!r}), which has no order of its own",
            source=source,
        )


def _whole(value: Any, what: str, source: str) -> int:
    """`value` as an int; a float, a string or a bool is refused rather than truncated."""
    if isinstance(value, (bool, np.bool_)):
        raise PatchBoundsError(f"{source}: {what} must be whole numbers, not {value!r}", source=source)
    try:
        return operator.index(value)
    except TypeError:
        raise PatchBoundsError(f"{source}: {what} must be whole numbers, not {value!r}", source=source) from None


def _whole_numbers(values: tuple[Any, ...]) -> tuple[int, ...] | None:
    """`values` as ints if each is an int or a numpy integer (never a bool); None if any is not."""
    out = []
    for value in values:
        if type(value) is int:
            out.append(value)
        elif isinstance(value, np.integer):
            out.append(int(value))
        else:
            return None
    return tuple(out)


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
    # What the common request needs, worked out once (see `read_common`):
    #: A key selecting everything, one `slice(None)` per original axis.
    whole_key: tuple[slice, ...] = attrs.field(init=False)
    #: Position of S's only original axis; -1 when S merges several axes or has none.
    sample_position: int = attrs.field(init=False)
    #: Shape of a block holding everything of one sample (the original axes S does not take).
    block_shape: tuple[int, ...] = attrs.field(init=False)
    #: Position, in a block, of each spatial axis in output order.
    block_spatial: tuple[int, ...] = attrs.field(init=False)
    #: The spatial part of `shape`.
    spatial_shape: tuple[int, ...] = attrs.field(init=False)
    #: What the original axes are besides the spatial ones, when they are all before them, in this order:
    #: `_HEAD_NONE`, `_HEAD_S` (one axis S takes), `_HEAD_C`, `_HEAD_SC`; -1 for any other layout.
    head: int = attrs.field(init=False)

    @whole_key.default
    def _whole_key(self) -> tuple[slice, ...]:
        return (slice(None),) * len(self.original_shape)

    @sample_position.default
    def _sample_position(self) -> int:
        return self.sample_axes[0][0] if len(self.sample_axes) == 1 else -1

    @block_shape.default
    def _block_shape(self) -> tuple[int, ...]:
        merged = {pos for pos, _ in self.sample_axes}
        return tuple(n for i, n in enumerate(self.original_shape) if i not in merged)

    @block_spatial.default
    def _block_spatial(self) -> tuple[int, ...]:
        merged = {pos for pos, _ in self.sample_axes}
        kept = [i for i in range(len(self.original_shape)) if i not in merged]
        return tuple(kept.index(pos) for pos in self.spatial_positions)

    @spatial_shape.default
    def _spatial_shape(self) -> tuple[int, ...]:
        return self.shape[2:]

    @head.default
    def _head(self) -> int:
        sample = [pos for pos, _ in self.sample_axes]
        channel = [] if self.channel_position is None else [self.channel_position]
        before = sample + channel
        if (
            self.transpose is not None
            or len(sample) > 1
            or before != list(range(len(before)))
            or self.spatial_positions != tuple(range(len(before), len(self.original_shape)))
        ):
            return -1
        return _HEADS[bool(sample), bool(channel)]

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

    def read_patch(
        self,
        reader: Any,
        dtype: np.dtype,
        source: str,
        sample_idx: int,
        channels: Sequence[int] | None,
        coords: Sequence[int],
        patch_size: Sequence[int],
    ) -> np.ndarray:
        """`read_patch` through this plan (stacks keep their plan, so a read does not look it up)."""
        if channels is None and type(coords) in _SEQUENCES and type(patch_size) in _SEQUENCES:
            patch = self.read_common(reader, dtype, source, sample_idx, coords, patch_size)
            if patch is not None:
                return patch
        else:
            converted = False
            if not isinstance(coords, (tuple, list)) and hasattr(coords, "__iter__"):
                _refuse_unordered(coords, "coords", source)
                coords, converted = tuple(coords), True  # numpy arrays, generators: read once
            if not isinstance(patch_size, (tuple, list)) and hasattr(patch_size, "__iter__"):
                _refuse_unordered(patch_size, "patch_size", source)
                patch_size, converted = tuple(patch_size), True
            if converted and channels is None and isinstance(coords, tuple) and isinstance(patch_size, tuple):
                patch = self.read_common(reader, dtype, source, sample_idx, coords, patch_size)
                if patch is not None:
                    return patch
        return _read_any(self, reader, dtype, source, sample_idx, channels, coords, patch_size)

    def read_common(
        self,
        reader: Any,
        dtype: np.dtype,
        source: str,
        sample_idx: Any,
        coords: Sequence[Any],
        patch_size: Sequence[Any],
    ) -> np.ndarray | None:
        """The common request (all channels, whole numbers, wholly inside) at the least cost per call;
        None for any other request, which the general path then checks (and refuses or zero-fills)."""
        if type(sample_idx) is not int:
            if not isinstance(sample_idx, np.integer):
                return None
            sample_idx = int(sample_idx)
        n = len(self.spatial_positions)
        if not 0 <= sample_idx < self.shape[0] or len(coords) != n or len(patch_size) != n:
            return None
        # 2-D and 3-D requests are checked inline: a loop over the axes costs more than the read. Numpy
        # integers are whole numbers too; anything else (floats, strings, bools) is for the general path,
        # which refuses it.
        if n == 2:
            (y, x), (h, w) = coords, patch_size
            if not (type(y) is int and type(x) is int and type(h) is int and type(w) is int):
                found = _whole_numbers((y, x, h, w))
                if found is None:
                    return None
                y, x, h, w = found
            ey, ex = self.spatial_shape
            if y < 0 or x < 0 or h < 1 or w < 1 or y + h > ey or x + w > ex:
                return None
            spatial: tuple[slice, ...] = (slice(y, y + h), slice(x, x + w))
            sizes: tuple[int, ...] = (h, w)
        elif n == 3:
            (z, y, x), (d, h, w) = coords, patch_size
            if not (
                type(z) is int
                and type(y) is int
                and type(x) is int
                and type(d) is int
                and type(h) is int
                and type(w) is int
            ):
                found = _whole_numbers((z, y, x, d, h, w))
                if found is None:
                    return None
                z, y, x, d, h, w = found
            ez, ey, ex = self.spatial_shape
            if z < 0 or y < 0 or x < 0 or d < 1 or h < 1 or w < 1 or z + d > ez or y + h > ey or x + w > ex:
                return None
            spatial = (slice(z, z + d), slice(y, y + h), slice(x, x + w))
            sizes = (d, h, w)
        else:
            found = _whole_numbers((*coords, *patch_size))
            if found is None:
                return None
            for start, size, extent in zip(found[:n], found[n:], self.spatial_shape, strict=True):
                if start < 0 or size < 1 or start + size > extent:
                    return None
            spatial = tuple(slice(start, start + size) for start, size in zip(found[:n], found[n:], strict=True))
            sizes = found[n:]
        # The key, and the shape the reader must return: built at once for the usual layouts (`head`)
        head = self.head
        if head == _HEAD_S:
            block = reader[(sample_idx, *spatial)]
            expected = sizes
        elif head == _HEAD_NONE:
            block = reader[spatial]
            expected = sizes
        elif head == _HEAD_SC:
            block = reader[(sample_idx, _ALL, *spatial)]
            expected = (self.shape[1], *sizes)
        elif head == _HEAD_C:
            block = reader[(_ALL, *spatial)]
            expected = (self.shape[1], *sizes)
        else:
            key = list(self.whole_key)
            shape = list(self.block_shape)
            for pos, at, piece, size in zip(self.spatial_positions, self.block_spatial, spatial, sizes, strict=True):
                key[pos] = piece
                shape[at] = size
            if self.sample_position >= 0:
                key[self.sample_position] = sample_idx
            else:
                for pos, extent in self.sample_axes:
                    key[pos] = sample_idx % extent
                    sample_idx //= extent
            block = reader[tuple(key)]
            expected = tuple(shape)
        if type(block) is not np.ndarray:
            block = np.asarray(block)
        if block.shape != expected or (block.dtype is not dtype and block.dtype != dtype):
            block = checked(block, expected, dtype, source)
        # `arrange`, inline
        fresh = block.base is None
        if self.transpose is not None:
            block = block.transpose(self.transpose)
        if self.channel_position is None:
            block = block[None]
        if not fresh:
            return block.copy()
        return block if block.flags.c_contiguous else np.ascontiguousarray(block)

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
        return self.arrange(block, private=private)

    def arrange(self, block: np.ndarray, *, private: bool = True) -> np.ndarray:
        """A checked block (the original axes S does not take) as C(Z)YX; a copy nothing else holds
        unless `private=False`. A block with no base is taken to be the reader's new array."""
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
    return PatchPlan.of(layout).read_patch(reader, dtype, source, sample_idx, channels, coords, patch_size)


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
