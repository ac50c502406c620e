"""Samplers, tilers and the stitcher (`stackio.sampling`): reproducibility, masks, coverage, stitching."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import stackio
import tifffile
from stackio.sampling import GridTiles, RandomPatches, Resident, Stitcher, check_pairs, predict_tiled


def _stacks() -> list:
    rng = np.random.default_rng(0)
    a = stackio.load(rng.integers(0, 255, (3, 2, 40, 50), dtype=np.uint8), "SCYX")[0]
    b = stackio.load(rng.integers(0, 255, (1, 2, 100, 80), dtype=np.uint8), "SCYX")[0]
    return [a, b]


def test_requests_depend_on_seed_epoch_and_index_only() -> None:
    stacks = _stacks()
    one = RandomPatches(stacks, (16, 16), 200, seed=3)
    other = RandomPatches(stacks, (16, 16), 200, seed=3)
    # read in any order, as workers do, the requests are the same
    assert [other[i] for i in reversed(range(200))][::-1] == list(one)
    # a pickled copy (what a spawned worker gets) agrees too
    assert list(pickle.loads(pickle.dumps(one))) == list(one)
    assert list(RandomPatches(stacks, (16, 16), 200, seed=4)) != list(one)
    first = list(one)
    one.set_epoch(1)
    assert list(one) != first
    one.set_epoch(0)
    assert list(one) == first


def test_uniform_over_voxels_and_weighted() -> None:
    stacks = _stacks()
    n = 20000
    table = RandomPatches(stacks, (16, 16), n, seed=1).table()
    positions = [3 * 25 * 35, 1 * 85 * 65]  # corner positions per stack
    share = np.bincount(table["stack"], minlength=2) / n
    np.testing.assert_allclose(share, np.array(positions) / sum(positions), atol=0.02)
    coords = table["coords"][table["stack"] == 1]
    assert coords.min(axis=0).tolist() == [0, 0] and coords.max(axis=0).tolist() == [84, 64]
    weighted = RandomPatches(stacks, (16, 16), n, seed=1, weights=[3, 1]).table()
    np.testing.assert_allclose(np.bincount(weighted["stack"]) / n, [0.75, 0.25], atol=0.02)
    samples = table["sample"][table["stack"] == 0]
    assert set(samples.tolist()) == {0, 1, 2}


def test_mask_fraction_is_honoured() -> None:
    stack = _stacks()[1]
    mask = np.zeros((100, 80), bool)
    mask[10:40, 20:70] = True
    mask[80:90, 0:5] = True  # too small to hold half a 16x16 patch
    sampler = RandomPatches([stack], (16, 16), 2000, seed=0, masks=[mask], min_fraction=0.5)
    for request in sampler:
        y, x = request.coords
        assert mask[y : y + 16, x : x + 16].mean() >= 0.5
    # every allowed corner can be drawn: the extremes of the allowed region are reached
    coords = sampler.table()["coords"]
    assert coords[:, 0].min() == 2 and coords[:, 0].max() == 32  # 8 of 16 rows inside 10..40
    with_any = RandomPatches([stack], (16, 16), 2000, seed=0, masks=[mask])
    fractions = [mask[r.coords[0] : r.coords[0] + 16, r.coords[1] : r.coords[1] + 16].mean() for r in with_any]
    assert min(fractions) > 0 and any(f < 0.5 for f in fractions)


def test_mask_as_a_stack_and_foreground(tmp_path: Path) -> None:
    data = np.zeros((2, 30, 30), np.uint16)
    data[1, 5:15, 5:15] = 7
    path = tmp_path / "labels.tif"
    tifffile.imwrite(path, data)
    (labels,) = stackio.load(str(path), "SYX")
    (image,) = stackio.load(np.ones((2, 30, 30), np.float32), "SYX")
    sampler = RandomPatches([image], (8, 8), 500, masks=[labels], min_fraction=1.0)
    assert {r.sample for r in sampler} == {1}
    for r in sampler:
        assert 5 <= r.coords[0] <= 7 and 5 <= r.coords[1] <= 7


def test_bad_sampler_input_is_refused() -> None:
    stacks = _stacks()
    with pytest.raises(stackio.ValidationError, match="larger than its spatial shape"):
        RandomPatches(stacks, (64, 64), 10)
    with pytest.raises(stackio.ValidationError, match="no position where"):
        RandomPatches(stacks[:1], (16, 16), 10, masks=[np.zeros((40, 50), bool)])
    with pytest.raises(stackio.ValidationError, match="no position where"):
        RandomPatches(stacks[:1], (16, 16), 10, masks=[np.eye(40, 50, dtype=bool)], min_fraction=0.5)
    with pytest.raises(stackio.ValidationError, match="mask of stack 0"):
        RandomPatches(stacks[:1], (16, 16), 10, masks=[np.ones((41, 50), bool)])
    with pytest.raises(stackio.ValidationError, match="one finite, non-negative number per stack"):
        RandomPatches(stacks, (16, 16), 10, weights=[1])
    with pytest.raises(stackio.ValidationError, match="has 3 values; give one size per spatial axis"):
        RandomPatches(stacks, (4, 16, 16), 10)
    with pytest.raises(stackio.ValidationError, match="n_patches"):
        RandomPatches(stacks, (16, 16), 0)
    a, b = stacks
    with pytest.raises(stackio.ValidationError, match="pair 0: input .* same samples and spatial shape"):
        check_pairs([(a, b)])
    check_pairs([(a, a)])


@pytest.mark.parametrize("overlap", [0, 3, (2, 7, 5)])
def test_tiles_cover_every_voxel_once_borders_included(overlap: int | tuple) -> None:
    rng = np.random.default_rng(2)
    shapes = [(2, 1, 23, 61, 47), (1, 1, 9, 16, 16), (1, 1, 5, 12, 100)]
    stacks = [stackio.load(rng.random(s[:1] + s[2:], dtype=np.float32), "SZYX")[0] for s in shapes]
    tiler = GridTiles(stacks, (8, 16, 16), overlap)
    for k, stack in enumerate(stacks):
        for sample in range(stack.data_shape[0]):
            count = np.zeros(stack.data_shape[2:], np.int32)
            for tile in tiler:
                if tile.stack == k and tile.sample == sample:
                    count[tile.keep_image] += 1
                    kept = [s.stop - s.start for s in tile.keep_tile]
                    assert kept == [s.stop - s.start for s in tile.keep_image]
            assert count.min() == 1 and count.max() == 1, (k, sample)


def test_identity_prediction_stitches_back_the_input(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    volume = rng.integers(0, 60000, (2, 21, 70, 53), dtype=np.uint16)
    path = tmp_path / "v.tif"
    tifffile.imwrite(path, volume, imagej=True, metadata={"axes": "TZYX"})
    (stack,) = stackio.load(str(path))
    (small,) = stackio.load(rng.random((5, 6, 7), dtype=np.float32), "ZYX")  # smaller than a tile
    outs = predict_tiled([stack, small], lambda b: b.astype(np.float32), (8, 32, 32), (2, 6, 6), batch_size=5)
    np.testing.assert_array_equal(outs[0][:, 0], volume.astype(np.float32))
    np.testing.assert_array_equal(outs[1][0, 0], small.extract_patch(0, None, (0, 0, 0), (5, 6, 7))[0])


class PatchWriter:
    """A destination with write_patch, as a streaming writer offers."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.data = np.full(shape, -1.0, np.float32)
        self.calls = 0

    def write_patch(self, sample_idx: int, coords: tuple[int, ...], block: np.ndarray) -> None:
        region = tuple(slice(c, c + n) for c, n in zip(coords, block.shape[1:], strict=True))
        self.data[(sample_idx, slice(None), *region)] = block
        self.calls += 1


