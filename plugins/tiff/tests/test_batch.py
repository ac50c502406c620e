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
