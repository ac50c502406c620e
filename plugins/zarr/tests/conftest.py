"""Stores written by zarr itself for the stackio-zarr tests, and a pixel-comparison helper."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numcodecs
import numpy as np
import pytest
import zarr
from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec


def pattern(shape: Sequence[int], dtype: Any = "uint16", seed: int = 0) -> np.ndarray:
    """Distinct values everywhere (a pixel read from the wrong place shows)."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.random(tuple(shape)).astype(dtype)
    if dtype.kind == "b":
        return rng.random(tuple(shape)) > 0.5
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, 0), min(info.max, 60000), size=tuple(shape), endpoint=True).astype(dtype)


def write_array(path: Path, data: np.ndarray, *, zarr_format: int = 3, **kwargs: Any) -> Any:
    """An array store at `path` (or inside a group when `path` is within one) holding `data`."""
    kwargs.setdefault("chunks", tuple(max(1, n // 2) for n in data.shape))
    array = zarr.create_array(
        str(path), shape=data.shape, dtype=data.dtype, zarr_format=zarr_format, overwrite=True, **kwargs
    )
    array[...] = data
    return array


def ome_axes(names: str, version: str, units: dict[str, str] | None = None) -> list[Any]:
    if version == "0.3":
        return list(names)
    kinds = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}
    out = []
    for n in names:
        entry: dict[str, Any] = {"name": n}
        if n in kinds:
            entry["type"] = kinds[n]
        if units and n in units:
            entry["unit"] = units[n]
        out.append(entry)
    return out


def write_ome(
    path: Path,
    levels: Sequence[np.ndarray],
    *,
    version: str = "0.4",
    axes: str | None = "czyx",
    paths: Sequence[str] | None = None,
    scales: Sequence[Sequence[float]] | None = None,
    translations: Sequence[Sequence[float] | None] | None = None,
    units: dict[str, str] | None = None,
    channels: Sequence[Any] | None = None,
    global_transforms: list[dict[str, Any]] | None = None,
    chunks: Sequence[int] | None = None,
    shards: Sequence[int] | None = None,
) -> Path:
    """An OME-Zarr image written as the NGFF spec of `version` says (0.5 = zarr v3, else v2)."""
    zarr_format = 3 if version.startswith("0.5") else 2
    group = zarr.open_group(str(path), mode="w", zarr_format=zarr_format)
    paths = list(paths or [str(i) for i in range(len(levels))])
    datasets = []
    for i, (p, data) in enumerate(zip(paths, levels, strict=True)):
        kwargs: dict[str, Any] = {"chunks": tuple(chunks) if chunks else tuple(max(1, n // 2) for n in data.shape)}
        if shards:
            kwargs["shards"] = tuple(shards)
        array = group.create_array(p, shape=data.shape, dtype=data.dtype, **kwargs)
        array[...] = data
        entry: dict[str, Any] = {"path": p}
        if version not in ("0.1", "0.2", "0.3"):
            scale = list(scales[i]) if scales else [1.0] * data.ndim
            transforms: list[dict[str, Any]] = [{"type": "scale", "scale": scale}]
            if translations and translations[i] is not None:
                transforms.append({"type": "translation", "translation": list(translations[i])})
            entry["coordinateTransformations"] = transforms
        datasets.append(entry)
    ms: dict[str, Any] = {"datasets": datasets, "name": "image"}
    if axes is not None:
        ms["axes"] = ome_axes(axes, version, units)
    if global_transforms is not None:
        ms["coordinateTransformations"] = global_transforms
    meta: dict[str, Any] = {"multiscales": [ms]}
    if channels is not None:
        meta["omero"] = {"channels": [{"label": c} for c in channels]}
    if zarr_format == 3:
        group.attrs.update({"ome": {"version": version, **meta}})
    else:
        ms["version"] = version
        group.attrs.update(meta)
    return path


@pytest.fixture
def assert_stack_equals() -> Callable[..., None]:
    """Compare every pixel of a stack with `expected` (in the stack's original axes), patch by patch."""

    def check(stack: Any, expected: np.ndarray) -> None:
        arranged = np.asarray(stack.layout.to_stack_order(expected))
        assert stack.data_shape == arranged.shape
        assert stack.data_dtype == arranged.dtype.newbyteorder("=")
        spatial = stack.data_shape[2:]
        for s in range(stack.data_shape[0]):
            whole = stack.extract_patch(s, None, (0,) * len(spatial), spatial)
            assert whole.dtype == stack.data_dtype
            np.testing.assert_array_equal(whole, arranged[s])
        # a patch overhanging the far corner: inside part equals the data, the rest is zero
        coords = tuple(max(n - 3, 0) for n in spatial)
        size = tuple(5 for _ in spatial)
        patch = stack.extract_patch(stack.data_shape[0] - 1, [stack.data_shape[1] - 1], coords, size)
        inside = tuple(slice(c, n) for c, n in zip(coords, spatial, strict=True))
        local = (0, *tuple(slice(0, n - c) for c, n in zip(coords, spatial, strict=True)))
        np.testing.assert_array_equal(patch[local], arranged[(-1, -1, *inside)])
        outside = np.ones(patch.shape, bool)
        outside[local] = False
        assert not patch[outside].any()

    return check


@pytest.fixture
def codec_stores(tmp_path: Path) -> list[tuple[Path, np.ndarray, dict[str, Any]]]:
    """Arrays written by zarr: v2 and v3, sharded and not, several codecs, orders and dtypes."""
    cases: list[tuple[str, np.ndarray, dict[str, Any]]] = [
        ("v3_zstd_u16.zarr", pattern((3, 20, 30), "uint16", 1), {"zarr_format": 3, "compressors": ZstdCodec()}),
        ("v3_gzip_f32.zarr", pattern((20, 30), "float32", 2), {"zarr_format": 3, "compressors": GzipCodec()}),
        ("v3_blosc_i16.zarr", pattern((4, 10, 12), "int16", 3), {"zarr_format": 3, "compressors": BloscCodec()}),
        ("v3_raw_u8.zarr", pattern((7, 9), "uint8", 4), {"zarr_format": 3, "compressors": None}),
        (
            "v3_sharded_u16.zarr",
            pattern((2, 16, 32, 32), "uint16", 5),
            {"zarr_format": 3, "chunks": (1, 4, 8, 8), "shards": (1, 8, 16, 16)},
        ),
        (
            "v3_sharded_ragged_u8.zarr",
            pattern((13, 27), "uint8", 6),
            {"zarr_format": 3, "chunks": (4, 4), "shards": (8, 8)},
        ),
        ("v2_blosc_u16.zarr", pattern((3, 20, 30), "uint16", 7), {"zarr_format": 2}),
        (
            "v2_zstd_fortran_i32.zarr",
            pattern((5, 11, 13), "int32", 8),
            {"zarr_format": 2, "order": "F", "compressors": numcodecs.Zstd(level=3)},
        ),
        (
            "v2_gzip_bigendian_f4.zarr",
            pattern((9, 10), ">f4", 9),
            {"zarr_format": 2, "compressors": numcodecs.GZip(level=1)},
        ),
        ("v2_nocompress_bool.zarr", pattern((6, 8), "bool", 10), {"zarr_format": 2, "compressors": None}),
        (
            "v2_delta_filter_u16.zarr",
            pattern((10, 10), "uint16", 11),
            {"zarr_format": 2, "filters": [numcodecs.Delta(dtype="<u2")], "compressors": numcodecs.Zlib()},
        ),
    ]
    out = []
    for name, data, kwargs in cases:
        path = tmp_path / name
        write_array(path, data, **kwargs)
        out.append((path, data, kwargs))
    return out


def axes_for(ndim: int) -> str:
    return {2: "YX", 3: "ZYX", 4: "CZYX"}[ndim]


@pytest.fixture
def zw() -> SimpleNamespace:
    """The writing helpers above, for test modules (they cannot import conftest)."""
    return SimpleNamespace(pattern=pattern, write_array=write_array, write_ome=write_ome, axes_for=axes_for)
