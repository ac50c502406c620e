"""Array-likes over TIFF pages that read only what a request touches.

- `MemmapStore`: a series stored uncompressed and contiguously in one file is
  a view on a memory map; a patch costs a slice.
- `PlaneStore`: any other series. Uncompressed pages are views on the map;
  compressed or tiled pages decode only the tiles or strips that intersect
  the request, and only the pages (planes) it needs.

Neither imports tifffile: the pages were parsed by `images.py`, and each
`Codec` carries the page's own decode function. Reads lease their file from
the core's bounded pool (`stackio.openfiles`, through a `FileRef` per file),
which checks the file has not changed before any byte is touched; both stores
are safe to use from several threads at once.
"""

from __future__ import annotations

import itertools
import math
import os
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs
import numpy as np
from stackio.forksafe import at_fork
from stackio.memory import ensure_segment_fits
from stackio.openfiles import FileRef

from . import tiles
from .files import POOL, FileKey
from .tiles import Direct

#: Above this many segments in one request, decode them on a thread pool; with two cores or fewer the
#: pool's overhead outweighs what it gains (measured by benchmarks/run.py), so decode serially there.
PARALLEL_SEGMENTS = 32 if (os.cpu_count() or 1) > 2 else sys.maxsize

_pool: ThreadPoolExecutor | None = None
_pool_pid = 0
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """The decoding pool; a new one in a forked child (a parent's pool has no threads there)."""
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        with _pool_lock:
            if _pool is None or _pool_pid != os.getpid():
                _pool = ThreadPoolExecutor(max_workers=max(2, min(8, os.cpu_count() or 2)))
                _pool_pid = os.getpid()
    return _pool


def _after_fork() -> None:
    global _pool_lock
    _pool_lock = threading.Lock()


at_fork(_after_fork)


@attrs.frozen(eq=False)
class Codec:
    """How the segments (tiles or strips) of pages sharing one keyframe are laid out and decoded."""

    #: The keyframe's decode function: (bytes | None, index, **kw) -> (array, (s, d, y, x, c), shape).
    decode: Callable[..., Any]
    #: Normalized page shape: (separate samples, depth, length, width, contiguous samples).
    shaped: tuple[int, int, int, int, int]
    tiled: bool
    #: Depth, length and width of one segment (a strip is 1 x rowsperstrip x width).
    segment: tuple[int, int, int]
    #: The page's dtype in the file's byte order when pages are stored raw (memory-mappable), else None.
    raw_dtype: np.dtype | None
    nodata: float = 0
    jpegheader: bytes | None = None
    #: The segments' decoder without tifffile's per-segment Python, where the codec allows (see `tiles`).
    direct: Direct | None = None
    #: Number of segments along (separate samples, depth, length, width).
    grid: tuple[int, int, int, int] = attrs.field(init=False)

    @grid.default
    def _grid(self) -> tuple[int, int, int, int]:
        s, d, y, x, _ = self.shaped
        sd, sy, sx = self.segment
        if self.tiled:
            return (s, math.ceil(d / sd), math.ceil(y / sy), math.ceil(x / sx))
        return (s, d, math.ceil(y / sy), 1)

    def segment_index(self, s: int, d: int, y: int, x: int) -> int:
        _, nd, ny, nx = self.grid
        return ((s * nd + d) * ny + y) * nx + x


@attrs.frozen(eq=False)
class Plane:
    """One TIFF page of a series: where its bytes are and how to decode them."""

    file: FileKey
    offsets: tuple[int, ...]
    counts: tuple[int, ...]
    codec: Codec
    jpegtables: bytes | None = None


@attrs.define
class ReadStats:
    """What reads cost so far (for tests and diagnostics)."""

    segments_decoded: int = 0
    planes_read: int = 0
    bytes_read: int = 0


Key = tuple[int | slice, ...]