def test_stitcher_writes_through_write_patch() -> None:
    rng = np.random.default_rng(4)
    (stack,) = stackio.load(rng.random((3, 2, 50, 45), dtype=np.float32), "SCYX")
    tiler = GridTiles([stack], (16, 16), 4)
    writer = PatchWriter(stack.data_shape)
    stitcher = Stitcher([writer])
    for tiles in tiler.batches(4):
        batch = stackio.batch.read_patches(stack, [t.sample for t in tiles], [t.coords for t in tiles], (16, 16))
        stitcher.add_batch(tiles, batch)
    assert writer.calls == len(tiler)
    whole = stackio.batch.read_patches(stack, [0, 1, 2], [(0, 0)] * 3, (50, 45))
    np.testing.assert_array_equal(writer.data, whole)
    with pytest.raises(stackio.ValidationError, match="prediction of shape"):
        stitcher.add(tiler[0], np.zeros((16, 16)))


def test_resident_holds_a_bounded_number_of_stacks(tmp_path: Path) -> None:
    paths = []
    for i in range(4):
        paths.append(tmp_path / f"f{i}.tif")
        tifffile.imwrite(paths[-1], np.full((20, 20), i, np.uint8))
    stacks = stackio.load([str(p) for p in paths], "YX", in_memory=False)
    resident = Resident(stacks, max_resident=2)
    sampler = RandomPatches(stacks, (8, 8), 40, grouped=True)
    seen = []
    for request in sampler:
        stack = resident[request.stack]
        assert len(resident.held) <= 2
        patch = stack.extract_patch(request.sample, None, request.coords, request.size)
        assert (patch == request.stack).all()
        if not seen or seen[-1] != request.stack:
            seen.append(request.stack)
    assert sorted(seen) == sorted(set(seen))  # grouped: each stack's requests come together
    resident.clear()
    assert resident.held == []


def test_stitching_into_a_streaming_writer(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    volume = rng.integers(0, 4000, (1, 2, 9, 70, 61), dtype=np.uint16)
    (stack,) = stackio.load(volume, "SCZYX")
    dest = tmp_path / "restored.ome.zarr"
    with stackio.create(dest, volume.shape, volume.dtype, "SCZYX") as writer:
        predict_tiled([stack], lambda b: b, (4, 32, 32), (1, 8, 8), targets=[writer])
    (written,) = stackio.load(str(dest))
    assert written.data_shape == volume.shape
    np.testing.assert_array_equal(written.read_patches([0], [(0, 0, 0)], (9, 70, 61)), volume)
