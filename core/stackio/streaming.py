"""`stackio.create`: a destination filled patch by patch (e.g. a network's predictions), from any thread."""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from .axes import Layout
from .destination import Destination
from .errors import PatchBoundsError, StackioError, ValidationError, WriteError
from .metadata import Metadata
from .registry import get_registry
from .saving import block_shape, choose_writer, levels_for, merged_metadata, open_writer
from .writing import DatasetWriter, ImageSpec, ImageWriter, WriteRequest, disk_axes_for


class StreamWriter:
    """An image being written patch by patch; appears at its destination on `close()`.

    `write_patch(sample_idx, coords, block)` takes a C(Z)YX block (all channels) of one sample at
    spatial `coords`, like `ImageStack.extract_patch` returns; calls from several threads are
    safe (writes to the same chunk are serialised). Use it as a context manager: leaving the block
    with an exception discards everything written.
    """

    def __init__(self, target: Destination, spec: ImageSpec, writer: DatasetWriter) -> None:
        self._target = target
        self.spec = spec
        self._writer = writer
        self._image: ImageWriter = writer.images[0]
        self._state = threading.Lock()
        self._unit_locks: dict[tuple[int, ...], threading.Lock] = {}
        self._active = 0
        self._idle = threading.Condition(self._state)
        self.closed = False

    @property
    def path(self) -> Path:
        return self._target.path

    @property
    def shape(self) -> tuple[int, ...]:
        return self.spec.shape

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"StreamWriter({str(self.path)!r}, {self.spec.axes} {self.spec.shape} {self.spec.dtype}, {state})"

    # -- writing ----------------------------------------------------------------------------

    def _check(self, sample_idx: int, coords: Sequence[int], block: Any) -> np.ndarray:
        where = str(self.path)
        shape, spatial = self.spec.shape, self.spec.shape[2:]
        if not isinstance(sample_idx, (int, np.integer)) or not 0 <= sample_idx < shape[0]:
            raise PatchBoundsError(
                f"{where}: sample_idx {sample_idx!r} is outside 0..{shape[0] - 1} ({self.spec.axes} {shape})",
                source=where,
            )
        block = np.asarray(block)
        if block.ndim != len(shape) - 1 or block.shape[0] != shape[1]:
            raise ValidationError(
                f"{where}: a block must be C(Z)YX with all {shape[1]} channel(s), i.e. {len(shape) - 1} dimensions "
                f"with {shape[1]} first; got shape {block.shape}",
                source=where,
            )
        if len(coords) != len(spatial):
            raise ValidationError(
                f"{where}: coords {tuple(coords)} need {len(spatial)} values ({self.spec.axes[2:]})", source=where
            )
        for c, n, size, axis in zip(coords, block.shape[1:], spatial, self.spec.axes[2:], strict=True):
            if c < 0 or c + n > size:
                raise PatchBoundsError(
                    f"{where}: a block of shape {block.shape} at {tuple(coords)} reaches {axis} {c}..{c + n} but "
                    f"the image has {axis} 0..{size} ({self.spec.axes} {shape}); crop the block to the image",
                    source=where,
                )
        if not np.can_cast(block.dtype, self.spec.dtype, "same_kind"):
            raise ValidationError(
                f"{where}: a {block.dtype} block cannot be stored in this {self.spec.dtype} image without changing "
                f"its values; cast it yourself (e.g. block.astype({str(self.spec.dtype)!r}))",
                source=where,
            )
        return block.astype(self.spec.dtype, copy=False)

    def _locks(self, coords: Sequence[int], block_shape: Sequence[int]) -> list[threading.Lock]:
        units = self._image.units
        if units is None:
            return []
        spans = [
            range(c // u, (c + n - 1) // u + 1) for c, n, u in zip(coords, block_shape[1:], units[2:], strict=True)
        ]
        with self._state:
            return [self._unit_locks.setdefault(key, threading.Lock()) for key in itertools.product(*spans)]

    def write_patch(self, sample_idx: int, coords: Sequence[int], block: Any) -> None:
        """Write one C(Z)YX block of sample `sample_idx` at spatial `coords`."""
        data = self._check(sample_idx, tuple(int(c) for c in coords), block)
        with self._state:
            if self.closed:
                raise WriteError(f"{self.path}: the writer is closed; create a new one to write more", source=None)
            self._active += 1
        try:
            locks = self._locks(coords, data.shape)  # sorted by unit index, so two writers never deadlock
            for lock in locks:
                lock.acquire()
            try:
                self._image.write(int(sample_idx), tuple(int(c) for c in coords), data)
            finally:
                for lock in reversed(locks):
                    lock.release()
        finally:
            with self._state:
                self._active -= 1
                self._idle.notify_all()

    # -- finishing ----------------------------------------------------------------------------

    def _stop(self) -> bool:
        with self._state:
            if self.closed:
                return False
            self.closed = True
            while self._active:
                self._idle.wait()
            return True

    def close(self) -> Path:
        """Finish the image (pyramids, metadata) and move it into place; returns its path."""
        if not self._stop():
            return self.path
        try:
            self._writer.finish(None)
            self._target.commit()
        except BaseException as exc:
            self._target.discard()
            if isinstance(exc, StackioError):
                raise
            raise WriteError(
                f"{self.path}: finishing failed ({type(exc).__name__}: {exc}); nothing was written there",
                source=str(self.path),
            ) from exc
        return self.path

    def abort(self) -> None:
        """Discard everything written; the destination is left as it was."""
        if self._stop():
            self._target.discard()

    def __enter__(self) -> StreamWriter:
        return self

    def __exit__(self, kind: object, *rest: object) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def create(
    dest: str | os.PathLike[str],
    shape: Sequence[int],
    dtype: Any,
    axes: str,
    *,
    metadata: Metadata | Mapping[str, Any] | None = None,
    chunks: Sequence[int] | None = None,
    shards: Sequence[int] | None = None,
    pyramid: int | str = 1,
    labels: bool = False,
    format: str | None = None,
    overwrite: bool = False,
    **options: Any,
) -> StreamWriter:
    """Start an image of `shape` (with `axes`, e.g. "SCZYX" or "ZYX") and `dtype` to fill patch by patch.

    Patches address it as a stack: `write_patch(sample_idx, coords, block)` with `coords` and the
    C(Z)YX `block` in SC(Z)YX terms of `Layout.from_axes(axes, shape)`. Regions never written hold
    0. Routing, options and safety are those of `stackio.save`.
    """
    target = Destination(dest, overwrite=overwrite)
    registry = get_registry()
    entry = choose_writer(registry, target.path, format)
    layout = Layout.from_axes(axes, tuple(int(n) for n in shape), source=str(target.path))
    if layout.axes not in ("SCYX", "SCZYX"):
        raise ValidationError(f"{target.path}: axes {axes!r} give {layout.axes}; use Z as the depth axis")
    try:
        dtype = np.dtype(dtype)
    except TypeError as exc:
        raise ValidationError(f"{target.path}: {dtype!r} is not a numpy dtype", source=str(target.path)) from exc
    stack_shape = layout.shape
    spec = ImageSpec(
        shape=stack_shape,
        dtype=dtype,
        axes=layout.axes,
        disk_axes=disk_axes_for(layout.axes, stack_shape, layout.original_axes),
        metadata=merged_metadata(None, metadata),
        chunks=block_shape(chunks, stack_shape, "chunks", target.path),
        shards=block_shape(shards, stack_shape, "shards", target.path),
        levels=levels_for(pyramid, stack_shape[2:], target.path),
        labels=labels,
    )
    if labels and dtype.kind not in "iu":
        raise ValidationError(f"{target.path}: a label image holds integer ids, not {dtype}", source=str(target.path))
    try:
        writer = open_writer(registry, entry, WriteRequest(target.partial, target.path, (spec,), dict(options)))
    except BaseException:
        target.discard()
        raise
    return StreamWriter(target, attrs.evolve(spec), writer)
