"""`RoiReader` (pylibCZIrw's ROI read with its arguments made once) against pylibCZIrw's public `read`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pylibCZIrw import czi as pyczi
from stackio_czi.roi import RoiReader

ZSTD = "zstd1:ExplicitLevel=1;PreProcess=HiLoByteUnpack"


def _write(path: Path, tiles: list[tuple[np.ndarray, dict[str, int], tuple[int, int], int]], **kw: Any) -> Path:
    with pyczi.create_czi(str(path), exist_ok=True) as writer:
        for array, plane, location, scene in tiles:
            writer.write(array, plane=plane, location=location, scene=scene, **kw)
    return path


@pytest.fixture(scope="module")
def planes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two scenes with T=2, Z=3, C=2 (zstd), the second scene's tiles a mosaic with a gap."""
    rng = np.random.default_rng(7)
    tiles = []
    for t in range(2):
        for z in range(3):
            for c in range(2):
                plane = {"T": t, "Z": z, "C": c}
                tiles.append((rng.integers(1, 65535, (30, 40), dtype=np.uint16), plane, (10, 20), 0))
                tiles.append((rng.integers(1, 65535, (25, 35), dtype=np.uint16), plane, (500, 80), 1))
                tiles.append((rng.integers(1, 65535, (25, 35), dtype=np.uint16), plane, (550, 90), 1))
    return _write(tmp_path_factory.mktemp("roi") / "planes.czi", tiles, compression_options=ZSTD)


def _both(path: Path, pixel_type: str, scene: int | None, background: float) -> tuple[Any, RoiReader, Any]:
    reader = pyczi.CziReader(str(path))
    colour = (background,) * 3
    public = lambda roi, plane: np.array(  # noqa: E731
        reader.read(roi=roi, plane=plane, scene=scene, pixel_type=pixel_type, background_pixel=colour)
    )
    return reader, RoiReader(reader, pixel_type, scene, colour), public


ROIS = [(10, 20, 40, 30), (15, 27, 9, 5), (0, 0, 64, 64), (500, 80, 85, 35), (530, 100, 30, 20), (2000, 2000, 4, 4)]
PLANES = [{"T": 1, "Z": 2, "C": 1}, {"Z": 1}, {}, {"C": 1, "T": 0, "Z": 0, "H": 3}]


@pytest.mark.parametrize("scene", [None, 0, 1])
@pytest.mark.parametrize(("pixel_type", "background"), [("Gray16", 0.0), ("Gray16", 0.25), ("Gray32Float", 1.0)])
def test_every_roi_and_plane_equals_the_public_read(
    planes: Path, scene: int | None, pixel_type: str, background: float
) -> None:
    reader, fast, public = _both(planes, pixel_type, scene, background)
    assert fast._access is not None  # the accessor path is what this pylibCZIrw takes
    try:
        for roi in ROIS:
            for plane in PLANES:
                got, want = fast.read(roi, plane), public(roi, plane)
                assert got.dtype == want.dtype and got.shape == want.shape
                np.testing.assert_array_equal(got, want, err_msg=f"roi {roi}, plane {plane}")
    finally:
        reader.close()


@pytest.mark.parametrize(("dtype", "pixel_type"), [(np.uint8, "Bgr24"), (np.uint16, "Bgr48")])
def test_colour_and_converted_grey_equal_the_public_read(tmp_path: Path, dtype: type, pixel_type: str) -> None:
    rng = np.random.default_rng(8)
    bgr = (rng.random((20, 24, 3)) * 200).astype(dtype)
    grey = (rng.random((20, 24)) * 200).astype(np.uint8)
    path = _write(tmp_path / "rgb.czi", [(bgr, {"C": 0}, (0, 0), 0), (grey, {"C": 1}, (0, 0), 0)])
    for wanted in (pixel_type, "Gray16" if dtype is np.uint16 else "Gray8"):
        reader, fast, public = _both(path, wanted, 0, 0.5)
        try:
            for roi in [(0, 0, 24, 20), (3, 4, 30, 5)]:
                for c in (0, 1):
                    np.testing.assert_array_equal(fast.read(roi, {"C": c}), public(roi, {"C": c}))
        finally:
            reader.close()


def test_without_the_accessor_the_public_read_is_used(planes: Path) -> None:
    reader, fast, public = _both(planes, "Gray16", 1, 0.5)
    try:
        fast._access = None  # as on a pylibCZIrw that lacks the accessor
        for roi in ROIS[:4]:
            np.testing.assert_array_equal(fast.read(roi, PLANES[0]), public(roi, PLANES[0]))
    finally:
        reader.close()


def test_an_accessor_taking_other_arguments_falls_back_to_the_public_read(planes: Path) -> None:
    reader, fast, public = _both(planes, "Gray16", 0, 0.0)
    try:
        fast._access = lambda roi: None  # as a pylibCZIrw whose accessor has another signature
        np.testing.assert_array_equal(fast.read(ROIS[0], PLANES[0]), public(ROIS[0], PLANES[0]))
        assert fast._access is None
    finally:
        reader.close()
