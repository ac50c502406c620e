"""Batched patch reads: many patches of one stack into one preallocated (N, C, (Z), Y, X) array.

`read_patches(stack, sample_indices, coords, patch_size, channels)` validates the whole request once, then
reads every patch straight into its place in the result. How the pixels are fetched depends on the stack:

- a stack with its own `read_patches` method (stackio's stacks, or any ImageStack that offers one) is asked
  for the whole batch;
- stackio's own stacks hand the batch to their reader: a reader (the array-like a plugin opens) that offers
  `read_into(keys, outs)` reads it natively (grouping requests by the tiles, chunks, subblocks or planes
  they touch so each is decoded once, in parallel where its library releases the GIL); a reader of a
  chunked format (`stack.chunks`) without one has each chunk the batch touches decoded once by the core;
  any other reader is read key by key;
- any other ImageStack is read patch by patch through `extract_patch`.

The result equals stacking `extract_patch` over the requests, with the same zero fill and the same errors.

The reader method, for plugin authors:

    read_into(keys: Sequence[tuple[int | slice, ...]], outs: Sequence[np.ndarray]) -> None

Each key is a numpy basic-indexing key in the reader's (original) axes, with in-bounds unit-step slices;
`outs[i]` has exactly the shape `reader[keys[i]]` would have, the stack's dtype, and may be a strided view:
write `reader[keys[i]]` into it (e.g. `np.copyto(outs[i], block)`). Keys may repeat or overlap.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
import os
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs
import numpy as np

from . import forksafe, memory
from .axes import Layout
from .errors import PatchBoundsError, ReadError, StackioError
from .patches import LARGE_PATCH, PatchPlan, check_patch_request, checked

#: At most this many bytes of decoded chunks are held at once by the core's chunk-grouped read.
CHUNK_CACHE_BYTES = 256 * 2**20

Key = tuple[int | slice, ...]

_WHOLE = slice(None)
_SEQUENCES = (tuple, list)


@attrs.frozen(eq=False)
class Batch:
    """A validated batch request against an SC(Z)YX shape.

    `starts` holds each patch's corner (N x spatial), `lo`/`hi` the part of each patch inside the image
    (image coordinates), `inside[i]` whether patch i lies wholly inside.
    """

    samples: np.ndarray
    starts: np.ndarray
    size: tuple[int, ...]
    channels: list[int] | None
    lo: np.ndarray
    hi: np.ndarray
    inside: np.ndarray

    @property
    def n(self) -> int:
        return len(self.samples)


def _ints(value: Any, what: str, source: str) -> np.ndarray:
    """`value` as an int64 array; floats, bools and strings are refused rather than truncated."""
    try:
        array = np.asarray(value)
    except Exception:
        raise PatchBoundsError(f"{source}: {what} must be whole numbers, not {value!r}", source=source) from None
    if array.dtype == object and array.size:
        try:
            array = np.array([operator.index(v) for v in array.ravel()], dtype=np.int64).reshape(array.shape)
        except TypeError:
            raise PatchBoundsError(f"{source}: {what} must be whole numbers, not {value!r}", source=source) from None
    if array.size and (array.dtype.kind not in "iu"):
        raise PatchBoundsError(
            f"{source}: {what} must be whole numbers, not {array.dtype} values such as {array.ravel()[0]!r}",
            source=source,
        )
    return array.astype(np.int64, copy=False)


def check_batch(
    source: str,
    shape: Sequence[int],
    sample_indices: Any,
    coords: Any,
    patch_size: Sequence[int],
    channels: Sequence[int] | None = None,
) -> Batch:
    """Validate a batch once: the same rules as `check_patch_request`, errors naming the patch."""
    shape = tuple(int(n) for n in shape)
    n_samples, _, *spatial = shape
    nd = len(spatial)
    starts = _ints(coords, "coords", source)
    if starts.ndim == 1 and starts.size == 0:
        starts = starts.reshape(0, nd)
    if starts.ndim != 2 or starts.shape[1] != nd:
        raise PatchBoundsError(
            f"{source}: coords must be N rows of {nd} values ({'ZYX'[-nd:] if nd <= 3 else nd}) for a stack "
            f"of shape {shape}, not an array of shape {starts.shape}",
            source=source,
        )
    n = starts.shape[0]
    samples = _ints(sample_indices, "sample_indices", source)
    if isinstance(sample_indices, (bool, np.bool_)):
        raise PatchBoundsError(f"{source}: sample_indices must be ints, not {sample_indices!r}", source=source)
    if samples.ndim == 0:
        samples = np.full(n, int(samples), dtype=np.int64)
    if samples.shape != (n,):
        raise PatchBoundsError(
            f"{source}: sample_indices has {samples.size} value(s) for {n} patch(es); give one per patch or one int",
            source=source,
        )
    if channels is None and n and _plain_size(patch_size, nd):
        channel_list, size = None, tuple(patch_size)  # what the probe below would find, without its cost
    else:
        # The per-patch checks give the messages; run them on one representative request (size, channels) ...
        size_seq = tuple(patch_size) if hasattr(patch_size, "__iter__") else patch_size
        probe = [0] * nd
        _, channel_list, _ = check_patch_request(source, shape, 0, channels, probe, size_seq)
        size = tuple(int(s) for s in size_seq)
    if n and _wholly_inside(samples, starts, n_samples, spatial, size):
        return Batch(samples, starts, size, channel_list, starts, starts + size, np.ones(n, dtype=bool))
    # ... then the per-patch bounds, vectorized, naming the first bad patch.
    bad = np.flatnonzero((samples < 0) | (samples >= n_samples))
    if bad.size:
        i = int(bad[0])
        raise PatchBoundsError(
            f"{source}: patch {i} asks for sample {int(samples[i])}, which does not exist; the stack has "
            f"{n_samples} sample(s), indices 0 to {n_samples - 1}",
            source=source,
        )
    extent = np.array(spatial, dtype=np.int64).reshape(1, nd)
    size_arr = np.array(size, dtype=np.int64).reshape(1, nd)
    outside = (starts >= extent) | (starts + size_arr <= 0)
    bad = np.flatnonzero(outside.any(axis=1))
    if bad.size:
        i = int(bad[0])
        raise PatchBoundsError(
            f"{source}: patch {i} at {tuple(int(c) for c in starts[i])} of size {size} lies wholly outside the "
            f"image; spatial shape is {tuple(spatial)}",
            source=source,
        )
    lo = np.maximum(starts, 0)
    hi = np.minimum(starts + size_arr, extent)
    inside = np.asarray((starts >= 0).all(axis=1) & (starts + size_arr <= extent).all(axis=1))
    return Batch(samples, starts, size, channel_list, lo, hi, inside)


def _plain_size(patch_size: Any, nd: int) -> bool:
    """Whether `patch_size` is a tuple or list of `nd` positive Python ints (which the probe accepts)."""
    if type(patch_size) not in _SEQUENCES or len(patch_size) != nd:
        return False
    return all(type(s) is int and s > 0 for s in patch_size)


def _wholly_inside(
    samples: np.ndarray, starts: np.ndarray, n_samples: int, spatial: Sequence[int], size: tuple[int, ...]
) -> bool:
    """Whether every patch of a non-empty batch is of an existing sample and lies wholly inside the image:
    the common batch, told by four reductions instead of the per-patch bounds."""
    if not (0 <= int(samples.min()) and int(samples.max()) < n_samples):
        return False
    low, high = starts.min(axis=0).tolist(), starts.max(axis=0).tolist()
    return all(a >= 0 and b + s <= n for a, b, s, n in zip(low, high, size, spatial, strict=True))


def _check_memory(n_bytes: int, source: str, what: str) -> None:
    if n_bytes > LARGE_PATCH:
        free = memory.available_memory()
        if free is not None and n_bytes > free:
            raise PatchBoundsError(
                f"{source}: {what} needs {n_bytes / 2**30:.1f} GiB but only {free / 2**30:.1f} GiB is "
                "available; read fewer or smaller patches per batch",
                source=source,
            )


def read_patches(
    stack: Any,
    sample_indices: Any,
    coords: Any,
    patch_size: Sequence[int],
    channels: Sequence[int] | None = None,
) -> np.ndarray:
    """Read N patches of one stack into one (N, C, (Z), Y, X) array in the stack's dtype (native byte order).

    `sample_indices` is one int per patch (or one int for all), `coords` N rows of corners, `patch_size`
    one size for every patch, `channels` as in `extract_patch` (None: all). Equal, pixel for pixel, to
    stacking `stack.extract_patch` over the requests; parts outside the image are zero, a patch wholly
    outside raises `PatchBoundsError` naming it.
    """
    from .stacks import ArrayStack, FileBackedStack, LazyStack

    if isinstance(stack, (ArrayStack, LazyStack, FileBackedStack)):
        return read_stack_patches(stack, sample_indices, coords, patch_size, channels)
    own = getattr(stack, "read_patches", None)
    if callable(own):
        return _checked_batch(own(sample_indices, coords, patch_size, channels), stack)
    source = str(getattr(stack, "source", "<stack>"))
    shape = tuple(stack.data_shape)
    dtype = np.dtype(stack.data_dtype)
    batch = check_batch(source, shape, sample_indices, coords, patch_size, channels)
    n_out = len(batch.channels) if batch.channels is not None else shape[1]
    _check_memory(batch.n * n_out * math.prod(batch.size) * dtype.itemsize, source, f"a batch of {batch.n} patches")
    out = np.empty((batch.n, n_out, *batch.size), dtype=dtype.newbyteorder("="))
    for i in range(batch.n):
        patch = np.asarray(
            stack.extract_patch(
                int(batch.samples[i]), batch.channels, tuple(int(c) for c in batch.starts[i]), batch.size
            )
        )
        out[i] = checked(patch, out.shape[1:], dtype, source, f"patch {i}")
    return out


def _checked_batch(result: Any, stack: Any) -> np.ndarray:
    """A stack's own batched read, checked like a reader's result."""
    array = np.asarray(result)
    source = str(getattr(stack, "source", "<stack>"))
    dtype = np.dtype(stack.data_dtype)
    if array.ndim != len(tuple(stack.data_shape)) or array.dtype.newbyteorder("=") != dtype.newbyteorder("="):
        raise ReadError(
            f"{source}: its read_patches returned {array.dtype} data of shape {array.shape}, not an "
            f"(N, C, ...) batch of {dtype}; report this to the plugin that made the stack",
            source=source,
        )
    return array


# -- stackio's own stacks: a batch through a reader in original axes ----------------------------------


def read_stack_patches(
    stack: Any,
    sample_indices: Any,
    coords: Any,
    patch_size: Sequence[int],
    channels: Sequence[int] | None = None,
) -> np.ndarray:
    """`read_patches` for stackio's ArrayStack, LazyStack and FileBackedStack."""
    try:
        return _read_stack_patches(stack, sample_indices, coords, patch_size, channels)
    except StackioError:
        raise
    except MemoryError as exc:
        from .stacks import PATCH_HINT

        what = f"a batch of patches of size {tuple(patch_size)}"
        raise memory.not_enough_memory(stack.source, what, exc, PATCH_HINT) from exc


