"""Batched reads of TIFF series: equal to per-patch reads, and each tile or strip decoded once per batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import stackio
import stackio.batch
import tifffile


def _requests(shape: tuple[int, ...], size: tuple[int, ...], n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(-p // 2, s - p // 2, n) for s, p in zip(shape, size, strict=True)], axis=1)


@pytest.mark.parametrize(
    "write",
    [
        {"tile": (32, 32), "compression": "zlib"},
        {"rowsperstrip": 8, "compression": "zlib"},
        {"tile": (32, 32)},
        {},
    ],
    ids=["tiled-deflate", "strips-deflate", "tiled-raw", "contiguous"],
)
def test_batches_equal_patches_and_share_decodes(tmp_path: Path, write: dict) -> None:
    rng = np.random.default_rng(0)
    volume = rng.integers(0, 60000, (6, 2, 100, 90), dtype=np.uint16)
    path = tmp_path / "v.tif"
    tifffile.imwrite(path, volume, imagej=True, metadata={"axes": "ZCYX"}, **write)
    (stack,) = stackio.load(str(path))
    assert stack.data_shape == (1, 2, 6, 100, 90)
    size = (3, 20, 20)
    coords = _requests((6, 100, 90), size, 40, 1)
    coords = np.concatenate([coords, coords[:10]])  # repeated patches share every segment
    batch = stackio.batch.read_patches(stack, 0, coords, size)
    for i, c in enumerate(coords):
        np.testing.assert_array_equal(batch[i], stack.extract_patch(0, None, tuple(c), size))
    for channels in ([1], [1, 0]):
        picked = stackio.batch.read_patches(stack, 0, coords, size, channels)
        np.testing.assert_array_equal(picked, batch[:, channels])
    reader = stack._open()
    if "compression" in write:
        reader.stats.segments_decoded = 0
        stackio.batch.read_patches(stack, 0, coords, size)
        batched = reader.stats.segments_decoded
        reader.stats.segments_decoded = 0
        for c in coords:
            stack.extract_patch(0, None, tuple(c), size)
        assert 0 < batched < reader.stats.segments_decoded


def test_big_endian_and_2d_batches(tmp_path: Path) -> None:
    data = np.arange(5 * 64 * 48, dtype=">u2").reshape(5, 64, 48)
    path = tmp_path / "be.tif"
    tifffile.imwrite(path, data, tile=(16, 16), compression="zlib")
    (stack,) = stackio.load(str(path), "SYX")
    coords = _requests((64, 48), (16, 16), 30, 2)
    samples = np.random.default_rng(3).integers(0, 5, 30)
    batch = stackio.batch.read_patches(stack, samples, coords, (16, 16))
    assert batch.dtype == np.dtype("=u2")
    for i, (s, c) in enumerate(zip(samples, coords, strict=True)):
        np.testing.assert_array_equal(batch[i], stack.extract_patch(int(s), None, tuple(c), (16, 16)))


def _pages_with_gaps(path: Path, data: np.ndarray, **options: object) -> Path:
    """Uncompressed pages written one by one with descriptions of growing length between them, so the
    series is not one contiguous block: read page by page (`PlaneStore`), each page from the map."""
    with tifffile.TiffWriter(path, byteorder=">") as writer:
        for i, page in enumerate(data):
            writer.write(page, contiguous=False, metadata=None, description="gap" * (5 + 7 * i), **options)
    return path


@pytest.mark.parametrize("reads", ["map", "window"])
def test_batches_of_uncompressed_pages_with_gaps_equal_tifffile(tmp_path: Path, reads: str) -> None:
    rng = np.random.default_rng(4)
    grey = _pages_with_gaps(tmp_path / "grey.tif", rng.integers(0, 60000, (12, 40, 50)).astype(np.uint16))
    rgb = _pages_with_gaps(tmp_path / "rgb.tif", rng.integers(0, 255, (5, 30, 40, 3), np.uint8), photometric="rgb")
    planar = _pages_with_gaps(
        tmp_path / "planar.tif",
        rng.integers(0, 255, (5, 3, 30, 40), np.uint8),
        photometric="rgb",
        planarconfig="separate",
    )
    cases = [
        (grey, "ZYX", lambda a: a[None, None]),
        (grey, "SYX", lambda a: a[:, None]),
        (rgb, "SYXC", lambda a: np.moveaxis(a, -1, 1)),
        (planar, "SCYX", lambda a: a),
    ]
    stackio.set_file_reads(reads)  # type: ignore[arg-type]
    try:
        for path, axes, arranged in cases:
            (stack,) = stackio.load(str(path), axes)
            store = stack._open()
            assert type(store).__name__ == "PlaneStore", (path, store)  # page by page, each from the map
            assert store.planes[0].codec.raw_dtype in (np.dtype(">u2"), np.dtype("u1")), store.planes[0].codec
            expected = arranged(tifffile.imread(path))
            assert expected.shape == stack.data_shape, (path, expected.shape)
            spatial = stack.data_shape[2:]
            size = tuple(min(n, 3 + 5 * k) for k, n in enumerate(spatial))
            coords = _requests(spatial, size, 30, 5)
            coords = np.concatenate([coords, coords[:6]])  # repeated patches
            samples = rng.integers(0, stack.data_shape[0], len(coords))
            channels = None if stack.data_shape[1] == 1 else [2, 0]
            batch = stackio.batch.read_patches(stack, samples, coords, size, channels)
            assert batch.dtype == np.dtype(expected.dtype).newbyteorder("=")
            for i, (s, c) in enumerate(zip(samples, coords, strict=True)):
                want = np.zeros((expected.shape[1], *size), expected.dtype)
                src = tuple(slice(max(a, 0), min(a + p, n)) for a, p, n in zip(c, size, spatial, strict=True))
                dst = tuple(slice(r.start - a, r.stop - a) for r, a in zip(src, c, strict=True))
                want[(slice(None), *dst)] = expected[int(s)][(slice(None), *src)]
                want = want if channels is None else want[channels]
                np.testing.assert_array_equal(batch[i], want, err_msg=f"{path.name} {axes} patch {i}")
                np.testing.assert_array_equal(batch[i], stack.extract_patch(int(s), channels, tuple(c), size))
            stack.close()
    finally:
        stackio.set_file_reads(None)
