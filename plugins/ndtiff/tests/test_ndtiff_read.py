"""Reading NDTiff datasets written by ndstorage: every pixel as ndstorage reads it."""

from __future__ import annotations

import multiprocessing
import pickle
import struct
import warnings
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stackio
from ndtiff_helpers import TCZ_CHANNELS, arrange, open_reference, patches_match, quiet, reference_array, whole
from stackio_ndtiff.index import read_index
from stackio_ndtiff.samples import scene, write_ndtiff


@pytest.mark.parametrize("axes", [None, "SCZYX", "SCYX", "SCTYX"])
def test_tcz_every_pixel_matches_ndstorage(tcz_dataset: Path, axes: str | None) -> None:
    stack = stackio.load(tcz_dataset, axes)[0]
    ref, names = reference_array(tcz_dataset, stitched=False)
    expected = arrange(ref, names, stack)
    assert stack.axes == (axes or "SCZYX")
    np.testing.assert_array_equal(whole(stack), expected)
    patches_match(stack, expected, np.random.default_rng(0))


def test_tcz_layout_and_metadata(tcz_dataset: Path) -> None:
    stack = stackio.load(tcz_dataset)[0]
    assert stack.data_shape == (3, 2, 4, 24, 20)
    assert stack.original_axes == "TCZYX"
    assert stack.data_dtype == np.uint16
    meta = stack.metadata
    assert meta.channel_names == TCZ_CHANNELS
    assert meta.voxel_size == {"Z": 2.0, "Y": 0.5, "X": 0.5}
    assert meta.units == {"Z": "micrometer", "Y": "micrometer", "X": "micrometer"}
    assert meta.axis_names == ("time", "channel", "z", "y", "x")
    assert meta.raw()["PixelSize_um"] == 0.5
    timed = stackio.load(tcz_dataset, "SCTYX")[0]
    assert timed.data_shape == (4, 2, 3, 24, 20)  # z merged into S
    assert timed.metadata.voxel_size == {"T": 250.0, "Y": 0.5, "X": 0.5}
    flat = stackio.load(tcz_dataset, "SCYX")[0]
    assert flat.data_shape == (12, 2, 24, 20)
    assert flat.original_axes == "TZCYX"  # time outer, z inner in S


def test_one_image_equals_read_image(tcz_dataset: Path) -> None:
    stack = stackio.load(tcz_dataset, "SCYX")[0]
    dataset = open_reference(tcz_dataset)
    for t in range(3):
        for z in range(4):
            sample = t * 4 + z
            for c, name in enumerate(TCZ_CHANNELS):
                image = quiet(dataset.read_image, time=t, channel=name, z=z)
                np.testing.assert_array_equal(stack.extract_patch(sample, [c], (0, 0), (24, 20))[0], image)


def test_positions_and_user_axes_merge_into_samples(positions_dataset: Path) -> None:
    stack = stackio.load(positions_dataset)[0]
    # S = position (outer), time, then other axes by name ('angle')
    assert stack.metadata.axis_names == ("position", "time", "angle", "channel", "y", "x")
    assert stack.original_axes == "PTACYX"
    assert stack.data_shape == (3 * 2 * 2, 2, 16, 18)
    assert stack.data_dtype == np.uint8
    assert stack.metadata.channel_names == ("BF", "GFP")  # integer channels named by ChNames
    assert stack.metadata.voxel_size == {"Y": 1.25, "X": 1.25}
    ref, names = reference_array(positions_dataset, stitched=False)
    expected = arrange(ref, names, stack)
    np.testing.assert_array_equal(whole(stack), expected)
    dataset = open_reference(positions_dataset)
    # sample 7 = position 1, time 1, angle 90
    image = quiet(dataset.read_image, position=1, time=1, channel=1, angle=90)
    np.testing.assert_array_equal(stack.extract_patch(7, [1], (0, 0), (16, 18))[0], image)


