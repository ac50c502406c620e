"""pylibCZIrw's ROI read with its per-call Python done once per open reader.

`CziReader.read` rebuilds on every call what does not change between calls of one stack: it asks libCZI
for the size of each of the eight plane dimensions, formats the pixel type and background, and copies
the composed bitmap once just to look at its shape. For a small patch that Python costs more than
libCZI's composition. `RoiReader` makes those arguments once and calls the same libCZI accessor
`read` calls, with the same arguments; the plane string is the one `read` would build (the dimensions
the file uses with a size above 1, in pylibCZIrw's order, missing ones at 0). On a pylibCZIrw without
that accessor, or whose accessor takes other arguments, it calls the public `read` instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .sigpipe import keep_sigpipe_ignored

Roi = tuple[int, int, int, int]  # x, y, w, h in the file's pixel coordinates


class RoiReader:
    """Reads ROIs of one pylibCZIrw `CziReader` as one pixel type, scene and background colour."""

    def __init__(
        self,
        reader: Any,
        pixel_type: str,
        scene: int | None,
        background: tuple[float, float, float],
        remote: bool = False,
    ) -> None:
        self.reader = reader
        #: Whether `reader` reads a URL through libcurl (see `remote.keep_sigpipe_ignored`).
        self.remote = remote
        self.pixel_type, self.scene, self.background = pixel_type, scene, background
        self._access: Any = None
        low = getattr(reader, "_czi_reader", None)
        access = getattr(low, "GetSingleChannelScalingTileAccessorData", None)
        try:
            import _pylibCZIrw as native  # type: ignore[import-not-found]  # pylibCZIrw's compiled module
        except ImportError:
            native = None
        if low is None or access is None or native is None or not _has_helpers(reader, native):
            return
        self._native = native
        self._dims = tuple(
            dim
            for dim, index in reader.CZI_DIMS.items()
            if low.GetDimensionSize(native.DimensionIndex(index)) > 1  # what `read` keeps of a plane
        )
        self._pixel = reader._format_pixel_type(pixel_type)
        colour = native.RgbFloatColor()
        colour.r, colour.g, colour.b = background
        self._colour = colour
        self._scene = "" if scene is None else str(scene)
        self._access = access

    def read(self, roi: Roi, plane: Mapping[str, int]) -> np.ndarray:
        """The composed ROI as (h, w, samples), as `CziReader.read(roi=roi, plane=plane, ...)` gives it."""
        if not self.remote:
            return self._read(roi, plane)
        try:
            return self._read(roi, plane)
        finally:
            keep_sigpipe_ignored()  # libcurl resets it on every transfer

    def _read(self, roi: Roi, plane: Mapping[str, int]) -> np.ndarray:
        access = self._access
        if access is None:
            return np.asarray(
                self.reader.read(
                    roi=roi,
                    plane=dict(plane),
                    scene=self.scene,
                    pixel_type=self.pixel_type,
                    background_pixel=self.background,
                )
            )
        rect = self._native.IntRect()
        rect.x, rect.y, rect.w, rect.h = roi
        coordinates = " ".join([f"{dim}{plane.get(dim, 0)}" for dim in self._dims])
        try:
            bitmap = np.asarray(access(self._pixel, rect, self._colour, 1.0, coordinates, self._scene))
        except TypeError:  # a pylibCZIrw whose accessor takes other arguments: its public read from now on
            self._access = None
            return self._read(roi, plane)
        if bitmap.ndim != 3:  # what `read` refuses too
            raise ValueError(f"libCZI returned a bitmap of shape {bitmap.shape}, not (height, width, samples)")
        return bitmap


def _has_helpers(reader: Any, native: Any) -> bool:
    """Whether this pylibCZIrw has the pieces `RoiReader` builds its arguments with."""
    return (
        isinstance(getattr(reader, "CZI_DIMS", None), dict)
        and callable(getattr(reader, "_format_pixel_type", None))
        and all(hasattr(native, name) for name in ("IntRect", "RgbFloatColor", "DimensionIndex"))
    )
