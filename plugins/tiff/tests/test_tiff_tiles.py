"""Compressed tiles and strips (`stackio_tiff.tiles`): every region, across tile and image borders, of files
tifffile writes with several compressions, predictors, byte orders, odd tile and strip sizes and both planar
configurations, equals tifffile's own read; and each segment `tiles.decode` gives equals tifffile's decode."""

from __future__ import annotations

import sys
import tracemalloc
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
import stackio
import tifffile
from stackio_tiff import pages, tiles
from stackio_tiff.pages import PlaneStore


def _data(shape: tuple[int, ...], dtype: str, seed: int) -> np.ndarray:
    """Noise over a ramp (so differencing predictors have work), in `dtype`."""
    rng = np.random.default_rng(seed)
    ramp = np.add.outer(np.arange(shape[-2]), np.arange(shape[-1])) % 97
    data = rng.integers(0, 50, size=shape) + ramp.reshape((1,) * (len(shape) - 2) + ramp.shape) * 3
    if np.dtype(dtype).kind == "f":
        return (data / 7.0 - 20).astype(dtype)
    if np.dtype(dtype).kind == "i":
        return (data - 150).astype(dtype)
    return data.astype(dtype)


#: id: (shape, dtype, tifffile.imwrite keywords, whether `tiles.Direct` decodes it)
CASES: dict[str, tuple[tuple[int, ...], str, dict[str, Any], bool]] = {
    "zstd-u16-tiles-48x80": ((3, 100, 130), "uint16", {"tile": (48, 80), "compression": "zstd"}, True),
    "zlib-hdiff-i16-bigendian": (
        (2, 70, 90),
        ">i2",
        {"tile": (32, 48), "compression": "zlib", "predictor": True, "byteorder": ">"},
        True,
    ),
    "lzw-hdiff-u8-strips-of-7-rows": (
        (2, 45, 61),
        "uint8",
        {"rowsperstrip": 7, "compression": "lzw", "predictor": True},
        True,
    ),
    "lzma-f32-tiles-16x32": ((2, 50, 70), "float32", {"tile": (16, 32), "compression": "lzma"}, True),
    "zstd-u32-strips-of-16-rows": ((3, 50, 33), "uint32", {"rowsperstrip": 16, "compression": "zstd"}, True),
    "zlib-floatpred-f32": (
        (2, 40, 56),
        "float32",
        {"tile": (16, 16), "compression": "zlib", "predictor": 3},
        False,
    ),
    "packbits-u8-strips": ((2, 40, 50), "uint8", {"rowsperstrip": 9, "compression": "packbits"}, False),
    "zstd-rgb-contig-tiles": (
        (60, 75, 3),
        "uint8",
        {"tile": (32, 32), "compression": "zstd", "photometric": "rgb", "planarconfig": "contig"},
        True,
    ),
    "zlib-hdiff-rgb-separate-tiles": (
        (3, 60, 75),
        "uint16",
        {"tile": (16, 48), "compression": "zlib", "predictor": True, "photometric": "rgb", "planarconfig": "separate"},
        True,
    ),
    "jpeg-rgb-contig-tiles": (
        (60, 75, 3),
        "uint8",
        {"tile": (32, 32), "compression": "jpeg", "photometric": "rgb"},
        False,
    ),
    "zstd-volume-tiles-4x32x32": ((10, 70, 90), "uint16", {"tile": (4, 32, 32), "compression": "zstd"}, True),
}


@pytest.fixture(scope="module", params=list(CASES))
def written(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, np.ndarray]:
    shape, dtype, kwargs, _ = CASES[request.param]
    path = tmp_path_factory.mktemp("tiles") / f"{request.param}.tif"
    kwargs = dict(kwargs)
    kwargs.setdefault("photometric", "minisblack")
    if "tile" in kwargs and len(kwargs["tile"]) == 3:
        kwargs["metadata"] = None  # one volumetric page
    tifffile.imwrite(path, _data(shape, dtype, seed=len(request.param)), **kwargs)
    return request.param, path, tifffile.imread(path)


def _store(path: Path) -> PlaneStore:
    (stack,) = stackio.load(path, None if "rgb" in path.name else "ZYX")
    store = stack._open()
    assert isinstance(store, PlaneStore)
    return store


