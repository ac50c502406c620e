"""`stackio.torch` with real PyTorch DataLoaders: fork, spawn and forkserver workers, a parent thread reading
while workers fork, batches equal to direct batched reads, worker shares, and a file workers cannot reopen."""

from __future__ import annotations

import collections
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import stackio
from stackio.batch import read_patches
from stackio.sampling import GridTiles, RandomPatches

torch = pytest.importorskip("torch")
st = pytest.importorskip("stackio.torch")

CONTEXTS = ["fork", "spawn", "forkserver"]


def test_import_stackio_does_not_import_torch() -> None:
    code = "import sys, stackio, stackio.sampling, stackio.batch; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import tifffile
    import zarr

    root = tmp_path_factory.mktemp("torch")
    # every voxel holds a unique value, so a patch's first voxel tells where it was read
    volume = np.arange(3 * 2 * 60 * 70, dtype=np.int32).reshape(3, 2, 60, 70)
    tifffile.imwrite(root / "v.tif", volume, imagej=False, tile=(32, 32), compression="zlib")
    array = zarr.create_array(str(root / "v.zarr"), shape=volume.shape, chunks=(1, 2, 32, 32), dtype=volume.dtype)
    array[:] = volume
    target = (volume * 2).astype(np.int32)
    tifffile.imwrite(root / "target.tif", target)
    return {"tiff": root / "v.tif", "zarr": root / "v.zarr", "target": root / "target.tif"}


def _stacks(files: dict[str, Path]) -> list:
    return stackio.load(str(files["tiff"]), "SCYX") + stackio.load(str(files["zarr"]), "SCYX")


def _expected(sampler: RandomPatches, stacks: list) -> np.ndarray:
    t = sampler.table()
    out = []
    for i in range(len(sampler)):
        k = int(t["stack"][i])
        out.append(read_patches(stacks[k], [t["sample"][i]], t["coords"][i : i + 1], sampler.patch_size)[0])
    return np.stack(out)


@pytest.mark.parametrize("context", CONTEXTS)
def test_map_dataset_batches_equal_direct_reads_in_workers(files: dict[str, Path], context: str) -> None:
    stacks = _stacks(files)
    for stack in stacks:  # the parent has read (and opened) every file before the workers start
        stack.extract_patch(0, None, (0, 0), (4, 4))
    sampler = RandomPatches(stacks, (16, 16), 96, seed=5)
    dataset = st.PatchDataset(sampler, dtype=torch.float32)
    want = torch.from_numpy(_expected(sampler, stacks).astype(np.float32))
    got = torch.cat(list(st.loader(dataset, 16, num_workers=2, multiprocessing_context=context, timeout=120)))
    assert torch.equal(got, want)
    assert torch.equal(torch.cat(list(st.loader(dataset, 16, num_workers=0))), want)
    assert torch.equal(dataset[3], want[3])


def test_shuffled_batches_and_pairs(files: dict[str, Path]) -> None:
    pairs = stackio.load_pairs(str(files["tiff"]), str(files["target"]), "SCYX")
    sampler = RandomPatches([a for a, _ in pairs], (8, 12), 40, seed=1)
    dataset = st.PatchDataset(sampler, pairs=pairs)
    seen = 0
    for inputs, targets in st.loader(dataset, 8, shuffle=True, num_workers=0):
        assert inputs.shape == (8, 2, 8, 12) and inputs.dtype == torch.int32
        assert torch.equal(targets, inputs * 2)
        seen += len(inputs)
    assert seen == 40


def test_a_parent_thread_reading_while_workers_fork(files: dict[str, Path]) -> None:
    stacks = _stacks(files)
    sampler = RandomPatches(stacks, (16, 16), 64, seed=2)
    dataset = st.PatchDataset(sampler)
    want = torch.from_numpy(_expected(sampler, stacks))
    stop = threading.Event()
    reads = [0]

    def read_forever() -> None:
        rng = np.random.default_rng(0)
        while not stop.is_set():
            for stack in stacks:
                read_patches(stack, rng.integers(0, 3, 8), rng.integers(0, 40, (8, 2)), (16, 16))
                reads[0] += 1

    thread = threading.Thread(target=read_forever, daemon=True)
    thread.start()
    try:
        for _ in range(3):  # several rounds of forking while the thread holds readers' locks now and then
            batches = st.loader(dataset, 8, num_workers=2, multiprocessing_context="fork", timeout=120)
            assert torch.equal(torch.cat(list(batches)), want)
    finally:
        stop.set()
        thread.join(30)
    assert reads[0] > 0


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_iterable_workers_share_the_requests(files: dict[str, Path], context: str) -> None:
    stacks = stackio.load(str(files["tiff"]), "SCYX")
    sampler = RandomPatches(stacks, (10, 10), 101, seed=9, grouped=True)
    dataset = st.IterablePatchDataset(sampler, batch_size=16, max_resident=1)
    loader = st.loader(dataset, num_workers=2, multiprocessing_context=context, timeout=120)
    batches = list(loader)
    got = torch.cat(batches)
    assert got.shape == (101, 2, 10, 10)
    t = sampler.table()
    # the first voxel of channel 0 names (sample, y, x) uniquely
    corners = zip(t["sample"], t["coords"], strict=True)
    want = collections.Counter(int(s * 2 * 60 * 70 + y * 70 + x) for s, (y, x) in corners)
    assert collections.Counter(got[:, 0, 0, 0].tolist()) == want


