"""Batched reads of CZI scenes: equal to per-patch reads, with fewer pylibCZIrw reads than patches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import stackio
from stackio_czi.samples import write_rgb, write_scenes_zc


def test_batches_equal_patches_with_fewer_reads(tmp_path: Path) -> None:
    path = tmp_path / "scenes.czi"
    write_scenes_zc(path)
    stacks = stackio.load(str(path), "SCZYX")
    rng = np.random.default_rng(0)
    for stack in stacks:
        size = (2, 16, 16)
        coords = np.stack([rng.integers(-1, 4, 40), rng.integers(-8, 40, 40), rng.integers(-8, 56, 40)], axis=1)
        for channels in (None, [1], [1, 0]):
            batch = stack.read_patches(0, coords, size, channels)
            for i, c in enumerate(coords):
                np.testing.assert_array_equal(batch[i], stack.extract_patch(0, channels, tuple(c), size))
        reader = stack._open()
        before = reader.reads
        stack.read_patches(0, coords, size)
        batched = reader.reads - before
        before = reader.reads
        for c in coords:
            stack.extract_patch(0, None, tuple(c), size)
        assert batched < reader.reads - before


def test_rgb_batches(tmp_path: Path) -> None:
    path = tmp_path / "rgb.czi"
    write_rgb(path)
    (stack,) = stackio.load(str(path))
    coords = np.random.default_rng(1).integers(-4, 36, (20, 2))
    for channels in (None, [2, 0]):
        batch = stack.read_patches(0, coords, (10, 12), channels)
        for i, c in enumerate(coords):
            np.testing.assert_array_equal(batch[i], stack.extract_patch(0, channels, tuple(c), (10, 12)))
