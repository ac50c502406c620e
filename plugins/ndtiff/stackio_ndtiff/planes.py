"""Reading NDTiff pixels: each image is a region of its stack file, tiles are laid out on demand.

Stack files are read through the core's bounded pool of open files (`stackio.openfiles`), which
checks before each read that a file has not shrunk since the dataset was loaded.

`Plan` is everything a reader needs (picklable, built once at load); `PlaneReader`
is the array-like `LazyStack` reads patches from, in the plan's original axes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
from stackio.openfiles import POOL, FileKey, FileRef


@attrs.frozen
class Mosaic:
    """Where tiles go in a stitched plane.

    Tile (i, j) of the table's row/column grid covers canvas pixels
    [i*step_y, (i+1)*step_y) x [j*step_x, (j+1)*step_x) and shows its own pixels from
    (crop_y, crop_x); the plane is the canvas window starting at (origin_y, origin_x).
    """

    step_y: int
    step_x: int
    crop_y: int
    crop_x: int
    origin_y: int
    origin_x: int
    height: int
    width: int


#: Image tables up to this many cells, or this many cells per image, are dense arrays; larger ones
#: (e.g. a tile grid whose rows and columns span far more than the tiles present) are dicts holding
#: only the cells that have an image.
DENSE_TABLE_CELLS = 2**20
DENSE_CELLS_PER_IMAGE = 8


#: How many planes' places in the files a reader keeps (then it starts over).
NUMBERS_KEPT = 4096


def new_table(shape: tuple[int, ...], n_images: int) -> np.ndarray | dict[tuple[int, ...], int]:
    """An empty image table: dense (-1 everywhere) unless that would be far larger than the images."""
    cells = math.prod(shape)
    if cells <= max(DENSE_TABLE_CELLS, DENSE_CELLS_PER_IMAGE * n_images):
        return np.full(shape, -1, dtype=np.int32)
    return {}


@attrs.frozen(eq=False)
class Plan:
    """A loaded NDTiff selection, ready to read: the image table and where each image is."""

    #: The level's folder, absolute (a relative path would follow `os.chdir` and workers started elsewhere).
    folder: str
    filenames: tuple[str, ...]
    #: Per file of `filenames`: the file as it was at load (reads refuse it once it shrank).
    files: tuple[FileKey, ...]
    #: Image number per table cell, -1 where the dataset has no image; or (sparse) a dict from the
    #: cells that have an image to its number.
    table: np.ndarray | dict[tuple[int, ...], int]
    #: The table's dimensions (table axes: samples, channel, depth, then row and column when stitched).
    table_shape: tuple[int, ...]
    #: Per image number: index into `filenames`, and byte offset of its pixels.
    file_of: np.ndarray
    offset_of: np.ndarray
    image_height: int
    image_width: int
    dtype: str
    samples_per_pixel: int
    #: Per original axis before Y, X: the table dimension it indexes (-1: none, a singleton).
    table_dims: tuple[int, ...]
    #: Position of C among the original axes, and whether C indexes a table dimension.
    channel_axis: int
    shape: tuple[int, ...]
    mosaic: Mosaic | None = None
    #: Whether `table` is a dict (sparse).
    sparse: bool = attrs.field(init=False)

    @sparse.default
    def _sparse(self) -> bool:
        return isinstance(self.table, dict)

    def __call__(self) -> PlaneReader:
        return PlaneReader(self)


def _indices(key: Any, size: int, axis: int) -> tuple[list[int], bool]:
    """The indices a key element selects along an axis, and whether it drops the axis."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        k = int(key)
        if not -size <= k < size:
            raise IndexError(f"index {k} is out of bounds for axis {axis} with size {size}")
        return [k % size], True
    if isinstance(key, slice):
        return list(range(*key.indices(size))), False
    raise TypeError(f"only integers and slices index an NDTiff stack, not {type(key).__name__}")


