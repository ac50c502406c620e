"""Property tests: random shapes, axes orders and patches read through stackio equal numpy's own
rearranging and slicing of the full array, for every format.

The reference (`arrange`, `expected_patch`) is written here from the documented rules, not from
stackio's Layout: axes named in any order become S, C, (Z), Y, X; S and T merge into S, S outer;
missing S and C have size 1; a patch is zero where it leaves the image.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stackio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from robust_corpus import write_czi, write_ndtiff, write_zarr

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
SLOW = settings(SETTINGS, max_examples=15)
DTYPES = ("uint8", "uint16", "int16", "float32")


def arrange(data: np.ndarray, axes: str) -> np.ndarray:
    """numpy's own SC(Z)YX view of `data` with named `axes` (T merged into S; Z the depth axis)."""
    order = [a for a in "STCZYX" if a in axes]
    arr = np.transpose(data, [axes.index(a) for a in order])
    size = dict(zip(order, arr.shape, strict=True))
    spatial = [size[a] for a in "ZYX" if a in axes]
    return arr.reshape(size.get("S", 1) * size.get("T", 1), size.get("C", 1), *spatial)


def expected_patch(
    ref: np.ndarray, sample: int, channels: list[int] | None, coords: list[int], size: list[int]
) -> np.ndarray:
    picked = ref[sample] if channels is None else ref[sample][channels]
    out = np.zeros((picked.shape[0], *size), dtype=ref.dtype)
    src = tuple(slice(max(c, 0), min(c + s, n)) for c, s, n in zip(coords, size, ref.shape[2:], strict=True))
    dst = tuple(slice(r.start - c, r.stop - c) for r, c in zip(src, coords, strict=True))
    out[(slice(None), *dst)] = picked[(slice(None), *src)]
    return out


def values(shape: tuple[int, ...], dtype: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)


@st.composite
def named_arrays(
    draw: Any, *, yx_last: bool = False, dtypes: tuple[str, ...] = DTYPES, min_x: int = 1
) -> tuple[np.ndarray, str]:
    extra = draw(st.lists(st.sampled_from("STCZ"), unique=True, max_size=3))
    names = [*draw(st.permutations(extra)), "Y", "X"]
    if not yx_last:
        names = draw(st.permutations(names))
    shape = tuple(
        draw(st.integers(1, 4)) if a in "STCZ" else draw(st.integers(min_x if a == "X" else 1, 40)) for a in names
    )
    dtype = draw(st.sampled_from(dtypes))
    return values(shape, dtype, draw(st.integers(0, 2**16))), "".join(names)


@st.composite
def patch_requests(draw: Any, shape: tuple[int, ...], n: int = 4) -> list[tuple[int, list[int] | None, list, list]]:
    out = []
    for _ in range(n):
        sample = draw(st.integers(0, shape[0] - 1))
        channels = draw(st.none() | st.lists(st.integers(0, shape[1] - 1), min_size=1, max_size=shape[1], unique=True))
        size = [draw(st.integers(1, extent + 2)) for extent in shape[2:]]
        coords = [draw(st.integers(-s + 1, extent - 1)) for s, extent in zip(size, shape[2:], strict=True)]
        out.append((sample, channels, coords, size))
    return out


def check(stack: Any, ref: np.ndarray, data: Any) -> None:
    assert tuple(stack.data_shape) == ref.shape
    assert np.dtype(stack.data_dtype) == ref.dtype
    for sample, channels, coords, size in data.draw(patch_requests(ref.shape)):
        got = stack.extract_patch(sample, channels, coords, size)
        want = expected_patch(ref, sample, channels, coords, size)
        assert got.dtype == want.dtype and got.shape == want.shape
        assert np.array_equal(got, want, equal_nan=True), (sample, channels, coords, size)


def check_file(
    write: Callable[[Path, np.ndarray], Path], array: np.ndarray, axes: str, data: Any, **options: Any
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), array)
        (stack,) = stackio.load(path, axes, **options)
        check(stack, arrange(array, axes), data)
        stack.close()


@SETTINGS
@given(named=named_arrays(), data=st.data())
def test_numpy_files(named: tuple[np.ndarray, str], data: Any) -> None:
    array, axes = named

    def write(d: Path, a: np.ndarray) -> Path:
        np.save(d / "a.npy", a)
        return d / "a.npy"

    check_file(write, array, axes, data)


def write_plain_tiff(d: Path, a: np.ndarray, **kwargs: Any) -> Path:
    import tifffile

    tifffile.imwrite(d / "a.tif", a, photometric="minisblack", **kwargs)
    return d / "a.tif"


@SETTINGS
@given(
    named=named_arrays(yx_last=True, min_x=2),
    compression=st.sampled_from([None, "zlib"]),
    tiled=st.booleans(),
    data=st.data(),
)
def test_tiff_files(named: tuple[np.ndarray, str], compression: str | None, tiled: bool, data: Any) -> None:
    array, axes = named
    tile = (16, 16) if tiled and array.shape[-1] >= 16 and array.shape[-2] >= 16 else None
    check_file(lambda d, a: write_plain_tiff(d, a, compression=compression, tile=tile), array, axes, data)


@pytest.mark.parametrize(("shape", "axes"), [((2, 1, 1), "ZYX"), ((1, 1, 1), "ZYX"), ((2, 3, 5, 1), "CZYX")])
def test_tiff_files_one_pixel_wide(shape: tuple[int, ...], axes: str) -> None:
    array = values(shape, "uint16", 1)
    with tempfile.TemporaryDirectory() as tmp:
        (stack,) = stackio.load(write_plain_tiff(Path(tmp), array), axes)
        ref = arrange(array, axes)
        assert np.array_equal(stack.extract_patch(0, None, [0] * (ref.ndim - 2), ref.shape[2:]), ref[0])
        stack.close()