def _read_stack_patches(
    stack: Any,
    sample_indices: Any,
    coords: Any,
    patch_size: Sequence[int],
    channels: Sequence[int] | None = None,
) -> np.ndarray:
    from .stacks import FileBackedStack, LazyStack

    if isinstance(stack, FileBackedStack):
        loaded = stack._data.acquire()  # held until the batch is read: a close() meanwhile waits for it
        try:
            return _read_stack_patches(loaded, sample_indices, coords, patch_size, channels)
        finally:
            stack._data.release()
    source = stack.source
    batch = check_batch(source, stack._plan.shape, sample_indices, coords, patch_size, channels)
    if not isinstance(stack, LazyStack):
        if batch.channels is None and bool(batch.inside.all()):
            return _gather(stack._data, batch, source)
        return read_batch(stack._arranged, stack._data, stack.data_dtype, source, batch)
    reader = stack._reader.acquire()
    try:
        return read_batch(stack.layout, reader, stack.data_dtype, source, batch, stack.chunks)
    finally:
        stack._reader.release()


def _gather(data: np.ndarray, batch: Batch, source: str) -> np.ndarray:
    """Patches wholly inside an SC(Z)YX array, all channels: one slice and copy each."""
    _check_memory(batch.n * data.shape[1] * math.prod(batch.size) * data.dtype.itemsize, source, "a batch")
    out = np.empty((batch.n, data.shape[1], *batch.size), dtype=data.dtype.newbyteorder("="))
    everything = slice(None)
    for i, (sample, start, stop) in enumerate(
        zip(batch.samples.tolist(), batch.lo.tolist(), batch.hi.tolist(), strict=True)
    ):
        out[i] = data[(sample, everything, *map(slice, start, stop))]
    return out