def _normalize_key(key: Any, shape: tuple[int, ...]) -> list[tuple[int, int, int, bool]]:
    """Per dimension (start, stop, step, dropped) for numpy basic indexing."""
    if _plain(key, len(shape)):  # the core's request: no Ellipsis, no padding, no steps
        plain = []
        i = 0
        for k in key:
            n = shape[i]
            i += 1
            if type(k) is int:
                j = k + n if k < 0 else k
                if not 0 <= j < n:
                    raise IndexError(f"index {k} is out of bounds for a dimension of size {n}")
                plain.append((j, j + 1, 1, True))
            else:
                start, stop, _ = k.indices(n)
                plain.append((start, max(start, stop), 1, False))
        return plain
    if not isinstance(key, tuple):
        key = (key,)
    if any(k is Ellipsis for k in key):
        i = next(i for i, k in enumerate(key) if k is Ellipsis)
        fill = (slice(None),) * (len(shape) - len(key) + 1)
        key = key[:i] + fill + key[i + 1 :]
    if len(key) > len(shape):
        raise IndexError(f"too many indices ({len(key)}) for an array of {len(shape)} dimensions")
    key = key + (slice(None),) * (len(shape) - len(key))
    out = []
    for k, n in zip(key, shape, strict=True):
        if isinstance(k, slice):
            start, stop, step = k.indices(n)
            if step < 1:
                raise IndexError("only positive slice steps are supported")
            stop = max(start, stop)
            out.append((start, stop, step, False))
        else:
            i = int(k)  # numpy integers too; other types raise
            if i < 0:
                i += n
            if not 0 <= i < n:
                raise IndexError(f"index {k} is out of bounds for a dimension of size {n}")
            out.append((i, i + 1, 1, True))
    return out


def _plain(key: Any, ndim: int) -> bool:
    """Whether `key` is what the core asks for, which numpy's own indexing reads as `_normalize_key`
    would: an int or a unit-step slice per dimension. Anything else is normalized (and checked)."""
    if type(key) is not tuple or len(key) != ndim:
        return False
    for k in key:
        if type(k) is not int and (type(k) is not slice or k.step is not None):
            return False
    return True


def _finish(block: np.ndarray, ranges: list[tuple[int, int, int, bool]]) -> np.ndarray:
    """Apply slice steps (the block covers start:stop) and drop integer-indexed dimensions."""
    stepped = False
    drop = []
    for i, (_, _, step, dropped) in enumerate(ranges):
        stepped = stepped or step != 1
        if dropped:
            drop.append(i)
    if stepped:
        block = block[tuple(slice(None, None, step) for _, _, step, _ in ranges)]
    if drop:
        block = block.reshape([n for i, n in enumerate(block.shape) if i not in drop])
    return block


class MemmapStore:
    """A series stored raw and contiguously in one file, as a view on its memory map."""

    def __init__(self, file: FileKey, offset: int, shape: Sequence[int], file_dtype: np.dtype) -> None:
        self.file = file
        self.offset = int(offset)
        self.shape = tuple(int(n) for n in shape)
        self.file_dtype = np.dtype(file_dtype)
        self.dtype = self.file_dtype.newbyteorder("=")
        self.ndim = len(self.shape)
        self.stats = ReadStats()
        self._file = FileRef(file)

    def __getitem__(self, key: Any) -> np.ndarray:
        # one copy, in native byte order: the result never pins the file
        stats = self.stats
        # `_plain`, inline: this runs once per patch
        plain = type(key) is tuple and len(key) == self.ndim
        if plain:
            for k in key:
                if type(k) is not int and (type(k) is not slice or k.step is not None):
                    plain = False
                    break
        if plain:
            block = self._file.read_array(self.offset, self.shape, self.file_dtype, key)
            stats.planes_read += 1
            stats.bytes_read += block.nbytes
            return block
        ranges = _normalize_key(key, self.shape)
        region = tuple(slice(a, b) for a, b, _, _ in ranges)
        block = self._file.read_array(self.offset, self.shape, self.file_dtype, region)
        stats.planes_read += 1
        stats.bytes_read += block.nbytes
        return _finish(block, ranges)

    def read_into(self, keys: Sequence[Key], outs: Sequence[np.ndarray]) -> None:
        """A batch of regions, each copied into its output (see `stackio.batch`)."""
        from .batch import memmap_read_into

        memmap_read_into(self, keys, outs)

    def close(self) -> None:
        POOL.forget(self.file.path)


