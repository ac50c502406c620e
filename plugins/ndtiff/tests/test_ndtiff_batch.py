"""Batched reads of NDTiff datasets (`stackio.read_patches`): equal to ndstorage's pixels and to per-patch
reads, across several stack files, with missing images, repeated and overlapping patches, and windows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import stackio
from ndtiff_helpers import arrange, reference_array
from stackio_ndtiff.samples import scene, write_ndtiff


@pytest.fixture(scope="module")
def several_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A z stack of 12 planes x 2 channels spread over several stack files."""
    import ndstorage.ndtiff_file

    # ndstorage starts a new stack file near 4 GB; a small limit makes it start one every few images
    limit = ndstorage.ndtiff_file.MAX_FILE_SIZE
    ndstorage.ndtiff_file.MAX_FILE_SIZE = 3_000_000
    try:
        images = [
            ({"z": z, "channel": name}, scene(96, 112, seed=10 * z + c))
            for z in range(12)
            for c, name in enumerate(("DAPI", "GFP"))
        ]
        folder = write_ndtiff(tmp_path_factory.mktemp("ndtiff") / "several", images, {})
    finally:
        ndstorage.ndtiff_file.MAX_FILE_SIZE = limit
    assert len(list(folder.glob("*.tif"))) >= 3
    return folder


def _requests(rng: np.random.Generator, n: int, spatial: tuple[int, ...], size: tuple[int, ...]) -> np.ndarray:
    """N corners, some reaching past the edges, the first four repeated at the end."""
    corners = np.stack([rng.integers(-(p // 2), s - p // 2, n) for s, p in zip(spatial, size, strict=True)], axis=1)
    return np.concatenate([corners, corners[:4]])


def _expected(reference: np.ndarray, samples: np.ndarray, corners: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """The patches cut from an SC(Z)YX array, zeros outside it."""
    out = np.zeros((len(corners), reference.shape[1], *size), reference.dtype)
    spatial = reference.shape[2:]
    for i, (s, corner) in enumerate(zip(samples, corners, strict=True)):
        src = tuple(slice(max(a, 0), min(a + p, n)) for a, p, n in zip(corner, size, spatial, strict=True))
        dst = tuple(slice(r.start - a, r.stop - a) for r, a in zip(src, corner, strict=True))
        out[(i, slice(None), *dst)] = reference[int(s)][(slice(None), *src)]
    return out


@pytest.mark.parametrize("reads", ["map", "window"])
def test_batches_spanning_several_stack_files_equal_ndstorage(several_files: Path, reads: str) -> None:
    ref, names = reference_array(several_files, stitched=False)
    stackio.set_file_reads(reads)  # type: ignore[arg-type]
    try:
        deep = stackio.load(several_files)[0]
        flat = stackio.load(several_files, "SCYX")[0]
        rng = np.random.default_rng(3)
        expected = arrange(ref, names, deep)
        assert deep.data_shape == (1, 2, 12, 96, 112)
        for size in ((12, 16, 20), (5, 96, 112), (1, 7, 9)):  # every plane, whole planes, thin patches
            corners = _requests(rng, 20, deep.data_shape[2:], size)
            samples = np.zeros(len(corners), dtype=int)
            want = _expected(expected, samples, corners, size)
            np.testing.assert_array_equal(stackio.read_patches(deep, 0, corners, size), want)
            np.testing.assert_array_equal(stackio.read_patches(deep, 0, corners, size, [1]), want[:, 1:])
        reader = deep._open()
        assert reader.files_opened == len(list(several_files.glob("*.tif")))  # a 12-plane patch reads them all
        planes = arrange(ref, names, flat)
        corners = _requests(rng, 40, flat.data_shape[2:], (32, 32))
        samples = rng.integers(0, flat.data_shape[0], len(corners))
        batch = stackio.read_patches(flat, samples, corners, (32, 32), [1, 0])
        np.testing.assert_array_equal(batch, _expected(planes, samples, corners, (32, 32))[:, [1, 0]])
        pairs = zip(samples, corners, strict=True)
        one_by_one = [flat.extract_patch(int(s), [1, 0], tuple(c), (32, 32)) for s, c in pairs]
        np.testing.assert_array_equal(batch, np.stack(one_by_one))
    finally:
        stackio.set_file_reads(None)


def test_batches_read_missing_images_as_zeros_in_every_plane(tmp_path: Path) -> None:
    # planes z=1 of channel 0 and z=2 of channel 1 were never acquired
    images = [
        ({"z": z, "channel": c}, scene(30, 40, seed=z + 5 * c))
        for z in range(4)
        for c in range(2)
        if (z, c) not in ((1, 0), (2, 1))
    ]
    folder = write_ndtiff(tmp_path / "gaps", images, {})
    stack = stackio.load(folder)[0]
    assert stack.data_shape == (1, 2, 4, 30, 40)
    corners = np.array([(0, 0, 0), (0, 5, 7), (-1, -3, 30), (1, 10, 10), (0, 0, 0)])
    batch = stackio.read_patches(stack, 0, corners, (4, 12, 14))
    want = np.stack([stack.extract_patch(0, None, tuple(c), (4, 12, 14)) for c in corners])
    np.testing.assert_array_equal(batch, want)
    for i, (z0, _, _) in enumerate(corners):
        for dz in range(4):
            for c in range(2):
                missing = (z0 + dz, c) in ((1, 0), (2, 1)) or not 0 <= z0 + dz < 4
                assert batch[i, c, dz].any() != missing, (i, c, dz)