def read_batch(
    layout: Layout,
    reader: Any,
    dtype: np.dtype,
    source: str,
    batch: Batch,
    chunks: tuple[int, ...] | None = None,
) -> np.ndarray:
    """Read a validated batch through `reader` (original axes), as `read_patch` reads one patch."""
    plan = PatchPlan.of(layout)
    n_channels = plan.shape[1]
    channel_list = batch.channels
    # Channels are read as one span; a list that is not that span in order is picked from it afterwards.
    if channel_list is None:
        c0, c1, pick = 0, n_channels, None
    else:
        c0, c1 = min(channel_list), max(channel_list) + 1
        pick = None if channel_list == list(range(c0, c1)) else [c - c0 for c in channel_list]
    span = c1 - c0
    _check_memory(batch.n * span * math.prod(batch.size) * dtype.itemsize, source, f"a batch of {batch.n} patches")
    all_inside = bool(batch.inside.all())
    alloc = np.empty if all_inside else np.zeros
    out = alloc((batch.n, span, *batch.size), dtype=dtype.newbyteorder("="))
    keys = _keys(plan, batch, slice(c0, c1))
    outs = _outs(layout, out, batch, all_inside)
    try:
        read_into = getattr(reader, "read_into", None)
        if callable(read_into):
            read_into(keys, outs)
        elif chunks is not None and len(keys) > 1:
            read_chunked(reader, keys, outs, chunks, layout.original_shape, dtype, source)
        elif isinstance(reader, np.ndarray):
            for read_key, view in zip(keys, outs, strict=True):
                view[...] = reader[read_key]
        else:
            for i, (read_key, view) in enumerate(zip(keys, outs, strict=True)):
                block = checked(np.asarray(reader[read_key]), view.shape, dtype, source, f"patch {i}")
                view[...] = block
    except (StackioError, MemoryError):
        raise  # a MemoryError is reported as such by read_stack_patches
    except Exception as exc:
        raise ReadError(
            f"{source}: reading a batch of {batch.n} patches failed ({type(exc).__name__}: {exc}); "
            "the file may be truncated or corrupt",
            source=source,
        ) from exc
    if pick is not None:
        out = out[:, pick]
    return out


