"""One rule for pixel types across formats: numeric and bool pixels are read, always in native byte
order; text, objects, dates, durations and records are refused with the same clear error."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import stackio

zarr = pytest.importorskip("zarr")
tifffile = pytest.importorskip("tifffile")

REFUSED = ["U4", "datetime64[ms]", "timedelta64[s]", [("a", "u1"), ("b", "f4")]]
ACCEPTED = ["bool", "int8", "uint16", "int64", "float16", "float64", "complex64", "complex128"]


def _values(dtype: object) -> np.ndarray:
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 2 if np.dtype(dtype).kind == "b" else 100, (3, 5, 6))
    values = raw.astype(dtype)
    if values.dtype.kind == "c":
        values = (values + 1j * raw[::-1]).astype(dtype)
    return values


def as_array(values: np.ndarray, tmp_path: Path) -> object:
    return values


def as_npy(values: np.ndarray, tmp_path: Path) -> object:
    path = tmp_path / "data.npy"
    np.save(path, values)
    return path


def as_zarr(values: np.ndarray, tmp_path: Path) -> object:
    path = tmp_path / "data.zarr"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr warns that some of these types are not in the v3 spec yet
        array = zarr.create_array(str(path), shape=values.shape, dtype=values.dtype, zarr_format=2)
        array[...] = values
    return path


def as_tiff(values: np.ndarray, tmp_path: Path) -> object:
    path = tmp_path / "data.tif"
    tifffile.imwrite(path, values, byteorder=values.dtype.byteorder, photometric="minisblack")
    return path


FORMATS: dict[str, Callable[[np.ndarray, Path], object]] = {"array": as_array, "npy": as_npy, "zarr": as_zarr}


@pytest.mark.parametrize("dtype", REFUSED, ids=str)
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_non_image_pixel_types_are_refused_alike(fmt: str, dtype: object, tmp_path: Path) -> None:
    source = FORMATS[fmt](np.zeros((3, 5, 6), dtype=dtype), tmp_path)
    with pytest.raises(stackio.ReadError, match=r"data, not image data \(stackio reads bool, integer, float"):
        stackio.load(source, "ZYX")


def test_object_arrays_are_refused() -> None:
    with pytest.raises(stackio.ReadError, match="holds object data, not image data"):
        stackio.load(np.array([[1, "a"], [None, 2.5]], dtype=object), "YX")


@pytest.mark.parametrize("dtype", ACCEPTED)
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_numeric_and_bool_pixels_are_read(fmt: str, dtype: str, tmp_path: Path) -> None:
    values = _values(dtype)
    (stack,) = stackio.load(FORMATS[fmt](values, tmp_path), "ZYX")
    assert stack.data_dtype == values.dtype
    got = stack.extract_patch(0, None, (0, 1, 1), (3, 4, 5))
    assert got.dtype == values.dtype
    np.testing.assert_array_equal(got[0], values[:, 1:5, 1:6])


@pytest.mark.parametrize("dtype", [">u2", ">i4", ">f4", ">c8"])
@pytest.mark.parametrize("fmt", [*sorted(FORMATS), "tiff"])
@pytest.mark.parametrize("in_memory", [False, True], ids=["lazy", "in-memory"])
def test_patches_are_in_native_byte_order(fmt: str, dtype: str, in_memory: bool, tmp_path: Path) -> None:
    values = _values(dtype)
    if fmt == "tiff" and values.dtype.kind == "c":
        pytest.skip("TIFF has no complex pixels tifffile writes big-endian")
    write = as_tiff if fmt == "tiff" else FORMATS[fmt]
    (stack,) = stackio.load(write(values, tmp_path), "ZYX", in_memory=in_memory)
    native = values.dtype.newbyteorder("=")
    assert stack.data_dtype == native and stack.data_dtype.isnative
    for patch in (
        stack.extract_patch(0, None, (0, 0, 0), (3, 5, 6)),
        stack.extract_patch(0, [0], (-1, 2, 2), (3, 4, 5)),
    ):
        assert patch.dtype == native and patch.dtype.isnative
    np.testing.assert_array_equal(stack.extract_patch(0, None, (0, 0, 0), (3, 5, 6))[0], values)
    if isinstance(stack, stackio.ArrayStack):
        assert stack.data.dtype.isnative
    assert values.dtype == np.dtype(dtype)  # an array given is left as it was
