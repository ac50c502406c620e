"""Round trips of every real file in `../shared/realdata`: save to OME-Zarr and OME-TIFF, load, compare.

Pixels, shape, axes, voxel size, offset, units and channel names must come back as they were read.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import stackio
from stackio.testing.realdata import RealFile, realdata_params
from stackio_tiff.writer import OME_DTYPES
from stackio_zarr.writer import ngff_unit

HERE = Path(__file__).resolve().parent
ENTRIES = [p for fmt in ("tiff", "czi", "zarr", "ndtiff") for p in realdata_params(fmt, HERE)]
pytestmark = pytest.mark.realdata


def _pixels(stack: stackio.ImageStack) -> np.ndarray:
    spatial = stack.data_shape[2:]
    return np.stack([stack.extract_patch(s, None, (0,) * len(spatial), spatial) for s in range(stack.data_shape[0])])


def _stacks(entry: RealFile) -> list[stackio.ImageStack]:
    stacks = None
    for axes in (None, "ZYX", "YX"):  # files whose metadata names no axes: pages as Z, else a plane
        try:
            stacks = stackio.load(entry.path, axes)
            break
        except stackio.AxesError:
            continue
        except stackio.StackioError as exc:
            pytest.skip(f"{entry.path.name}: stackio does not load it ({exc})")
    if stacks is None:
        pytest.skip(f"{entry.path.name}: needs axes= to load")
    small = [s for s in stacks if math.prod(s.data_shape) * s.data_dtype.itemsize <= 64 * 2**20]
    if not small:
        pytest.skip("larger than this test reads")
    return small


def _check_metadata(before: stackio.Metadata, after: stackio.Metadata, units_known: bool) -> None:
    for field in ("voxel_size", "offset"):
        given = getattr(before, field) or {}
        got = getattr(after, field) or {}
        for axis, value in given.items():
            assert got.get(axis) == pytest.approx(value), (field, axis, given, got)
    given_units = before.units or {}
    got_units = after.units or {}
    for axis, unit in given_units.items():
        if axis in (before.voxel_size or {}) and (not units_known or ngff_unit(unit) is not None):
            assert got_units.get(axis) == (ngff_unit(unit) if units_known else unit), (axis, given_units, got_units)
    if before.channel_names is not None:
        assert after.channel_names == before.channel_names


@pytest.mark.parametrize("entry", ENTRIES)
def test_round_trip_through_ome_zarr(entry: RealFile | None, tmp_path: Path, stackio_realdata: Path) -> None:
    for i, stack in enumerate(_stacks(entry)):  # type: ignore[arg-type]
        dest = stackio.save(stack, tmp_path / f"s{i}.ome.zarr")
        back = stackio.load(dest)[0]
        assert back.data_shape == stack.data_shape and back.axes == stack.axes
        assert back.data_dtype == stack.data_dtype
        np.testing.assert_array_equal(_pixels(back), _pixels(stack))
        _check_metadata(stack.metadata, back.metadata, units_known=True)


@pytest.mark.parametrize("entry", ENTRIES)
def test_round_trip_through_ome_tiff(entry: RealFile | None, tmp_path: Path, stackio_realdata: Path) -> None:
    for i, stack in enumerate(_stacks(entry)):  # type: ignore[arg-type]
        if stack.data_dtype.name not in OME_DTYPES:
            with pytest.raises(stackio.ValidationError, match="cannot hold"):
                stackio.save(stack, tmp_path / f"s{i}.ome.tif")
            continue
        dest = stackio.save(stack, tmp_path / f"s{i}.ome.tif")
        back = stackio.load(dest)[0]
        assert back.data_shape == stack.data_shape and back.data_dtype == stack.data_dtype
        np.testing.assert_array_equal(_pixels(back), _pixels(stack))
        _check_metadata(stack.metadata, back.metadata, units_known=False)