@SLOW
@given(named=named_arrays(), zarr_format=st.sampled_from([2, 3]), data=st.data())
def test_zarr_arrays(named: tuple[np.ndarray, str], zarr_format: int, data: Any) -> None:
    array, axes = named
    chunks = tuple(data.draw(st.integers(1, n)) for n in array.shape)

    def write(d: Path, a: np.ndarray) -> Path:
        return write_zarr(d / "a.zarr", a, zarr_format=zarr_format, chunks=chunks)

    check_file(write, array, axes, data)


def _czi_or_ndtiff_axes(draw: Any, t: int, z: int) -> str | None:
    choices: list[str | None] = [None, "SCYX"]
    if z > 1:
        choices.append("SCZYX")
    if t > 1:
        choices.append("SCTYX")
    return draw(st.sampled_from(choices))


def arrange_tczyx(tczyx: np.ndarray, axes: str | None) -> np.ndarray:
    """The documented CZI / NDTiff layout: depth Z (default when Z > 1) or T; the rest into S, T outer."""
    t, c, z, y, x = tczyx.shape
    axes = axes or ("SCZYX" if z > 1 else "SCYX")
    if axes == "SCZYX":
        return tczyx
    if axes == "SCTYX":
        return tczyx.transpose(2, 1, 0, 3, 4)
    return tczyx.transpose(0, 2, 1, 3, 4).reshape(t * z, c, y, x)


@SLOW
@given(
    sizes=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 30), st.integers(1, 30)),
    scenes=st.integers(1, 2),
    dtype=st.sampled_from(["uint8", "uint16", "float32"]),
    data=st.data(),
)
def test_czi_files(sizes: tuple[int, ...], scenes: int, dtype: str, data: Any) -> None:
    t, c, z, _, _ = sizes
    axes = _czi_or_ndtiff_axes(data.draw, t, z)
    truth = [values(sizes, dtype, seed) for seed in range(scenes)]
    with tempfile.TemporaryDirectory() as tmp:
        planes = {
            (s, ti, ci, zi): truth[s][ti, ci, zi]
            for s in range(scenes)
            for ti in range(t)
            for ci in range(c)
            for zi in range(z)
        }
        stacks = stackio.load(write_czi(Path(tmp) / "a.czi", planes), axes)
        assert len(stacks) == scenes
        for stack, tczyx in zip(stacks, truth, strict=True):
            check(stack, arrange_tczyx(tczyx, axes), data)
            stack.close()


@SLOW
@given(
    sizes=st.tuples(st.integers(1, 3), st.integers(1, 2), st.integers(1, 3), st.integers(1, 24), st.integers(1, 24)),
    dtype=st.sampled_from(["uint8", "uint16"]),
    data=st.data(),
)
def test_ndtiff_datasets(sizes: tuple[int, ...], dtype: str, data: Any) -> None:
    t, c, z, _, _ = sizes
    axes = _czi_or_ndtiff_axes(data.draw, t, z)
    tczyx = values(sizes, dtype, 0)
    images = [
        ({"time": ti, "channel": f"c{ci}", "z": zi}, tczyx[ti, ci, zi])
        for ti in range(t)
        for ci in range(c)
        for zi in range(z)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        (stack,) = stackio.load(write_ndtiff(Path(tmp) / "acq", images, {}), axes)
        check(stack, arrange_tczyx(tczyx, axes), data)
        stack.close()


@SETTINGS
@given(
    y=st.integers(1, 50),
    x=st.integers(1, 50),
    kind=st.sampled_from(["L", "I;16", "RGB"]),
    fmt=st.sampled_from(["png", "jpeg"]),
    data=st.data(),
)
def test_png_and_jpeg_files(y: int, x: int, kind: str, fmt: str, data: Any) -> None:
    from PIL import Image

    if fmt == "jpeg" and kind == "I;16":
        kind = "L"
    shape = (y, x, 3) if kind == "RGB" else (y, x)
    array = values(shape, "uint16" if kind == "I;16" else "uint8", y * 100 + x)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"a.{'png' if fmt == 'png' else 'jpg'}"
        Image.fromarray(array).save(path)
        with Image.open(path) as image:  # JPEG is lossy: the reference is what Pillow decodes
            decoded = np.asarray(image)
        (stack,) = stackio.load(path)
        check(stack, arrange(decoded, "YXC" if decoded.ndim == 3 else "YX"), data)
        stack.close()


@pytest.mark.parametrize("axes", ["ZYX", "YXZ", "CTYX", "XYT", "STCZYX", "ZXCYS"])
def test_reference_agrees_with_an_explicit_case(axes: str) -> None:
    """The reference itself, checked on a hand-made case (so the properties above are not circular)."""
    shape = tuple(range(2, 2 + len(axes)))
    data = np.arange(np.prod(shape)).reshape(shape)
    ref = arrange(data, axes)
    index = {a: 1 for a in axes}
    n_t = shape[axes.index("T")] if "T" in axes else 1
    s = index.get("S", 0) * n_t + index.get("T", 0)
    spatial = tuple(index[a] for a in "ZYX" if a in axes)
    assert ref[(s, index.get("C", 0), *spatial)] == data[tuple(index[a] for a in axes)]
