"""The numpy-indexable view of one CZI scene that a `LazyStack` reads patches from."""

from __future__ import annotations

import functools
import itertools
import os
import threading
import weakref
from typing import Any

import attrs
import numpy as np
from stackio.openfiles import POOL, FileRef, Pooled

from .files import Rect, open_reader
from .pixels import GRAY, RGB
from .remote import is_url
from .roi import RoiReader


@attrs.frozen
class CziPlan:
    """Everything needed to read one scene as an array in `original_axes`; picklable."""

    path: str
    scene: int | None
    rect: Rect
    #: (letter, start, size) of each non-C, non-YX original axis, in original order.
    plane_dims: tuple[tuple[str, int, int], ...]
    channel_start: int
    n_czi_channels: int
    pixel_type: str
    rgb: bool
    background: float
    cache_mb: float = 0.0

    @property
    def original_axes(self) -> str:
        return "".join(d for d, _, _ in self.plane_dims) + "CYX"

    @property
    def shape(self) -> tuple[int, ...]:
        channels = self.n_czi_channels * (3 if self.rgb else 1)
        return (*(n for _, _, n in self.plane_dims), channels, self.rect[3], self.rect[2])

    @property
    def dtype(self) -> np.dtype:
        return np.dtype((RGB if self.rgb else GRAY)[self.pixel_type])


@attrs.frozen
class CziOpener:
    """Picklable opener for `LazyStack`: opens the file and gives a `CziArray`."""

    plan: CziPlan

    def __call__(self) -> CziArray:
        return CziArray(self.plan)


def _indices(key: Any, size: int, axis: str) -> tuple[range, bool]:
    """The indices one key entry selects along an axis, and whether the axis is dropped."""
    if isinstance(key, slice):
        return range(*key.indices(size)), False
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        index = int(key) + (size if key < 0 else 0)
        if not 0 <= index < size:
            raise IndexError(f"index {int(key)} is out of bounds for axis {axis} with size {size}")
        return range(index, index + 1), True
    raise TypeError(f"CZI arrays take ints and slices only, not {type(key).__name__} (axis {axis})")


#: Numbers the arrays, so each has a pool key of its own.
_arrays = itertools.count()


class CziHandle(Pooled):
    """The pylibCZIrw reader of one `CziArray`, held in the core's bounded pool of open files
    (`stackio.openfiles`): closed when the pool needs its descriptor, reopened on the next read. Its
    lock serialises reads (a libCZI reader is not thread-safe)."""

    descriptors = 1

    def __init__(self, plan: CziPlan) -> None:
        super().__init__()
        self.reader: Any = open_reader(plan.path, plan.cache_mb)
        self.roi = RoiReader(self.reader, plan.pixel_type, plan.scene, (plan.background,) * 3, is_url(plan.path))
        self.lock = threading.Lock()

    def close(self) -> None:
        with self.lock:
            self.reader.close()


