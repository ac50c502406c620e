"""Batched reads in the window read mode (`stackio.readmode`) keep the process's RSS flat: a batch maps only
each patch's bytes, never the whole file, however much of the file the batches cover."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stackio

#: The file's pixels: 64 MiB of uint16, read whole in batches of 64 patches of 128 x 128.
SHAPE = (16, 1024, 2048)
PATCH = (128, 128)


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.fixture(scope="module")
def volume() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 60000, SHAPE, dtype=np.uint16)


def _write(fmt: str, folder: Path, volume: np.ndarray) -> tuple[str, str]:
    if fmt == "tiff":
        import tifffile

        path = folder / "big.tif"
        tifffile.imwrite(path, volume)  # uncompressed, contiguous: read through a map of the file
        return str(path), "SYX"
    from stackio_ndtiff.samples import write_ndtiff

    path = write_ndtiff(folder / "big", [({"z": z}, plane) for z, plane in enumerate(volume)], {})
    return str(path), "SCYX"


def _batches(volume: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(samples, corners) of batches of 64 patches tiling every pixel of the volume."""
    grid = [
        (z, y, x) for z in range(SHAPE[0]) for y in range(0, SHAPE[1], PATCH[0]) for x in range(0, SHAPE[2], PATCH[1])
    ]
    for at in range(0, len(grid), 64):
        chunk = np.array(grid[at : at + 64])
        yield chunk[:, 0], chunk[:, 1:]


def _growth(stack: Any, volume: np.ndarray) -> int:
    """How far RSS rose above its start while batches read the whole file (pixels checked as they come)."""
    start = peak = rss()
    for samples, corners in _batches(volume):
        batch = stackio.read_patches(stack, samples, corners, PATCH)
        z, y, x = int(samples[-1]), int(corners[-1, 0]), int(corners[-1, 1])
        np.testing.assert_array_equal(batch[-1, 0], volume[z, y : y + PATCH[0], x : x + PATCH[1]])
        del batch
        peak = max(peak, rss())
    return peak - start


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="RSS is read from /proc/self/statm")
@pytest.mark.parametrize("fmt", ["tiff", "ndtiff"])
def test_window_reads_keep_rss_flat_in_batches(fmt: str, tmp_path: Path, volume: np.ndarray) -> None:
    source, axes = _write(fmt, tmp_path, volume)
    try:
        stackio.set_file_reads("window")
        (stack,) = stackio.load(source, axes)
        windowed = _growth(stack, volume)
        stack.close()
        # the control: with whole-file maps the same batches leave the file's pages resident
        stackio.set_file_reads("map")
        (stack,) = stackio.load(source, axes)
        mapped = _growth(stack, volume)
        stack.close()
    finally:
        stackio.set_file_reads(None)
    file_bytes = volume.nbytes
    assert mapped > file_bytes // 2, (mapped, windowed)
    assert windowed < file_bytes // 8, (mapped, windowed)
