"""The core of per-image metadata and `to_xarray`: any stack, numpy arrays, bad requests, laziness.

Per-format values are tested in each plugin against the format's own library.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence

import numpy as np
import pytest
import stackio
from stackio import ImageMetadata, Metadata
from stackio.image_metadata import iter_images, seconds


class Foreign:
    """An ImageStack that is not one of stackio's stacks (no image_metadata, no to_xarray)."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.reads = 0

    source = "foreign"
    axes = "SCZYX"
    original_axes = "SCZYX"
    metadata = Metadata(voxel_size={"Z": 2.0, "Y": 0.5, "X": 0.5}, units=dict.fromkeys("ZYX", "micrometer"))

    @property
    def data_shape(self) -> tuple[int, ...]:
        return self.array.shape

    @property
    def original_data_shape(self) -> tuple[int, ...]:
        return self.array.shape

    @property
    def data_dtype(self) -> np.dtype:
        return self.array.dtype

    def extract_patch(
        self, sample_idx: int, channels: Sequence[int] | None, coords: Sequence[int], patch_size: Sequence[int]
    ) -> np.ndarray:
        self.reads += 1
        region = tuple(slice(c, c + s) for c, s in zip(coords, patch_size, strict=True))
        return self.array[sample_idx][(slice(None) if channels is None else list(channels), *region)]


def test_arrays_record_no_per_image_metadata() -> None:
    stack = stackio.load(np.zeros((2, 3, 4, 5), np.uint8), "CZYX")[0]
    assert stack.image_metadata(0, 1, 2) is None
    assert stackio.image_metadata(stack, 0, 1, 2) is None
    with pytest.raises(stackio.ValidationError, match="channel 2 does not exist; the stack has 2 channel"):
        stack.image_metadata(0, 2)


def test_any_stack_works_with_the_core_function() -> None:
    foreign = Foreign(np.zeros((2, 1, 3, 4, 4), np.uint16))
    assert isinstance(foreign, stackio.ImageStack)
    assert stackio.image_metadata(foreign, 1, 0, 2) is None
    with pytest.raises(stackio.ValidationError, match="depth 3 does not exist"):
        stackio.image_metadata(foreign, 1, 0, 3)


def test_requests_are_checked() -> None:
    stack = stackio.load(np.zeros((3, 4, 5), np.uint8), "TYX")[0]
    assert stack.image_metadata(2, 0, None) is None  # no depth axis: depth may be left at 0 or None
    for bad, match in (((3,), "sample 3"), ((-1,), "sample -1"), ((True,), "must be an int"), ((0, 0, 1), "depth")):
        with pytest.raises(stackio.ValidationError, match=match):
            stack.image_metadata(*bad)


def test_images_are_listed_in_sample_channel_depth_order() -> None:
    stack = stackio.load(np.zeros((2, 2, 3, 4, 4), np.uint8), "TCZYX")[0]
    assert list(iter_images(stack, 4)) == [(0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 0)]
    assert len(list(iter_images(stack))) == 12


def test_common_fields_are_plain_data() -> None:
    record = ImageMetadata(1, 0, None, {"T": 1}, 2.5, {"X": 1.0}, {"X": "micrometer"}, 0.01, raw="<xml/>")
    assert record.common() == {
        "sample": 1,
        "channel": 0,
        "depth": None,
        "file_coords": {"T": 1},
        "time": 2.5,
        "stage_position": {"X": 1.0},
        "stage_units": {"X": "micrometer"},
        "exposure": 0.01,
    }
    assert record == ImageMetadata(1, 0, None, {"T": 1}, 2.5, {"X": 1.0}, {"X": "micrometer"}, 0.01, raw="other")


def test_seconds_converts_declared_units_only() -> None:
    assert seconds("250", "ms") == 0.25
    assert seconds(2, "min") == 120.0
    assert seconds(1, "µs") == pytest.approx(1e-6)
    assert seconds(1, "parsec") is None
    assert seconds("nan", "s") is None
    assert seconds(True, "s") is None


# -- xarray --------------------------------------------------------------------------------------


def test_to_xarray_coordinates_are_voxel_size_times_index_plus_offset() -> None:
    data = np.arange(2 * 3 * 4 * 5 * 6, dtype=np.uint16).reshape(2, 3, 4, 5, 6)
    meta = Metadata(
        voxel_size={"Z": 2.0, "Y": 0.25, "X": 0.5, "T": 30.0},
        units={"Z": "micrometer", "Y": "micrometer", "X": "micrometer", "T": "second"},
        offset={"Y": 100.0, "X": -3.0, "T": 60.0},
        channel_names=("DAPI", "GFP", "RFP"),
    )
    stack = stackio.ArrayStack.from_axes(data, "TCZYX", metadata=meta, source="cells")
    array = stack.to_xarray()
    assert array.dims == ("S", "C", "Z", "Y", "X")
    np.testing.assert_allclose(array["Z"].values, 2.0 * np.arange(4))
    np.testing.assert_allclose(array["Y"].values, 100.0 + 0.25 * np.arange(5))
    np.testing.assert_allclose(array["X"].values, -3.0 + 0.5 * np.arange(6))
    np.testing.assert_allclose(array["T"].values, 60.0 + 30.0 * np.arange(2))  # T merged into S
    assert array["T"].dims == ("S",)
    assert [array[a].attrs["units"] for a in "TZYX"] == ["second", *["micrometer"] * 3]
    assert list(array["C"].values) == ["DAPI", "GFP", "RFP"]
    assert array.attrs["source"] == "cells"
    np.testing.assert_array_equal(array.sel(C="GFP").values, data[:, 1])


def test_to_xarray_without_declarations_has_no_coordinates() -> None:
    array = stackio.load(np.zeros((3, 4, 5), np.uint8), "ZYX")[0].to_xarray()
    assert array.dims == ("S", "C", "Z", "Y", "X")
    assert dict(array.coords) == {}


def test_to_xarray_is_lazy_and_works_on_any_stack() -> None:
    from stackio.xarray import to_xarray

    foreign = Foreign(np.arange(2 * 1 * 3 * 4 * 4, dtype=np.uint16).reshape(2, 1, 3, 4, 4))
    array = to_xarray(foreign)
    assert foreign.reads == 0  # nothing read until computed
    np.testing.assert_allclose(array["Z"].values, [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(array.isel(S=1).values, foreign.array[1])
    assert foreign.reads > 0


def test_to_xarray_image_times_are_nan_where_not_recorded() -> None:
    stack = stackio.load(np.zeros((2, 4, 5), np.uint8), "TYX")[0]
    times = stack.to_xarray(image_times=True)["time"]
    assert times.dims == ("S",) and np.isnan(times.values).all()


def test_import_stackio_imports_neither_xarray_nor_dask() -> None:
    code = "import sys, stackio; print(sorted(m for m in ('xarray', 'dask') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