class CziArray:
    """One scene of an open CZI file, indexed like a numpy array in the plan's original axes.

    Each index reads, for every selected plane and channel, the selected Y/X region through
    pylibCZIrw's ROI read, offset by the scene rectangle. RGB channels come out R, G, B.
    """

    def __init__(self, plan: CziPlan) -> None:
        self.plan = plan
        self.axes = plan.original_axes
        self.shape = plan.shape
        self.dtype = plan.dtype
        self.ndim = len(self.shape)
        #: Number of pylibCZIrw `read` calls made, for tests of laziness.
        self.reads = 0
        self._closed = False
        # The pool's key: this array's own reader (its cache is per stack); opened now, so a bad file fails here.
        self._key = (plan.path if is_url(plan.path) else os.path.abspath(plan.path), next(_arrays))
        # the opener holds the plan, not the array: the array must not keep itself alive (its finalizer)
        self._file = FileRef(self._key, functools.partial(CziHandle, plan))
        self._handle().unlease()
        weakref.finalize(self, POOL.discard, self._key)
        #: What per-image metadata reads keep while the file is open (see `image_meta`).
        self.cache: dict[str, Any] = {}

    def close(self) -> None:
        from .image_meta import close_state

        close_state(self.cache)
        self._closed = True
        POOL.discard(self._key)

    def _handle(self) -> CziHandle:
        """The open reader, held for a read until its `unlease()`."""
        return self._file.acquire()

    @property
    def _reader(self) -> Any:
        """The pylibCZIrw reader now in use (for tests and inspection)."""
        handle = self._handle()
        handle.unlease()
        return handle.reader

    def _read(self, roi: Rect, plane: dict[str, int]) -> np.ndarray:
        if self._closed:
            raise ValueError(f"{self.plan.path}: the CZI reader is closed")
        handle = self._handle()
        try:
            with handle.lock:
                self.reads += 1
                return handle.roi.read(roi, plane)
        finally:
            handle.unlease()

    def _read_planes(self, roi: Rect, plane: dict[str, int], channels: range, out: np.ndarray) -> None:
        """Grey channels `channels` of one plane position into `out` (channel, y, x), under one lease."""
        if self._closed:
            raise ValueError(f"{self.plan.path}: the CZI reader is closed")
        handle = self._handle()
        try:
            read = handle.roi.read
            start = self.plan.channel_start
            with handle.lock:
                for k, c in enumerate(channels):
                    plane["C"] = start + c
                    self.reads += 1
                    out[k] = read(roi, plane)[..., 0]
        finally:
            handle.unlease()

    def __getitem__(self, key: Any) -> np.ndarray:
        window = self._window(key)
        if window is not None:
            return window
        if not isinstance(key, tuple):
            key = (key,)
        if len(key) > self.ndim:
            raise IndexError(f"too many indices for a {self.ndim}-d CZI array ({self.axes})")
        key = key + (slice(None),) * (self.ndim - len(key))
        picks = [_indices(k, n, a) for k, n, a in zip(key, self.shape, self.axes, strict=True)]
        out = np.zeros(tuple(len(r) for r, _ in picks), dtype=self.dtype)
        drop = tuple(0 if dropped else slice(None) for _, dropped in picks)
        if out.size == 0:
            return out[drop]
        *plane_picks, (channels, _), (ys, _), (xs, _) = picks
        x0, y0, _, _ = self.plan.rect
        ylo, yhi = (ys[0], ys[-1] + 1) if ys.step > 0 else (ys[-1], ys[0] + 1)
        xlo, xhi = (xs[0], xs[-1] + 1) if xs.step > 0 else (xs[-1], xs[0] + 1)
        roi = (x0 + xlo, y0 + ylo, xhi - xlo, yhi - ylo)
        dense = ys.step == 1 and xs.step == 1
        if not dense:
            rows, cols = np.asarray(ys) - ylo, np.asarray(xs) - xlo
        per = 3 if self.plan.rgb else 1
        wanted: dict[int, list[tuple[int, int]]] = {}  # CZI channel -> [(output position, component)]
        for position, channel in enumerate(channels):
            wanted.setdefault(channel // per, []).append((position, channel % per))
        dims = self.plan.plane_dims
        for combo in itertools.product(*(enumerate(r) for r, _ in plane_picks)):
            plane = {dim: start + index for (dim, start, _), (_, index) in zip(dims, combo, strict=True)}
            where = tuple(position for position, _ in combo)
            for czi_channel, targets in wanted.items():
                plane["C"] = self.plan.channel_start + czi_channel
                tile = self._read(roi, plane)
                if not dense:
                    tile = tile[np.ix_(rows, cols)]
                for position, component in targets:
                    # pylibCZIrw returns colour as B, G, R; component 0 is R.
                    out[(*where, position)] = tile[..., per - 1 - component]
        return out[drop]

    def _window(self, key: Any) -> np.ndarray | None:
        """The core's patch request (an int per plane axis, a unit-step channel range, an in-bounds Y/X
        window) of a grey scene, read into a new array of the result's shape with no index lists (they cost
        more than a small ROI read); None for any other key, which the general path reads."""
        plan = self.plan
        if plan.rgb or type(key) is not tuple or len(key) != self.ndim:
            return None
        plane: dict[str, int] = {}
        i = 0
        for dim, start, size in plan.plane_dims:
            k = key[i]
            i += 1
            if type(k) is not int or k < 0 or k >= size:
                return None
            plane[dim] = start + k
        kc, ky, kx = key[i], key[i + 1], key[i + 2]
        if type(kc) is not slice or type(ky) is not slice or type(kx) is not slice:
            return None
        c0, c1, cstep = kc.indices(plan.n_czi_channels)
        y0, y1, ystep = ky.indices(self.shape[-2])
        x0, x1, xstep = kx.indices(self.shape[-1])
        if cstep != 1 or ystep != 1 or xstep != 1 or c1 <= c0 or y1 <= y0 or x1 <= x0:
            return None
        rx, ry, _, _ = plan.rect
        roi = (rx + x0, ry + y0, x1 - x0, y1 - y0)
        out = np.empty((c1 - c0, y1 - y0, x1 - x0), dtype=self.dtype)
        self._read_planes(roi, plane, range(c0, c1), out)
        return out

    def read_into(self, keys: Any, outs: Any) -> None:
        """A batch of regions, each plane read with as few ROI reads as pays (see `stackio.batch`)."""
        from .batch import read_into

        read_into(self, keys, outs)

    def __repr__(self) -> str:
        return f"<CziArray {self.plan.path!r} scene={self.plan.scene} {self.axes}{self.shape} {self.dtype}>"