def test_tiles_through_a_dataset(files: dict[str, Path]) -> None:
    stacks = stackio.load(str(files["zarr"]), "SCYX")
    tiler = GridTiles(stacks, (32, 32), 8)
    dataset = st.PatchDataset(tiler)
    tiles = list(tiler)
    for k, batch in enumerate(st.loader(dataset, 5, num_workers=0)):
        for j, patch in enumerate(batch):
            tile = tiles[k * 5 + j]
            want = stacks[0].extract_patch(tile.sample, None, tile.coords, tile.size)
            np.testing.assert_array_equal(patch.numpy(), want)


def test_workers_that_cannot_reopen_a_file_fail_clearly(tmp_path: Path) -> None:
    import tifffile

    path = tmp_path / "gone.tif"
    tifffile.imwrite(path, np.zeros((2, 40, 40), np.uint16), tile=(16, 16), compression="zlib")
    stacks = stackio.load(str(path), "SYX")
    dataset = st.PatchDataset(RandomPatches(stacks, (8, 8), 8))
    path.unlink()
    iterator = iter(st.loader(dataset, 4, num_workers=2, multiprocessing_context="spawn", timeout=120))
    try:
        with pytest.raises(stackio.ReadError, match="gone.tif"):
            list(iterator)
    finally:
        # a failed iterator kept alive (by the traceback) leaves its dead workers registered with torch's
        # SIGCHLD handler, which then raises in whatever later code sees a child process exit
        iterator._shutdown_workers()  # type: ignore[attr-defined]


def test_bad_dataset_input() -> None:
    a = stackio.load(np.zeros((2, 3, 20, 20), np.uint8), "SCYX")[0]
    b = stackio.load(np.zeros((2, 1, 20, 20), np.uint8), "SCYX")[0]
    with pytest.raises(stackio.ValidationError, match="different numbers of channels"):
        st.PatchDataset(RandomPatches([a, b], (8, 8), 4))
    st.PatchDataset(RandomPatches([a, b], (8, 8), 4), channels=[0])
    c = stackio.load(np.zeros((2, 1, 20, 21), np.uint8), "SCYX")[0]
    with pytest.raises(stackio.ValidationError, match="same samples and spatial shape"):
        st.PatchDataset(RandomPatches([b], (8, 8), 4), pairs=[(b, c)])
    with pytest.raises(stackio.ValidationError, match="batch_size"):
        st.loader(st.PatchDataset(RandomPatches([b], (8, 8), 4)))


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_set_epoch_reaches_persistent_workers(files: dict[str, Path], context: str) -> None:
    """Persistent workers (CAREamics turns them on) keep their dataset copy between epochs."""
    stacks = _stacks(files)
    sampler = RandomPatches(stacks, (16, 16), 48, seed=4)
    dataset = st.PatchDataset(sampler)
    want = []
    for epoch in range(3):
        sampler.set_epoch(epoch)
        want.append(torch.from_numpy(_expected(sampler, stacks)))
    assert not torch.equal(want[0], want[1])
    sampler.set_epoch(0)
    options = {"num_workers": 2, "multiprocessing_context": context, "persistent_workers": True, "timeout": 120}
    loader = st.loader(dataset, 8, **options)
    for epoch in range(3):
        dataset.set_epoch(epoch)
        assert torch.equal(torch.cat(list(loader)), want[epoch])
    iterable = st.IterablePatchDataset(sampler, batch_size=8)
    loader = st.loader(iterable, **options)
    for epoch in (2, 1):
        iterable.set_epoch(epoch)
        got = torch.cat(list(loader))
        assert collections.Counter(got[:, 0, 0, 0].tolist()) == collections.Counter(want[epoch][:, 0, 0, 0].tolist())


def test_a_samplers_own_set_epoch_is_kept_without_workers(files: dict[str, Path]) -> None:
    stacks = _stacks(files)
    sampler = RandomPatches(stacks, (16, 16), 16, seed=4)
    dataset = st.PatchDataset(sampler)
    sampler.set_epoch(5)
    want = torch.from_numpy(_expected(sampler, stacks))
    assert torch.equal(torch.cat(list(st.loader(dataset, 8, num_workers=0))), want)
    assert sampler.epoch == 5