def _keys(plan: PatchPlan, batch: Batch, channel_span: slice | None) -> list[Key]:
    """Each patch's key in the reader's original axes, built a column (an axis) at a time: the per-patch
    work of a batch beyond its copy, so no Python loop per patch and axis."""
    n = batch.n
    columns: list[Any] = [itertools.repeat(_WHOLE, n) for _ in plan.original_shape]
    if plan.channel_position is not None:
        columns[plan.channel_position] = itertools.repeat(channel_span, n)
    if len(plan.sample_axes) == 1:  # S is one original axis: its index is the sample's
        columns[plan.sample_axes[0][0]] = batch.samples.tolist()
    else:
        index = batch.samples
        for pos, size in plan.sample_axes:  # innermost first
            columns[pos] = (index % size).tolist()
            index = index // size
    for pos, low, high in zip(plan.spatial_positions, batch.lo.T.tolist(), batch.hi.T.tolist(), strict=True):
        columns[pos] = list(map(slice, low, high))
    return list(zip(*columns, strict=False))  # the repeated columns are endless


def _outs(layout: Layout, out: np.ndarray, batch: Batch, all_inside: bool) -> list[np.ndarray]:
    """Each patch's place in `out`, in the reader's axis order (the part inside the image only)."""
    has_channel = "C" in layout.original_axes
    to_reader = _to_reader(layout)
    whole = out if has_channel else out[:, 0]
    if all_inside:
        return list(whole if to_reader is None else whole.transpose((0, *(k + 1 for k in to_reader))))
    outs = list(whole)
    lead = (slice(None),) if has_channel else ()
    for i in np.flatnonzero(~batch.inside).tolist():
        inner = map(slice, (batch.lo[i] - batch.starts[i]).tolist(), (batch.hi[i] - batch.starts[i]).tolist())
        outs[i] = outs[i][(*lead, *inner)]
    return outs if to_reader is None else [view.transpose(to_reader) for view in outs]