def _regions(shape: tuple[int, ...], segment: tuple[int, int, int], seed: int) -> list[tuple[slice | int, ...]]:
    """Plain keys whose Y/X windows start and end on, beside and across segment and image borders."""
    rng = np.random.default_rng(seed)
    _, sy, sx = segment
    ny, nx = shape[-2], shape[-1]
    starts_y = sorted({0, 1, sy - 1, sy, min(sy + 1, ny - 1), ny - 5, ny - 1} & set(range(ny)))
    starts_x = sorted({0, 1, sx - 1, sx, min(sx + 1, nx - 1), nx - 5, nx - 1} & set(range(nx)))
    keys: list[tuple[slice | int, ...]] = []
    lead = shape[:-2]
    for y in starts_y:
        for x in starts_x:
            h, w = int(rng.integers(1, sy * 2 + 3)), int(rng.integers(1, sx * 2 + 3))
            outer = tuple(int(rng.integers(0, n)) if i % 2 == 0 else slice(0, n) for i, n in enumerate(lead))
            keys.append((*outer, slice(y, min(ny, y + h)), slice(x, min(nx, x + w))))
    keys.append(tuple(slice(None) for _ in shape))  # the whole image
    return keys


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "decoding-pool"])
def test_every_region_equals_tifffile(
    written: tuple[str, Path, np.ndarray], parallel: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    case, path, reference = written
    monkeypatch.setattr(pages, "PARALLEL_SEGMENTS", 0 if parallel else sys.maxsize)
    store = _store(path)
    assert store.shape == reference.shape
    codec = store.planes[0].codec
    assert (codec.direct is not None) == CASES[case][3]
    for key in _regions(reference.shape, codec.segment, seed=3):
        got = store[key]
        want = reference[key]
        assert got.dtype == want.dtype.newbyteorder("=") and got.shape == want.shape, key
        np.testing.assert_array_equal(got, want, err_msg=f"{case} {key}")
        if not parallel:
            assert got.base is None  # decoded into a new array of the result's shape: the core copies nothing


def test_stepped_and_negative_keys_equal_tifffile(written: tuple[str, Path, np.ndarray]) -> None:
    _, path, reference = written
    store = _store(path)
    for key in [(..., slice(1, None, 3), slice(None, None, 2)), (-1, ...), (..., slice(-9, None), -1)]:
        np.testing.assert_array_equal(store[key], reference[key])


def test_patches_through_the_stack_equal_tifffile(written: tuple[str, Path, np.ndarray]) -> None:
    case, path, _ = written
    if "rgb" in case:
        pytest.skip("the colour files' arrangement is covered by test_tiff_read")
    (stack,) = stackio.load(path, "SYX" if "volume" not in case else "ZYX")
    reference = tifffile.imread(path)
    spatial = stack.data_shape[2:]
    rng = np.random.default_rng(5)
    for _ in range(12):
        size = tuple(int(rng.integers(1, n + 1)) for n in spatial)
        start = tuple(int(rng.integers(0, n - s + 1)) for n, s in zip(spatial, size, strict=True))
        sample = int(rng.integers(0, stack.data_shape[0]))
        patch = stack.extract_patch(sample, None, start, size)
        window = tuple(slice(a, a + s) for a, s in zip(start, size, strict=True))
        want = reference[window] if "volume" in case else reference[(sample, *window)]
        np.testing.assert_array_equal(patch[0], want)


def _refuse(*args: object, **kwargs: object) -> None:
    raise AssertionError("tifffile's decode was called for a segment `tiles.Direct` should decode")


def test_each_segment_decodes_as_tifffile_decodes_it(written: tuple[str, Path, np.ndarray]) -> None:
    case, path, _ = written
    direct = CASES[case][3]
    store = _store(path)
    with tifffile.TiffFile(path) as tif, open(path, "rb") as f:
        for page, plane in zip(tif.pages, store.planes, strict=False):
            assert plane is not None
            for index, (offset, count) in enumerate(zip(page.dataoffsets, page.databytecounts, strict=True)):
                f.seek(offset)
                data = f.read(count)
                want, at, _ = page.decode(data, index)
                # where Direct applies it decodes every segment (the last, shorter strip too) itself
                codec = attrs.evolve(plane.codec, decode=_refuse) if direct else plane.codec
                got = tiles.decode(codec, memoryview(data), index, plane.jpegtables)
                assert got.dtype == want.dtype.newbyteorder("=") and got.shape == want.shape
                np.testing.assert_array_equal(got, want)
                assert tiles.origin(plane.codec, index) == tuple(at[:4])


def test_segments_close_in_the_file_are_read_together() -> None:
    places = [(1000, 100, 0), (1100, 50, 1), (1150 + tiles.GAP_BYTES + 1, 10, 2), (500, 20, 3)]
    assert tiles.runs(places) == [
        (500, 1150, [(500, 20, 3), (1000, 100, 0), (1100, 50, 1)]),
        (1150 + tiles.GAP_BYTES + 1, 1150 + tiles.GAP_BYTES + 11, [(1150 + tiles.GAP_BYTES + 1, 10, 2)]),
    ]
    big = [(0, tiles.RUN_BYTES - 10, 0), (tiles.RUN_BYTES - 10, 20, 1)]
    assert [len(members) for _, _, members in tiles.runs(big)] == [1, 1]  # no read beyond RUN_BYTES


def test_a_tile_decoding_to_more_than_its_size_is_a_read_error(tmp_path: Path) -> None:
    """A Zstandard frame of 64 MiB in place of a 32x32 tile: decoded with the tile's size as the limit
    (never the frame's own claim), it is a clear ReadError, not a 64 MiB allocation."""
    import struct

    import imagecodecs

    path = tmp_path / "bomb.tif"
    tifffile.imwrite(path, np.ones((64, 64), np.uint16), tile=(32, 32), compression="zstd", photometric="minisblack")
    bomb = imagecodecs.zstd_encode(bytes(64 * 2**20), level=3)
    data = bytearray(path.read_bytes())
    at = len(data)
    data += bomb
    with tifffile.TiffFile(path) as tif:
        tags = tif.pages[0].tags
        for name, value in (("TileOffsets", at), ("TileByteCounts", len(bomb))):
            tag = tags[name]
            struct.pack_into({3: "<H", 4: "<I", 16: "<Q"}[int(tag.dtype)], data, tag.valueoffset, value)
    path.write_bytes(bytes(data))
    (stack,) = stackio.load(path)
    assert stack._open().planes[0].codec.direct is not None
    tracemalloc.start()
    try:
        with pytest.raises(stackio.ReadError, match="Destination buffer is too small"):
            stack.extract_patch(0, None, (0, 0), (8, 8))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20
    np.testing.assert_array_equal(stack.extract_patch(0, None, (40, 40), (8, 8)), 1)  # the other tiles read
