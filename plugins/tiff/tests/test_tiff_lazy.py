"""Laziness, shown structurally: what a patch read decodes, maps and allocates, and the files it holds open."""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import stackio
import tifffile
from stackio.openfiles import POOL as MAPS
from stackio_tiff.pages import MemmapStore, PlaneStore

BIG = 10_000
TILE = 256


def _tile_value(ty: int, tx: int) -> int:
    return (ty * 41 + tx * 7) % 251


def _tiles() -> Iterator[np.ndarray]:
    ramp = (np.arange(TILE, dtype=np.uint16)[:, None] + np.arange(TILE, dtype=np.uint16)) % 5
    for ty in range(-(-BIG // TILE)):
        for tx in range(-(-BIG // TILE)):
            yield (ramp + _tile_value(ty, tx)).astype(np.uint8)


def _expected(y: int, x: int, h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[y : y + h, x : x + w]
    return ((yy % TILE + xx % TILE) % 5 + (yy // TILE * 41 + xx // TILE * 7) % 251).astype(np.uint8)


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "big_tiled_zstd.tif"
    tifffile.imwrite(
        path,
        _tiles(),
        shape=(BIG, BIG),
        dtype=np.uint8,
        tile=(TILE, TILE),
        compression="zstd",
        photometric="minisblack",
    )
    return path


def test_patch_of_10000x10000_tiled_image_decodes_one_tile(big: Path) -> None:
    (stack,) = stackio.load(big)
    assert stack.data_shape == (1, 1, BIG, BIG)
    store = stack._open()
    assert isinstance(store, PlaneStore)
    tracemalloc.start()
    try:
        patch = stack.extract_patch(0, None, (5000, 7000), (64, 64))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(patch[0], _expected(5000, 7000, 64, 64))
    assert store.stats.segments_decoded == 1  # of 1600 tiles
    assert peak < 2_000_000  # the whole image is 100 MB; one decoded tile is 64 KiB
    # a patch across a tile corner decodes the four tiles it touches, and no other
    patch = stack.extract_patch(0, None, (TILE * 20 - 10, TILE * 30 - 10), (20, 20))
    np.testing.assert_array_equal(patch[0], _expected(TILE * 20 - 10, TILE * 30 - 10, 20, 20))
    assert store.stats.segments_decoded == 1 + 4


def test_edge_patch_of_big_image_is_zero_filled(big: Path) -> None:
    (stack,) = stackio.load(big)
    patch = stack.extract_patch(0, None, (BIG - 10, BIG - 12), (64, 64))  # inside the last tile
    assert patch.shape == (1, 64, 64)
    np.testing.assert_array_equal(patch[0, :10, :12], _expected(BIG - 10, BIG - 12, 10, 12))
    assert not patch[0, 10:].any() and not patch[0, :, 12:].any()
    assert stack._open().stats.segments_decoded == 1


@pytest.fixture(scope="module")
def whole_plane_strips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    data = np.random.default_rng(1).integers(0, 60000, (30, 256, 256), dtype=np.uint16)
    path = tmp_path_factory.mktemp("strips") / "plane_strips_zlib.tif"
    tifffile.imwrite(
        path, data, compression="zlib", rowsperstrip=256, photometric="minisblack", metadata={"axes": "ZYX"}
    )
    return path, data


def test_plane_spanning_strips_read_only_the_planes_needed(whole_plane_strips: tuple[Path, np.ndarray]) -> None:
    path, data = whole_plane_strips
    assert tifffile.TiffFile(path).pages[0].databytecounts.__len__() == 1  # one strip holds a whole plane
    (stack,) = stackio.load(path)
    store = stack._open()
    patch = stack.extract_patch(0, None, (7, 100, 100), (1, 32, 32))
    np.testing.assert_array_equal(patch[0], data[7:8, 100:132, 100:132])
    assert (store.stats.planes_read, store.stats.segments_decoded) == (1, 1)
    patch = stack.extract_patch(0, None, (10, 0, 0), (3, 8, 8))
    np.testing.assert_array_equal(patch[0], data[10:13, :8, :8])
    assert (store.stats.planes_read, store.stats.segments_decoded) == (4, 4)


def test_uncompressed_contiguous_data_is_a_memory_map_slice(tmp_path: Path) -> None:
    data = np.random.default_rng(2).integers(0, 60000, (32, 512, 512), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "stack.tif", data, photometric="minisblack", metadata={"axes": "ZYX"})
    (stack,) = stackio.load(tmp_path / "stack.tif")
    store = stack._open()
    assert isinstance(store, MemmapStore)
    tracemalloc.start()
    try:
        patch = stack.extract_patch(0, None, (10, 100, 200), (4, 64, 64))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(patch[0], data[10:14, 100:164, 200:264])
    assert store.stats.bytes_read == patch.nbytes  # only the patch's bytes were touched
    assert peak < 4 * patch.nbytes + 100_000


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to count open files")
def test_many_lazy_stacks_hold_a_bounded_number_of_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    for i in range(120):
        tifffile.imwrite(
            tmp_path / f"f{i}.tif",
            rng.integers(0, 255, (16, 16), dtype=np.uint8),
            compression="zlib" if i % 2 else None,
        )
    limit, MAPS.limit = MAPS.limit, 10
    try:
        stacks = stackio.load(tmp_path)
        before = _open_fds()
        for _ in range(2):
            for i, stack in enumerate(stacks):
                np.testing.assert_array_equal(
                    stack.extract_patch(0, None, (0, 0), (16, 16))[0], tifffile.imread(tmp_path / f"f{i}.tif")
                )
        assert _open_fds() - before <= 10
        assert len(MAPS) <= 10
    finally:
        MAPS.limit = limit


def test_threads_reading_one_stack_agree_with_sequential_reads(big: Path) -> None:
    (stack,) = stackio.load(big)
    requests = [(int(y), int(x)) for y, x in np.random.default_rng(4).integers(0, BIG - 100, (64, 2))]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda c: stack.extract_patch(0, None, c, (100, 100)), requests))
    for (y, x), patch in zip(requests, got, strict=True):
        np.testing.assert_array_equal(patch[0], _expected(y, x, 100, 100))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_worker_reads_after_the_parent_used_its_thread_pool(big: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing

    from stackio_tiff import pages

    monkeypatch.setattr(pages, "PARALLEL_SEGMENTS", 8)  # use the pool even on a machine with few cores
    (stack,) = stackio.load(big)
    stack.extract_patch(0, None, (0, 0), (2000, 2000))  # many tiles: the decoding pool starts
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:  # a data-loader worker started by fork
        patch = pool.apply_async(stack.extract_patch, (0, None, (3000, 3000), (1000, 1000))).get(timeout=60)
    np.testing.assert_array_equal(patch[0], _expected(3000, 3000, 1000, 1000))