def test_select_like_as_array(tcz_dataset: Path) -> None:
    stack = stackio.load(tcz_dataset, select={"time": 2, "channel": "GFP"})[0]
    assert stack.data_shape == (1, 1, 4, 24, 20)
    assert stack.metadata.channel_names == ("GFP",)
    ref, names = reference_array(tcz_dataset, stitched=False, time=2, channel="GFP")
    np.testing.assert_array_equal(whole(stack), arrange(ref, names, stack))
    some = stackio.load(tcz_dataset, select={"z": [3, 1], "channel": ["GFP", "DAPI"]})[0]
    assert some.data_shape == (3, 2, 2, 24, 20)
    assert some.metadata.channel_names == ("GFP", "DAPI")
    full = whole(stackio.load(tcz_dataset)[0])
    np.testing.assert_array_equal(whole(some), full[:, ::-1][:, :, [3, 1]])


def test_select_integer_channel_by_name(positions_dataset: Path) -> None:
    by_name = stackio.load(positions_dataset, select={"channel": "GFP", "position": 2})[0]
    by_value = stackio.load(positions_dataset, select={"channel": 1, "position": 2})[0]
    assert by_name.data_shape == by_value.data_shape == (4, 1, 16, 18)
    assert by_name.metadata.channel_names == ("GFP",)
    np.testing.assert_array_equal(whole(by_name), whole(by_value))
    ref, names = reference_array(positions_dataset, stitched=False, channel=1, position=2)
    np.testing.assert_array_equal(whole(by_name), arrange(ref, names, by_name))


def test_missing_images_read_as_zeros(sparse_dataset: Path) -> None:
    stack = stackio.load(sparse_dataset)[0]
    assert stack.data_shape == (3, 1, 3, 12, 14)
    data = whole(stack)
    assert not data[0, 0, 2].any() and not data[2, 0, 0].any()
    assert data[0, 0, 1].any()
    ref, names = reference_array(sparse_dataset, stitched=False)
    np.testing.assert_array_equal(data, arrange(ref, names, stack))


def test_batched_planes_with_missing_images(sparse_dataset: Path) -> None:
    """A batch of 2-D patches, one plane each (the one-lookup-per-patch path), gaps read as zeros."""
    stack = stackio.load(sparse_dataset, "SCYX")[0]
    assert stack.data_shape == (9, 1, 12, 14)
    samples = np.array([0, 2, 6, 8, 2, 6, 4])  # t*3 + z: 2 and 6 are the images never acquired
    inside = np.array([(0, 0), (1, 2), (3, 3), (2, 5), (4, 0), (0, 0), (7, 8)])
    edges = np.array([(-2, 0), (1, -3), (3, 3), (10, 12), (4, 0), (0, 11), (7, 8)])  # some partly outside
    for coords in (inside, edges):
        batch = stackio.read_patches(stack, samples, coords, (5, 6))
        pairs = zip(samples, coords, strict=True)
        want = np.stack([stack.extract_patch(int(s), None, tuple(c), (5, 6)) for s, c in pairs])
        np.testing.assert_array_equal(batch, want)
        assert not batch[[1, 2, 4, 5]].any() and batch[0].any()
    ref, names = reference_array(sparse_dataset, stitched=False)
    np.testing.assert_array_equal(whole(stack), arrange(ref, names, stack))


def test_rgb_becomes_three_channels(rgb_dataset: Path) -> None:
    stack = stackio.load(rgb_dataset)[0]
    assert stack.data_shape == (2, 6, 10, 12)
    assert stack.data_dtype == np.uint8
    assert stack.metadata.channel_names == ("left R", "left G", "left B", "right R", "right G", "right B")
    dataset = open_reference(rgb_dataset)
    image = quiet(dataset.read_image, time=1, channel="right")
    assert image.shape == (10, 12, 3)
    np.testing.assert_array_equal(stack.extract_patch(1, [3, 4, 5], (0, 0), (10, 12)), np.moveaxis(image, -1, 0))
    ref, names = reference_array(rgb_dataset, stitched=False)
    np.testing.assert_array_equal(whole(stack), arrange(ref, names, stack))
    one = stackio.load(rgb_dataset, select={"channel": "left"})[0]
    assert one.metadata.channel_names == ("left R", "left G", "left B")
    np.testing.assert_array_equal(whole(one), whole(stack)[:, :3])