@functools.lru_cache(maxsize=1024)
def _to_reader(layout: Layout) -> tuple[int, ...] | None:
    """Where each axis of a reader's block (the non-sample original axes) is in a patch's C(Z)YX
    (C only when the reader has one); None when they are in that order already."""
    remaining = [a for a in layout.original_axes if a not in layout.sample_axes]
    patch_axes = (["C"] if "C" in layout.original_axes else []) + list(layout.spatial_axes)
    order = tuple(patch_axes.index(a) for a in remaining)
    return None if order == tuple(range(len(order))) else order


# -- chunk-grouped reads for chunked formats without a native batched read --------------------------


def _chunk_ranges(key: Key, chunks: tuple[int, ...]) -> list[range]:
    ranges = []
    for k, c in zip(key, chunks, strict=True):
        if isinstance(k, slice):
            ranges.append(range(k.start // c, (k.stop - 1) // c + 1))
        else:
            ranges.append(range(k // c, k // c + 1))
    return ranges


def read_chunked(
    reader: Any,
    keys: Sequence[Key],
    outs: Sequence[np.ndarray],
    chunks: tuple[int, ...],
    shape: tuple[int, ...],
    dtype: np.dtype,
    source: str,
) -> None:
    """Fill `outs` decoding each chunk the keys touch once (in parallel), when chunks are shared.

    When no chunk is shared, or the chunks touched would not fit `CHUNK_CACHE_BYTES`, each key is read
    as it is (the format library then decodes exactly what a per-patch read decodes).
    """
    import itertools

    chunks = tuple(max(1, min(int(c), int(n))) for c, n in zip(chunks, shape, strict=True))
    per_key = [list(itertools.product(*_chunk_ranges(k, chunks))) for k in keys]
    distinct = {c for touched in per_key for c in touched}
    references = sum(len(t) for t in per_key)
    chunk_bytes = math.prod(chunks) * dtype.itemsize
    if len(distinct) == references or len(distinct) * chunk_bytes > CHUNK_CACHE_BYTES:
        for i, (key, view) in enumerate(zip(keys, outs, strict=True)):
            view[...] = checked(np.asarray(reader[key]), view.shape, dtype, source, f"patch {i}")
        return

    def chunk_key(index: tuple[int, ...]) -> tuple[slice, ...]:
        return tuple(slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(index, chunks, shape, strict=True))

    order = sorted(distinct)
    decoded = dict(zip(order, parallel_map(lambda index: np.asarray(reader[chunk_key(index)]), order), strict=True))
    for key, view, touched in zip(keys, outs, per_key, strict=True):
        for index in touched:
            block = decoded[index]
            src: list[int | slice] = []
            dst: list[slice] = []
            for k, i, c in zip(key, index, chunks, strict=True):
                origin = i * c
                if not isinstance(k, slice):  # an index: the axis is dropped from the view
                    src.append(k - origin)
                    continue
                a, b = max(k.start, origin), min(k.stop, origin + c)
                src.append(slice(a - origin, b - origin))
                dst.append(slice(a - k.start, b - k.start))
            view[tuple(dst)] = block[tuple(src)]


# -- a shared pool for decoding ------------------------------------------------------------------

#: Above this many tasks a batch is decoded on the pool; with two cores or fewer the pool's overhead
#: outweighs what it gains for small tasks, so only large batches use it there.
PARALLEL_TASKS = 8 if (os.cpu_count() or 1) > 2 else 32

_pool: ThreadPoolExecutor | None = None
_pool_pid = 0
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """The decoding pool; a new one in a forked child (a parent's pool has no threads there)."""
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        with _pool_lock:
            if _pool is None or _pool_pid != os.getpid():
                _pool = ThreadPoolExecutor(
                    max_workers=max(2, min(8, os.cpu_count() or 2)), thread_name_prefix="stackio"
                )
                _pool_pid = os.getpid()
    return _pool


def _after_fork() -> None:
    global _pool_lock
    _pool_lock = threading.Lock()  # a lock held by a parent's thread at fork time would never be released


forksafe.at_fork(_after_fork)


def parallel_map(func: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """`[func(x) for x in items]`, on the shared pool when there are enough items to gain from it.

    For work whose library releases the GIL (decompression, file reads); results keep the items' order.
    Inside a pool thread the work runs serially (a nested wait on the same pool could deadlock).
    """
    if len(items) < PARALLEL_TASKS or threading.current_thread().name.startswith("stackio") or sys.is_finalizing():
        return [func(x) for x in items]
    return list(_executor().map(func, items))