class PlaneReader:
    """Array-like over a `Plan`: `reader[key]` with ints and slices, in the plan's original axes.

    A read copies only the images (and, stitched, only the tiles) the requested region touches,
    leasing each stack file from the core's pool for the copy.
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.shape = plan.shape
        self.ndim = len(plan.shape)
        self.dtype = np.dtype(plan.dtype)
        #: How many image regions were copied, and which stack files were read (for tests of laziness).
        self.images_read = 0
        self._files_read: set[int] = set()
        if plan.samples_per_pixel == 1:
            self._image_shape: tuple[int, ...] = (plan.image_height, plan.image_width)
        else:
            self._image_shape = (plan.image_height, plan.image_width, plan.samples_per_pixel)
        #: What per-image metadata reads keep while the reader is open (see `image_meta`).
        self.cache: dict[str, Any] = {}
        #: The stack file, byte offset and colour component of the planes read lately (finding them costs
        #: more than copying a patch), by their index along each axis before Y and X (see `_place`).
        self._places: dict[tuple[int, ...], tuple[int, int, int]] = {}
        #: Per stack file, its way to the core's pool (made on the first read of that file).
        self._refs: list[FileRef[Any] | None] = [None] * len(plan.files)
        #: The sizes of the axes before Y and X, where a plane is one image (None: stitched from tiles).
        self._outer: tuple[int, ...] | None = plan.shape[:-2] if plan.mosaic is None else None
        self._grey = plan.samples_per_pixel == 1

    # -- files ------------------------------------------------------------------------

    @property
    def files_opened(self) -> int:
        """How many of the dataset's stack files this reader has read from."""
        return len(self._files_read)

    def _ref(self, file_index: int) -> FileRef[Any]:
        """The way to a stack file through the pool, made on its first read."""
        ref = self._refs[file_index]
        if ref is None:
            self._files_read.add(file_index)
            ref = self._refs[file_index] = FileRef(self.plan.files[file_index])
        return ref

    def read_image(self, number: int, key: tuple[Any, ...], out: np.ndarray) -> None:
        """`image[key]` of one image, (H, W) or (H, W, samples), copied into `out`."""
        plan = self.plan
        file_index = int(plan.file_of[number])
        ref = self._refs[file_index] or self._ref(file_index)
        ref.read_array(int(plan.offset_of[number]), self._image_shape, self.dtype, key, out)

    def image(self, number: int) -> np.ndarray:
        """One image's pixels, (H, W) or (H, W, 3), as a new array."""
        out = np.empty(self._image_shape, self.dtype)
        self.read_image(number, (), out)
        return out

    def metadata_bytes(self, file_index: int, offset: int, length: int) -> bytes:
        """An image's metadata bytes, from its stack file."""
        if offset < 0:
            raise ValueError(f"{self.plan.filenames[file_index]}: image metadata lies before the start of the file")
        file = POOL.acquire(self.plan.files[file_index])
        try:
            return file.read_bytes(offset, length)
        finally:
            POOL.release(file)

    def image_numbers(self, values: list[int]) -> list[tuple[tuple[int, ...], int]]:
        """The table cell and image number of each image at `values` (one per non-spatial axis):
        one image, none (a gap), or the tiles of a stitched plane present, row by row."""
        plan = self.plan
        key = self._cell(values)[0]
        if plan.mosaic is None:
            number = plan.table.get(key, -1) if plan.sparse else int(plan.table[key])  # type: ignore[union-attr]
            return [(key, number)] if number >= 0 else []
        rows, columns = plan.table_shape[-2:]
        found = []
        for i in range(rows):
            for j in range(columns):
                cell = (*key, i, j)
                number = plan.table.get(cell, -1) if plan.sparse else int(plan.table[cell])  # type: ignore[union-attr]
                if number >= 0:
                    found.append((cell, number))
        return found

    def _cell(self, values: list[int]) -> tuple[tuple[int, ...], int]:
        """The table cell (without row and column when stitched) and RGB component of a plane
        (as `_fill` computes them inline, on the patch path)."""
        plan = self.plan
        n_cells = len(plan.table_shape) - (2 if plan.mosaic is not None else 0)
        cell: list[int] = [0] * n_cells
        component = 0
        for axis, (value, dim) in enumerate(zip(values, plan.table_dims, strict=True)):
            if axis == plan.channel_axis:
                component = value % plan.samples_per_pixel
                value //= plan.samples_per_pixel
            if dim >= 0:
                cell[dim] = value
        return tuple(cell), component

    def close(self) -> None:
        self.cache = {}
        for key in self.plan.files:
            POOL.forget(key.path)

    # -- reading ----------------------------------------------------------------------

    def __getitem__(self, key: Any) -> np.ndarray:
        # The core's patch request of one plane (ints, or slices one long, before Y and X) with the fewest
        # steps, as this runs once per patch: the window of Y and X is numpy's to cut from the image.
        outer = self._outer
        if outer is not None and type(key) is tuple and len(key) == self.ndim:
            ky = key[-2]
            kx = key[-1]
            if type(ky) is slice and type(kx) is slice:
                plane: list[int] = []  # the plane's index along each axis before Y and X
                kept = 0  # axes before Y and X the key keeps (one long each)
                i = 0
                for k in key[:-2]:
                    n = outer[i]
                    i += 1
                    if type(k) is int:
                        if not 0 <= k < n:
                            break
                        plane.append(k)
                    elif type(k) is slice:
                        start, stop, step = k.indices(n)
                        if stop - start != 1 or step != 1:
                            break
                        plane.append(start)
                        kept += 1
                    else:
                        break
                else:
                    at = tuple(plane)
                    file_index, offset, component = self._places.get(at) or self._place(at)
                    if file_index < 0:  # an image missing from the dataset reads as zeros
                        h, w = self.shape[-2:]
                        window = (len(range(*ky.indices(h))), len(range(*kx.indices(w))))
                        return np.zeros((1,) * kept + window, dtype=self.dtype)
                    ref = self._refs[file_index] or self._ref(file_index)
                    out = ref.read_array(
                        offset, self._image_shape, self.dtype, (ky, kx) if self._grey else (ky, kx, component)
                    )
                    if kept:  # a new array of the window's pixels: ones in front cost no copy
                        out.shape = (1,) * kept + out.shape
                    self.images_read += 1
                    return out
        planes = self._several_planes(key)
        if planes is not None:
            return planes
        if not isinstance(key, tuple):
            key = (key,)
        if any(k is Ellipsis for k in key):
            at = key.index(Ellipsis)
            key = key[:at] + (slice(None),) * (self.ndim - len(key) + 1) + key[at + 1 :]
        if len(key) > self.ndim:
            raise IndexError(f"too many indices: {len(key)} for {self.ndim} axes")
        key = key + (slice(None),) * (self.ndim - len(key))
        ky, kx = key[-2], key[-1]
        if isinstance(ky, slice) and isinstance(kx, slice) and ky.step in (None, 1) and kx.step in (None, 1):
            return self._read_window(key)
        picks = [_indices(k, n, i) for i, (k, n) in enumerate(zip(key, self.shape, strict=True))]
        lists = [p[0] for p in picks]
        out = np.zeros([len(values) for values in lists], dtype=self.dtype)
        ys, xs = lists[-2], lists[-1]
        if out.size:
            y0, y1, x0, x1 = min(ys), max(ys) + 1, min(xs), max(xs) + 1
            contiguous = ys == list(range(y0, y1)) and xs == list(range(x0, x1))
            for combo in itertools.product(*(list(enumerate(v)) for v in lists[:-2])):
                where = tuple(i for i, _ in combo)
                target = out[where]
                if contiguous:
                    self._fill(target, [v for _, v in combo], y0, y1, x0, x1)
                else:
                    block = np.zeros((y1 - y0, x1 - x0), dtype=self.dtype)
                    self._fill(block, [v for _, v in combo], y0, y1, x0, x1)
                    target[...] = block[np.ix_([y - y0 for y in ys], [x - x0 for x in xs])]
        drop = tuple(0 if p[1] else slice(None) for p in picks)
        return out[drop]

    def read_into(self, keys: Sequence[tuple[Any, ...]], outs: Sequence[np.ndarray]) -> None:
        """A batch of regions (see `stackio.batch`): each image's window copied straight into its output,
        each stack file leased and checked once for the whole batch."""
        plan = self.plan
        if plan.mosaic is not None:
            self._read_tiles_into(keys, outs)
            return
        by_file: dict[int, list[tuple[int, tuple[Any, ...], np.ndarray]]] = {}
        places = self._places
        grey = plan.samples_per_pixel == 1
        for key, out in zip(keys, outs, strict=True):
            outer = key[:-2]
            window = key[-2:]
            where: list[int] = []
            for k in outer:  # the common patch: one plane (ints, or slices one long)
                if type(k) is int:
                    where.append(k)
                elif k.stop - k.start == 1:
                    where.append(k.start)
                else:
                    break
            else:
                place = places.get(tuple(where)) or self._place(tuple(where))
                if place[0] < 0:
                    out.fill(0)  # an image missing from the dataset reads as zeros
                else:  # out is the window's shape with ones in front: the copy broadcasts into it
                    reads = by_file.setdefault(place[0], [])
                    reads.append((place[1], window if grey else (*window, place[2]), out))
                continue
            picks: list[Sequence[int]] = []
            kept: list[tuple[int, int]] = []  # (axis, start) of each outer axis the region keeps
            for axis, k in enumerate(outer):
                if type(k) is slice:
                    kept.append((axis, k.start))
                    picks.append(range(k.start, k.stop))
                else:
                    picks.append((k,))
            for at in itertools.product(*picks):
                place = places.get(at) or self._place(at)
                target = out[tuple([at[axis] - a for axis, a in kept])]
                if place[0] < 0:
                    target.fill(0)  # an image missing from the dataset reads as zeros
                    continue
                reads = by_file.setdefault(place[0], [])
                reads.append((place[1], window if grey else (*window, place[2]), target))
        for file_index, reads in by_file.items():
            file = (self._refs[file_index] or self._ref(file_index)).acquire()
            try:
                file.read_arrays(self._image_shape, self.dtype, reads)
            finally:
                file.unlease()
            self.images_read += len(reads)

    def _read_tiles_into(self, keys: Sequence[tuple[Any, ...]], outs: Sequence[np.ndarray]) -> None:
        """A batch of regions of a stitched dataset: each plane's tiles laid out as `__getitem__` does."""
        for key, out in zip(keys, outs, strict=True):
            *outer, ky, kx = key
            picks = [range(k.start, k.stop) if isinstance(k, slice) else range(k, k + 1) for k in outer]
            kept = [isinstance(k, slice) for k in outer]
            for combo in itertools.product(*(enumerate(r) for r in picks)):
                target = out[tuple(i for (i, _), keep in zip(combo, kept, strict=True) if keep)]
                target.fill(0)  # gaps between tiles read as zeros
                self._fill(target, [v for _, v in combo], ky.start, ky.stop, kx.start, kx.stop)

    def _place(self, where: tuple[int, ...]) -> tuple[int, int, int]:
        """The stack file (index into `plan.files`, -1 when the image is missing), byte offset and colour
        component of the plane at `where` (one index per axis before Y and X), kept for later batches."""
        if len(self._places) >= NUMBERS_KEPT:
            self._places.clear()
        number, component = self._image_number(list(where))
        if number < 0:
            place = (-1, 0, 0)
        else:
            place = (int(self.plan.file_of[number]), int(self.plan.offset_of[number]), component)
        self._places[where] = place
        return place

    def _image_number(self, values: list[int]) -> tuple[int, int]:
        """The image holding the plane at `values` (-1 when missing), and its colour component."""
        plan = self.plan
        cell = [0] * len(plan.table_shape)
        component = 0
        for axis, (value, dim) in enumerate(zip(values, plan.table_dims, strict=True)):
            if axis == plan.channel_axis:
                component = value % plan.samples_per_pixel
                value //= plan.samples_per_pixel
            if dim >= 0:
                cell[dim] = value
        table = plan.table
        if isinstance(table, dict):
            return table.get(tuple(cell), -1), component
        return int(table[tuple(cell)]), component

    def _several_planes(self, key: Any) -> np.ndarray | None:
        """The core's patch request over several planes (an int or a unit-step slice per axis before Y
        and X, plain slices for Y and X, no stitching): each stack file leased and checked once, as in a
        batch, each plane's window copied straight into the result. None for any other key, which the
        general path reads."""
        plan = self.plan
        if type(key) is not tuple or len(key) != self.ndim or plan.mosaic is not None:
            return None
        ky, kx = key[-2], key[-1]
        if type(ky) is not slice or type(kx) is not slice or ky.step is not None or kx.step is not None:
            return None
        # plain loops and comparisons: this runs once per patch, where zip() and slice.indices() cost more
        # than the copy
        shape = self.shape
        where: list[int] = []  # the first plane
        out_shape: list[int] = []  # the axes before Y and X the key keeps
        planes = 1
        i = 0
        for k in key[:-2]:
            n = shape[i]
            i += 1
            if type(k) is int:
                if k < 0 or k >= n:
                    return None
                where.append(k)
                continue
            if type(k) is not slice or k.step is not None:
                return None
            start = 0 if k.start is None else k.start
            stop = n if k.stop is None else k.stop
            if type(start) is not int or type(stop) is not int or not 0 <= start < stop <= n:
                return None
            where.append(start)
            out_shape.append(stop - start)
            planes *= stop - start
        y0, y1, x0, x1 = ky.start, ky.stop, kx.start, kx.stop
        if not (
            type(y0) is int
            and type(y1) is int
            and type(x0) is int
            and type(x1) is int
            and 0 <= y0 <= y1 <= shape[-2]
            and 0 <= x0 <= x1 <= shape[-1]
        ):
            return None
        out_shape += (y1 - y0, x1 - x0)
        if planes == 1:  # one plane: `__getitem__` reads what it takes itself
            return None
        out = np.empty(out_shape, dtype=self.dtype)
        explicit: list[int | slice] = []
        kept = 0
        for k, first in zip(key[:-2], where, strict=True):
            if type(k) is int:
                explicit.append(k)
            else:
                explicit.append(slice(first, first + out_shape[kept]))
                kept += 1
        self.read_into([(*explicit, slice(y0, y1), slice(x0, x1))], [out])
        return out

    def _read_window(self, key: tuple[Any, ...]) -> np.ndarray:
        """The common request (a patch): a plain window in Y and X, no per-pixel index lists."""
        y0, y1, _ = key[-2].indices(self.shape[-2])
        x0, x1, _ = key[-1].indices(self.shape[-1])
        y1, x1 = max(y0, y1), max(x0, x1)
        picks = [_indices(k, n, i) for i, (k, n) in enumerate(zip(key[:-2], self.shape[:-2], strict=True))]
        lists = [p[0] for p in picks]
        out = np.zeros([*(len(values) for values in lists), y1 - y0, x1 - x0], dtype=self.dtype)
        if out.size:
            if all(len(values) == 1 for values in lists):
                self._fill(out.reshape(y1 - y0, x1 - x0), [values[0] for values in lists], y0, y1, x0, x1)
            else:
                for combo in itertools.product(*(list(enumerate(v)) for v in lists)):
                    self._fill(out[tuple(i for i, _ in combo)], [v for _, v in combo], y0, y1, x0, x1)
        drop = tuple(0 if p[1] else slice(None) for p in picks)
        return out[drop] if drop else out

    def _fill(self, target: np.ndarray, values: list[int], y0: int, y1: int, x0: int, x1: int) -> None:
        """Write the plane at `values` (one per non-spatial axis), rows y0:y1, columns x0:x1, into target."""
        plan = self.plan
        n_cells = len(plan.table_shape) - (2 if plan.mosaic is not None else 0)
        cell: list[int] = [0] * n_cells
        component = 0
        for axis, (value, dim) in enumerate(zip(values, plan.table_dims, strict=True)):
            if axis == plan.channel_axis:
                component = value % plan.samples_per_pixel
                value //= plan.samples_per_pixel
            if dim >= 0:
                cell[dim] = value
        key = tuple(cell)
        table = plan.table
        if plan.mosaic is None:
            number = table.get(key, -1) if isinstance(table, dict) else int(table[key])
            if number >= 0:
                self._copy(target, number, component, y0, y1, x0, x1)
            return
        mosaic = plan.mosaic
        cy0, cy1 = y0 + mosaic.origin_y, y1 + mosaic.origin_y
        cx0, cx1 = x0 + mosaic.origin_x, x1 + mosaic.origin_x
        rows, columns = plan.table_shape[-2:]
        for i in range(max(cy0 // mosaic.step_y, 0), min((cy1 - 1) // mosaic.step_y + 1, rows)):
            ty0, ty1 = max(cy0, i * mosaic.step_y), min(cy1, (i + 1) * mosaic.step_y)
            for j in range(max(cx0 // mosaic.step_x, 0), min((cx1 - 1) // mosaic.step_x + 1, columns)):
                cell_ij = (*key, i, j)
                number = table.get(cell_ij, -1) if isinstance(table, dict) else int(table[cell_ij])
                if number < 0:
                    continue
                tx0, tx1 = max(cx0, j * mosaic.step_x), min(cx1, (j + 1) * mosaic.step_x)
                sub = target[ty0 - cy0 : ty1 - cy0, tx0 - cx0 : tx1 - cx0]
                iy = ty0 - i * mosaic.step_y + mosaic.crop_y
                ix = tx0 - j * mosaic.step_x + mosaic.crop_x
                self._copy(sub, number, component, iy, iy + ty1 - ty0, ix, ix + tx1 - tx0)

    def _copy(self, target: np.ndarray, number: int, component: int, y0: int, y1: int, x0: int, x1: int) -> None:
        if self.plan.samples_per_pixel == 1:
            self.read_image(number, (slice(y0, y1), slice(x0, x1)), target)
        else:
            self.read_image(number, (slice(y0, y1), slice(x0, x1), component), target)
        self.images_read += 1