def _random_index(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[Any, ...]:
    """A numpy basic index of an array of `shape`: before Y and X mostly one plane (an int or a slice one
    long, as the core asks), sometimes several or a negative int; Y and X any slice, steps and edges too."""
    key: list[Any] = []
    for n in shape[:-2]:
        pick = rng.integers(0, 4)
        first = int(rng.integers(0, n))
        key.append([first, slice(first, first + 1), slice(None), first - n][pick])
    for n in shape[-2:]:
        start = [None, int(rng.integers(-n - 2, n + 2))][int(rng.integers(0, 2))]
        stop = [None, int(rng.integers(-n - 2, n + 3))][int(rng.integers(0, 2))]
        step = [None, 1, 2, -1, -3][int(rng.integers(0, 5))]
        key.append(slice(start, stop, step))
    return tuple(key)


@pytest.mark.parametrize("name", ["tcz_dataset", "rgb_dataset", "sparse_dataset", "grid_dataset"])
def test_reader_indexes_like_numpy(name: str, request: pytest.FixtureRequest) -> None:
    """The reader a stack reads from, indexed as numpy would index ndstorage's array in the same axes."""
    folder = request.getfixturevalue(name)
    stack = stackio.load(folder)[0]
    ref, names = reference_array(folder, stitched=name == "grid_dataset")
    layout = stack.layout
    expected = arrange(ref, names, stack)  # SC(Z)YX, back to the original axes:
    expected = expected.reshape(*layout.sample_shape, *expected.shape[1:]).transpose(np.argsort(layout.stack_order))
    reader = stack._open()
    assert reader.shape == expected.shape
    rng = np.random.default_rng(3)
    for _ in range(300):
        key = _random_index(rng, expected.shape)
        got, want = reader[key], expected[key]
        assert got.shape == want.shape and got.dtype == want.dtype, key
        np.testing.assert_array_equal(got, want, err_msg=str(key))


def test_in_memory_equals_lazy(tcz_dataset: Path) -> None:
    lazy = stackio.load(tcz_dataset)[0]
    memory = stackio.load(tcz_dataset, in_memory=True)[0]
    assert isinstance(memory, stackio.ArrayStack)
    np.testing.assert_array_equal(memory.data, whole(lazy))


def test_source_recreates_the_stack(tcz_dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tcz_dataset.parent)
    stack = stackio.load(tcz_dataset.name)[0]
    assert Path(stack.source).is_absolute()
    again = stackio.load(stack.source)[0]
    np.testing.assert_array_equal(whole(again), whole(stack))


def _patch_in_child(stack: Any) -> np.ndarray:
    return stack.extract_patch(2, None, (1, 2, 3), (2, 9, 7))


def test_pickles_and_reads_in_another_process(tcz_dataset: Path) -> None:
    stack = stackio.load(tcz_dataset)[0]
    expected = stack.extract_patch(2, None, (1, 2, 3), (2, 9, 7))
    clone = pickle.loads(pickle.dumps(stack))
    np.testing.assert_array_equal(clone.extract_patch(2, None, (1, 2, 3), (2, 9, 7)), expected)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        np.testing.assert_array_equal(pool.submit(_patch_in_child, stack).result(timeout=120), expected)


def test_threads_read_the_same_patches(tcz_dataset: Path) -> None:
    stack = stackio.load(tcz_dataset)[0]
    requests = [(s, None, (z, y, x), (2, 7, 9)) for s in range(3) for z in (0, 2) for y in (0, 10) for x in (0, 11)]
    serial = [stackio.load(tcz_dataset)[0].extract_patch(*r) for r in requests]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda r: stack.extract_patch(*r), requests))
    for a, b in zip(serial, threaded, strict=True):
        np.testing.assert_array_equal(a, b)