class PlaneStore:
    """A series as planes (pages): reads only the planes and segments a request touches.

    `outer_shape` indexes the planes (its product is `len(planes)`); `exposed`
    lists the array's dimensions, outer ones first: ("outer", k) for outer
    dimension k, ("page", j) for dimension j of the normalized page shape.
    Outer dimensions not exposed are fixed at `fixed[k]` (0 by default).
    """

    def __init__(
        self,
        planes: Sequence[Plane | None],
        outer_shape: Sequence[int],
        exposed: Sequence[tuple[str, int]],
        dtype: np.dtype,
        shaped: tuple[int, int, int, int, int],
        *,
        fixed: dict[int, int] | None = None,
    ) -> None:
        self.planes = list(planes)
        self.outer_shape = tuple(int(n) for n in outer_shape)
        if math.prod(self.outer_shape) != len(self.planes):
            raise ValueError(f"outer shape {self.outer_shape} does not index {len(self.planes)} planes")
        self.exposed = tuple(exposed)
        self.shaped = tuple(int(n) for n in shaped)
        self.fixed = dict(fixed or {})
        self.dtype = np.dtype(dtype).newbyteorder("=")
        self.shape = tuple(self.outer_shape[i] if kind == "outer" else self.shaped[i] for kind, i in self.exposed)
        self.ndim = len(self.shape)
        self._outer_dims = [i for kind, i in self.exposed if kind == "outer"]
        self._page_dims = [i for kind, i in self.exposed if kind == "page"]
        if [kind for kind, _ in self.exposed] != ["outer"] * len(self._outer_dims) + ["page"] * len(self._page_dims):
            raise ValueError("outer dimensions must come before page dimensions")
        hidden = [j for j in range(5) if j not in self._page_dims and self.shaped[j] != 1]
        if hidden:
            raise ValueError(f"page dimensions {hidden} of {self.shaped} are larger than 1 but not exposed")
        self.stats = ReadStats()
        # for `_compressed`: every plane compressed, and each plane's index as a sum over the outer dimensions
        self._all_compressed = all(p is None or p.codec.raw_dtype is None for p in self.planes)
        strides = [math.prod(self.outer_shape[k + 1 :]) for k in range(len(self.outer_shape))]
        self._plane_base = sum(self.fixed.get(k, 0) * n for k, n in enumerate(strides))
        self._outer_strides = [strides[k] for k in self._outer_dims]
        #: One `FileRef` per file the planes are in, found by plane (a plane hashes by identity).
        self._refs: dict[Plane, FileRef[Any]] = {}
        self._refs_by_file: dict[FileKey, FileRef[Any]] = {}

    def plane_indices(self) -> list[int]:
        """Indices (into `planes`) of every plane this store exposes."""
        ranges = [
            range(self.outer_shape[k]) if k in self._outer_dims else [self.fixed.get(k, 0)]
            for k in range(len(self.outer_shape))
        ]
        return [int(np.ravel_multi_index(index, self.outer_shape)) for index in itertools.product(*ranges)]

    def __getitem__(self, key: Any) -> np.ndarray:
        if self._all_compressed and _plain(key, self.ndim):
            block = self._compressed(key)
            if block is not None:
                return block
        ranges = _normalize_key(key, self.shape)
        n_outer = len(self._outer_dims)
        outer_ranges = ranges[:n_outer]
        page_ranges = ranges[n_outer:]
        region: list[tuple[int, int]] = [(0, 1)] * 5
        for j, (a, b, _, _) in zip(self._page_dims, page_ranges, strict=True):
            region[j] = (a, b)
        page_out_shape = tuple(b - a for a, b, _, _ in page_ranges)
        out = np.zeros(tuple(b - a for a, b, _, _ in outer_ranges) + page_out_shape, dtype=self.dtype)
        if out.size == 0:
            return _finish(out, ranges)
        positions = itertools.product(*(range(a, b) for a, b, _, _ in outer_ranges))
        blocks: list[tuple[Plane, np.ndarray]] = []
        for position in positions:
            index = [self.fixed.get(k, 0) for k in range(len(self.outer_shape))]
            for k, i in zip(self._outer_dims, position, strict=True):
                index[k] = i
            plane = self.planes[int(np.ravel_multi_index(index, self.outer_shape))]
            if plane is None:
                continue  # missing planes are refused at load; zeros if one slips through
            target = tuple(i - a for i, (a, _, _, _) in zip(position, outer_ranges, strict=True))
            self.stats.planes_read += 1
            if plane.codec.raw_dtype is not None:
                dest = out[target]
                if dest.flags.c_contiguous:  # copy straight into the output
                    self._raw_block(plane, region, dest.reshape(tuple(b - a for a, b in region)))
                else:
                    dest[...] = self._raw_block(plane, region).reshape(page_out_shape)
                continue
            # decode straight into the output: out[target] is contiguous, so it can take the region's shape
            view = out[target]
            view.shape = tuple(b - a for a, b in region)  # raises rather than copy
            blocks.append((plane, view))
        if blocks and PARALLEL_SEGMENTS < sys.maxsize:
            tasks = [(i, plane, s) for i, (plane, _) in enumerate(blocks) for s in self._segments(plane.codec, region)]
            if len(tasks) > PARALLEL_SEGMENTS:
                results = list(_executor().map(lambda t: self._decode(t[1], t[2]), tasks))
                for (i, plane, _), (data, origin) in zip(tasks, results, strict=True):
                    self._place(blocks[i][1], data, origin, region, plane.codec)
                return _finish(out, ranges)
        for plane, view in blocks:  # one plane at a time, each segment pasted as it is decoded
            tiles.read_plane(plane, region, view, self.stats)
        return _finish(out, ranges)

    def _compressed(self, key: tuple[int | slice, ...]) -> np.ndarray | None:
        """A plain key (ints and unit-step slices) of compressed planes, decoded serially into a new
        array of the result's shape under one lease of the file (the common patch: see `tiles`); None
        where the decoding pool pays (more segments than `PARALLEL_SEGMENTS`)."""
        n_outer = len(self._outer_dims)
        shape = self.shape
        outer: list[range] = []
        region: list[tuple[int, int]] = [(0, 1)] * 5
        kept: list[int] = []
        for i, k in enumerate(key):
            n = shape[i]
            if type(k) is int:
                a = k + n if k < 0 else k
                if not 0 <= a < n:
                    raise IndexError(f"index {k} is out of bounds for a dimension of size {n}")
                b = a + 1
            else:
                a, b, _ = k.indices(n)  # type: ignore[union-attr]
                b = max(a, b)
                kept.append(b - a)
            if i < n_outer:
                outer.append(range(a, b))
            else:
                region[self._page_dims[i - n_outer]] = (a, b)
        if PARALLEL_SEGMENTS < sys.maxsize:
            some = next((p for p in self.planes if p is not None), None)
            planes_wanted = math.prod(len(r) for r in outer)
            if some is not None and planes_wanted * len(self._segments(some.codec, region)) > PARALLEL_SEGMENTS:
                return None
        result = np.zeros(kept, dtype=self.dtype)
        if result.size == 0:
            return result
        full = result.reshape([len(r) for r in outer] + [b - a for a, b in region])  # a view: result is new
        stats, planes = self.stats, self.planes
        if all(len(r) == 1 for r in outer):  # one plane (a 2-D patch): no loop over positions
            index = self._plane_base + sum(r.start * n for r, n in zip(outer, self._outer_strides, strict=True))
            plane = planes[index]
            if plane is not None:
                stats.planes_read += 1
                file = self._ref(plane).acquire()
                try:
                    tiles.read_plane(plane, region, full[(0,) * n_outer], stats, file)
                finally:
                    file.unlease()
            return result
        base, strides = self._plane_base, self._outer_strides
        first: Any = None  # the first plane's file, leased once for all the planes in it
        try:
            for position in itertools.product(*outer):
                plane = planes[base + sum(i * n for i, n in zip(position, strides, strict=True))]
                if plane is None:
                    continue  # missing planes are refused at load; zeros if one slips through
                stats.planes_read += 1
                if first is None:
                    first = self._ref(plane).acquire()
                file = first if plane.file == first.key else None  # another file: leased by `read_plane`
                target = tuple(i - r.start for i, r in zip(position, outer, strict=True))
                tiles.read_plane(plane, region, full[target], stats, file)
        finally:
            if first is not None:
                first.unlease()
        return result

    def read_into(self, keys: Sequence[Key], outs: Sequence[np.ndarray]) -> None:
        """A batch of regions, decoding each segment they touch once (see `stackio.batch`)."""
        from .batch import plane_read_into

        plane_read_into(self, keys, outs)

    # -- one plane ----------------------------------------------------------------------

    def _raw_block(self, plane: Plane, region: list[tuple[int, int]], out: np.ndarray | None = None) -> np.ndarray:
        """The region of an uncompressed page, copied (into `out` when given, which takes its shape)."""
        codec = plane.codec
        assert codec.raw_dtype is not None
        block = self._ref(plane).read_array(
            plane.offsets[0], codec.shaped, codec.raw_dtype, tuple(slice(a, b) for a, b in region), out
        )
        self.stats.bytes_read += block.nbytes
        return block

    def _ref(self, plane: Plane) -> FileRef[Any]:
        ref = self._refs.get(plane)
        if ref is None:
            ref = self._refs[plane] = self._refs_by_file.setdefault(plane.file, FileRef(plane.file))
        return ref

    @staticmethod
    def _segments(codec: Codec, region: list[tuple[int, int]]) -> list[int]:
        (s0, s1), (d0, d1), (y0, y1), (x0, x1), _ = region
        sd, sy, sx = codec.segment
        if codec.tiled:
            ds = range(d0 // sd, (d1 - 1) // sd + 1)
            xs = range(x0 // sx, (x1 - 1) // sx + 1)
        else:
            ds = range(d0, d1)
            xs = range(1)
        ys = range(y0 // sy, (y1 - 1) // sy + 1)
        return [codec.segment_index(s, d, y, x) for s in range(s0, s1) for d in ds for y in ys for x in xs]

    def _decode(self, plane: Plane, index: int) -> tuple[np.ndarray | float, tuple[int, ...]]:
        codec = plane.codec
        offset, count = plane.offsets[index], plane.counts[index]
        origin = (*tiles.origin(codec, index), 0)
        if offset == 0 or count == 0:
            return codec.nodata, origin
        sd, sy, sx = codec.segment
        ensure_segment_fits(
            sd * sy * sx * codec.shaped[4] * self.dtype.itemsize,
            plane.file.path,
            f"one {'tile' if codec.tiled else 'strip'} of {sy}x{sx} pixels",
            "re-save it with smaller tiles, e.g. tifffile.imwrite(path, data, tile=(512, 512), compression=...)",
        )
        data = self._ref(plane).read_bytes(offset, count)
        decoded = tiles.decode(codec, data, index, plane.jpegtables)
        self.stats.segments_decoded += 1
        self.stats.bytes_read += count
        return decoded, origin

    @staticmethod
    def _place(
        out: np.ndarray,
        data: np.ndarray | float,
        origin: tuple[int, ...],
        region: list[tuple[int, int]],
        codec: Codec,
    ) -> None:
        # one segment's overlap with the region, per dimension written out: this runs once per tile
        # or strip, where a loop over the dimensions costs as much as the copy
        s, d, y, x, _ = origin
        if isinstance(data, np.ndarray):
            nd, ny, nx = data.shape[:3]
        else:
            nd, ny, nx = codec.segment
            if not codec.tiled:
                nx = codec.shaped[3]
        (s0, s1), (d0, d1), (y0, y1), (x0, x1), (c0, c1) = region
        lo_s, hi_s = max(s0, s), min(s1, s + 1)
        lo_d, hi_d = max(d0, d), min(d1, d + nd)
        lo_y, hi_y = max(y0, y), min(y1, y + ny)
        lo_x, hi_x = max(x0, x), min(x1, x + nx)
        if lo_s >= hi_s or lo_d >= hi_d or lo_y >= hi_y or lo_x >= hi_x:
            return
        dst = (
            slice(lo_s - s0, hi_s - s0),
            slice(lo_d - d0, hi_d - d0),
            slice(lo_y - y0, hi_y - y0),
            slice(lo_x - x0, hi_x - x0),
            slice(None),
        )
        if isinstance(data, np.ndarray):
            out[dst] = data[lo_d - d : hi_d - d, lo_y - y : hi_y - y, lo_x - x : hi_x - x, c0:c1]
        else:
            out[dst] = data

    def close(self) -> None:
        for path in {p.file.path for p in self.planes if p is not None}:
            POOL.forget(path)