def test_patch_reads_only_the_images_it_touches(tcz_dataset: Path) -> None:
    stack = stackio.load(tcz_dataset)[0]
    reader = stack._open()  # the plugin's array-like; counts image copies and file maps
    stack.extract_patch(1, [0], (1, 3, 2), (2, 5, 5))
    assert reader.images_read == 2  # one channel x two z planes
    stack.extract_patch(2, None, (0, 0, 0), (1, 24, 20))
    assert reader.images_read == 4
    for s in range(3):
        stack.extract_patch(s, None, (0, 0, 0), (4, 8, 8))
    assert reader.files_opened == 1  # the stack file is mapped once, not per patch


def test_load_prints_nothing(tcz_dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack = stackio.load(tcz_dataset)[0]
    stack.extract_patch(0, None, (0, 0, 0), (1, 4, 4))
    stack.read_all()
    stack.metadata.raw()
    stackio.load(tcz_dataset, in_memory=True)
    assert capsys.readouterr().out == ""


def test_live_acquisition_loads_what_is_complete(tmp_path: Path) -> None:
    from ndstorage import NDTiffDataset

    folder = tmp_path / "live"
    folder.mkdir()
    writer = quiet(NDTiffDataset, str(folder), writable=True)
    writer.initialize({"PixelSize_um": 1.0})
    images = {t: scene(8, 10, seed=t) for t in range(5)}
    try:
        for t in range(3):
            quiet(writer.put_image, {"time": t}, images[t], {})
        writer._index_file.flush()  # what Micro-Manager's writer does after every entry
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the preallocated rest of the stack file is no lost image
            early = stackio.load(folder)[0]
        assert early.data_shape == (3, 1, 8, 10)
        for t in range(3, 5):
            quiet(writer.put_image, {"time": t}, images[t], {})
        writer._index_file.flush()
        later = stackio.load(folder)[0]
        assert later.data_shape == (5, 1, 8, 10)
        np.testing.assert_array_equal(whole(later)[:, 0], np.stack([images[t] for t in range(5)]))
        np.testing.assert_array_equal(whole(early)[:, 0], np.stack([images[t] for t in range(3)]))
    finally:
        quiet(writer.finish)


def test_partly_written_last_entry_is_skipped(tmp_path: Path) -> None:
    folder = write_ndtiff(tmp_path / "cut", [({"time": t}, scene(8, 10, seed=t)) for t in range(4)], {})
    index = folder / "NDTiff.index"
    data = index.read_bytes()
    entry = len(data) // 4
    for cut in (1, 5, entry - 40, entry - 1):
        index.write_bytes(data[: 3 * entry + cut])
        from stackio_ndtiff.dataset import PartialIndexWarning

        with pytest.warns(PartialIndexWarning, match="partly written entry"):
            stack = stackio.load(folder)[0]
        assert stack.data_shape == (3, 1, 8, 10)
        np.testing.assert_array_equal(whole(stack)[:, 0], np.stack([scene(8, 10, seed=t) for t in range(3)]))


def entry_starts(data: bytes) -> list[int]:
    """Byte offsets of an index's entries (axes length, axes, name length, name, 8 uint32)."""
    starts, position = [], 0
    while position < len(data):
        starts.append(position)
        (axes_length,) = struct.unpack_from("<I", data, position)
        position += 4 + axes_length
        (name_length,) = struct.unpack_from("<I", data, position)
        position += 4 + name_length + 32
    return starts


def test_an_index_cut_at_an_entry_boundary_warns_of_the_images_it_lost(tmp_path: Path) -> None:
    from stackio_ndtiff.dataset import UnindexedImagesWarning

    folder = write_ndtiff(tmp_path / "cut", [({"time": t}, scene(8, 10, seed=t)) for t in range(4)], {})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a complete dataset loads without a warning
        stackio.load(folder)
    index = folder / "NDTiff.index"
    data = index.read_bytes()
    index.write_bytes(data[: entry_starts(data)[3]])  # 3 complete entries of 4
    with pytest.warns(UnindexedImagesWarning, match=r"NDTiffStack\.tif' goes on past its last indexed image"):
        stack = stackio.load(folder)[0]
    assert stack.data_shape == (3, 1, 8, 10)
    np.testing.assert_array_equal(whole(stack)[:, 0], np.stack([scene(8, 10, seed=t) for t in range(3)]))


def test_a_stack_file_the_index_does_not_name_is_noticed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ndstorage.ndtiff_file
    from stackio_ndtiff.dataset import UnindexedImagesWarning

    monkeypatch.setattr(ndstorage.ndtiff_file, "MAX_FILE_SIZE", 5_000_000 + 150_000)
    folder = write_ndtiff(tmp_path / "multi", [({"time": t}, scene(128, 128, seed=t)) for t in range(12)], {})
    index = folder / "NDTiff.index"
    data = index.read_bytes()
    entries = read_index(folder).entries
    first = entries[0].filename
    keep = next(i for i, e in enumerate(entries) if e.filename != first)  # the first entry of the 2nd file
    index.write_bytes(data[: entry_starts(data)[keep]])
    assert {e.filename for e in read_index(folder).entries} == {first}
    with pytest.warns(UnindexedImagesWarning, match=r"NDTiffStack_1\.tif' is not named by the index"):
        stack = stackio.load(folder)[0]
    assert stack.data_shape[0] == keep


def test_write_samples_load(tmp_path: Path) -> None:
    from stackio_ndtiff import stackio_write_samples

    samples = stackio_write_samples(tmp_path)
    assert len(samples) == 3
    shapes = [stackio.load(s.source, s.axes, **s.options)[0].data_shape for s in samples]
    assert shapes == [(3, 2, 4, 48, 40), (1, 1, 112, 112), (4, 1, 64, 64)]
    assert all(stackio.detect(s.source).format == "ndtiff" for s in samples)


def test_dataset_spread_over_several_stack_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ndstorage.ndtiff_file

    # ndstorage starts a new stack file near 4 GB; a small limit makes it start one every few images
    monkeypatch.setattr(ndstorage.ndtiff_file, "MAX_FILE_SIZE", 5_000_000 + 150_000)
    images = [({"time": t}, scene(128, 128, seed=t)) for t in range(12)]
    folder = write_ndtiff(tmp_path / "multi", images, {})
    files = sorted(p.name for p in folder.glob("*.tif"))
    assert len(files) >= 2, files
    stack = stackio.load(folder)[0]
    ref, names = reference_array(folder, stitched=False)
    np.testing.assert_array_equal(whole(stack), arrange(ref, names, stack))
    fresh = stackio.load(folder)[0]
    reader = fresh._open()
    fresh.extract_patch(0, None, (0, 0), (4, 4))
    fresh.extract_patch(1, None, (0, 0), (4, 4))
    assert reader.files_opened == 1  # only the file holding those images is mapped
    fresh.extract_patch(11, None, (0, 0), (4, 4))
    assert reader.files_opened == 2


def test_to_dask_names_follow_the_selection(tcz_dataset: Path) -> None:
    da = pytest.importorskip("dask.array")
    dapi = stackio.load(tcz_dataset, select={"channel": "DAPI"})[0]
    gfp = stackio.load(tcz_dataset, select={"channel": "GFP"})[0]
    assert dapi.to_dask().name != gfp.to_dask().name
    both = da.concatenate([dapi.to_dask(), gfp.to_dask()], axis=1).compute()
    np.testing.assert_array_equal(both[:, :1], whole(dapi))
    np.testing.assert_array_equal(both[:, 1:], whole(gfp))
    assert not np.array_equal(whole(dapi), whole(gfp))
