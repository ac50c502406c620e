"""Reading zarr arrays, groups and stores by path and file:// URI, compared pixel for pixel with zarr."""

from __future__ import annotations

import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import stackio
import zarr


def test_every_codec_store_reads_as_zarr_does(codec_stores, zw, assert_stack_equals) -> None:
    for path, data, _ in codec_stores:
        [stack] = stackio.load(path, zw.axes_for(data.ndim))
        reference = zarr.open_array(str(path), mode="r")
        expected = reference[...]
        np.testing.assert_array_equal(expected, data)
        assert_stack_equals(stack, expected)
        assert stack.chunks == reference.chunks
        assert stack.shards == reference.shards
        assert stack.source == path.resolve().as_uri()


def test_sharded_store_exposes_chunks_and_shards_in_original_order(tmp_path: Path, zw) -> None:
    data = zw.pattern((16, 2, 32, 24), "uint16")  # Z, C, Y, X: C is not first
    zw.write_array(tmp_path / "s.zarr", data, chunks=(4, 1, 8, 6), shards=(8, 2, 16, 12))
    [stack] = stackio.load(tmp_path / "s.zarr", "ZCYX")
    assert stack.original_axes == "ZCYX"
    assert stack.chunks == (4, 1, 8, 6)
    assert stack.shards == (8, 2, 16, 12)
    patch = stack.extract_patch(0, [1], (3, 5, 7), (6, 9, 10))
    np.testing.assert_array_equal(patch[0], data[3:9, 1, 5:14, 7:17])


@pytest.fixture
def tree(tmp_path: Path, zw) -> tuple[Path, dict[str, np.ndarray]]:
    """store.zarr/{grp/{a, b, c2, c10, sub/d}, top} as zarr v3."""
    root = tmp_path / "store.zarr"
    group = zarr.open_group(str(root), mode="w")
    grp = group.create_group("grp")
    grp.create_group("sub")
    arrays = {}
    for i, name in enumerate(["b", "c10", "a", "c2", "sub/d", "top"]):
        data = zw.pattern((6, 8), "uint8", seed=i)
        where = grp if name != "top" else group
        arr = where.create_array(name, shape=data.shape, dtype=data.dtype, chunks=(3, 4))
        arr[...] = data
        arrays[name] = data
    return root, arrays


def test_group_gives_one_stack_per_array_directly_in_it_sorted(tree) -> None:
    root, arrays = tree
    for source in (root / "grp", (root / "grp").as_uri()):
        stacks = stackio.load(source, "YX")
        assert [s.source.rsplit("/", 1)[1] for s in stacks] == ["a", "b", "c2", "c10"]
        for stack, name in zip(stacks, ["a", "b", "c2", "c10"], strict=True):
            np.testing.assert_array_equal(stack.extract_patch(0, None, (0, 0), (6, 8))[0], arrays[name])


def test_store_uri_gives_its_direct_arrays_only(tree) -> None:
    root, arrays = tree
    [stack] = stackio.load(root.as_uri(), "YX")
    assert stack.source == (root / "top").as_uri()
    np.testing.assert_array_equal(stack.extract_patch(0, None, (0, 0), (6, 8))[0], arrays["top"])


def test_array_uri_and_path_inside_store_give_one_stack(tree) -> None:
    root, arrays = tree
    for source in ((root / "grp" / "sub" / "d").as_uri(), root / "grp" / "sub" / "d"):
        [stack] = stackio.load(source, "YX")
        assert stack.source == (root / "grp" / "sub" / "d").as_uri()
        np.testing.assert_array_equal(stack.extract_patch(0, None, (0, 0), (6, 8))[0], arrays["sub/d"])


def test_list_of_uris_and_list_of_paths(tree) -> None:
    root, arrays = tree
    uris = [(root / "grp" / "c2").as_uri(), (root / "top").as_uri()]
    paths = [root / "grp" / "c2", root / "top"]
    for sources in (uris, paths):
        stacks = stackio.load(sources, "YX")
        assert [s.source for s in stacks] == uris
        np.testing.assert_array_equal(stacks[1].extract_patch(0, None, (0, 0), (6, 8))[0], arrays["top"])


def test_index_selects_one_array_of_a_group(tree) -> None:
    root, _arrays = tree
    [stack] = stackio.load(f"{root / 'grp'}@2", "YX")
    assert stack.source.endswith("/grp/c2")
    with pytest.raises(stackio.ValidationError, match=r"@7 does not exist; it gives 4 stack\(s\)"):
        stackio.load(f"{root / 'grp'}@7", "YX")


def test_source_recreates_the_stack_from_any_directory(tree, monkeypatch) -> None:
    root, arrays = tree
    monkeypatch.chdir(root.parent)
    [stack] = stackio.load("store.zarr/grp/b", "YX")
    assert stack.source == (root / "grp" / "b").as_uri()
    monkeypatch.chdir("/")
    [again] = stackio.load(stack.source, "YX")
    np.testing.assert_array_equal(again.extract_patch(0, None, (0, 0), (6, 8))[0], arrays["b"])


def test_stack_pickles_and_reads_in_another_process(tmp_path: Path, zw) -> None:
    data = zw.pattern((2, 30, 40), "uint16")
    zw.write_array(tmp_path / "p.zarr", data, zarr_format=2)
    [stack] = stackio.load(tmp_path / "p.zarr", "CYX")
    stack.extract_patch(0, None, (0, 0), (4, 4))  # opened before pickling: the reader is not pickled
    (tmp_path / "stack.pkl").write_bytes(pickle.dumps(stack))
    code = (
        "import pickle, sys, numpy as np; s = pickle.load(open(sys.argv[1], 'rb')); "
        "np.save(sys.argv[2], s.extract_patch(0, [1], (5, 6), (10, 12)))"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "stack.pkl"), str(tmp_path / "out.npy")], check=True, timeout=60
    )
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy")[0], data[1, 5:15, 6:18])


def test_threads_reading_one_stack_get_correct_patches(tmp_path: Path, zw) -> None:
    data = zw.pattern((8, 64, 64), "uint16")
    zw.write_array(tmp_path / "t.zarr", data, chunks=(2, 16, 16), shards=(4, 32, 32))
    [stack] = stackio.load(tmp_path / "t.zarr", "ZYX")
    rng = np.random.default_rng(0)
    requests = [tuple(int(v) for v in rng.integers(0, (6, 50, 50))) for _ in range(64)]

    def read(c: tuple[int, int, int]) -> np.ndarray:
        return stack.extract_patch(0, None, c, (2, 14, 14))

    with ThreadPoolExecutor(4) as pool:
        patches = list(pool.map(read, requests))
    for (z, y, x), patch in zip(requests, patches, strict=True):
        np.testing.assert_array_equal(patch[0], data[z : z + 2, y : y + 14, x : x + 14])


def test_in_memory_gives_an_array_stack_with_the_same_pixels(tmp_path: Path, zw) -> None:
    data = zw.pattern((3, 2, 10, 12), "float32")
    zw.write_array(tmp_path / "m.zarr", data)
    [stack] = stackio.load(tmp_path / "m.zarr", "TCYX", in_memory=True)
    assert isinstance(stack, stackio.ArrayStack)
    np.testing.assert_array_equal(stack.data, data)
    assert stack.source == (tmp_path / "m.zarr").as_uri()


def test_dimension_names_give_axes_but_do_not_bind(tmp_path: Path, zw) -> None:
    data = zw.pattern((2, 5, 6), "uint8")
    zw.write_array(tmp_path / "d.zarr", data, dimension_names=("c", "y", "x"))
    [stack] = stackio.load(tmp_path / "d.zarr")
    assert stack.axes == "SCYX" and stack.data_shape == (1, 2, 5, 6)
    assert stack.metadata.axis_names == ("c", "y", "x")
    [as_depth] = stackio.load(tmp_path / "d.zarr", "ZYX")  # the user may read it otherwise
    assert as_depth.data_shape == (1, 1, 2, 5, 6)
    zw.write_array(tmp_path / "x.zarr", data, dimension_names=("band", "row", "col"))
    with pytest.raises(stackio.AxesError, match=r"dimension names \['band', 'row', 'col'\].*axes='ZYX'"):
        stackio.load(tmp_path / "x.zarr")


def test_v2_xarray_dimensions_give_axes(tmp_path: Path, zw) -> None:
    data = zw.pattern((4, 6), "int16")
    zw.write_array(tmp_path / "xa.zarr", data, zarr_format=2, attributes={"_ARRAY_DIMENSIONS": ["y", "x"]})
    [stack] = stackio.load(tmp_path / "xa.zarr")
    np.testing.assert_array_equal(stack.extract_patch(0, None, (0, 0), (4, 6))[0], data)


def test_big_endian_is_returned_in_native_byte_order(tmp_path: Path, zw) -> None:
    data = zw.pattern((6, 7), ">u2")
    zw.write_array(tmp_path / "be.zarr", data, zarr_format=2)
    [stack] = stackio.load(tmp_path / "be.zarr", "YX")
    patch = stack.extract_patch(0, None, (0, 0), (6, 7))
    assert patch.dtype.isnative and stack.data_dtype == np.dtype("uint16")
    np.testing.assert_array_equal(patch[0], data)


def test_missing_chunks_read_as_the_fill_value(tmp_path: Path, zw) -> None:
    data = zw.pattern((8, 8), "uint16")
    zw.write_array(tmp_path / "holes.zarr", data, chunks=(4, 4), fill_value=7)
    (tmp_path / "holes.zarr" / "c" / "1" / "0").unlink()
    expected = zarr.open_array(str(tmp_path / "holes.zarr"), mode="r")[...]
    assert (expected[4:, :4] == 7).all()
    [stack] = stackio.load(tmp_path / "holes.zarr", "YX")
    np.testing.assert_array_equal(stack.extract_patch(0, None, (0, 0), (8, 8))[0], expected)


def test_a_metadata_file_names_its_node(tree) -> None:
    root, arrays = tree
    [stack] = stackio.load(root / "grp" / "b" / "zarr.json", "YX")
    assert stack.source == (root / "grp" / "b").as_uri()
    np.testing.assert_array_equal(stack.extract_patch(0, None, (0, 0), (6, 8))[0], arrays["b"])


def test_a_plain_folder_of_stores_loads_each_store(tmp_path: Path, zw) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    data = [zw.pattern((5, 6), "uint8", seed=i) for i in range(3)]
    for i, name in enumerate(["img10.zarr", "img2.zarr", "img1.zarr"]):
        zw.write_array(folder / name, data[i], zarr_format=2 if i % 2 else 3)
    (folder / "notes.txt").write_text("not an image")
    stacks = stackio.load(folder, "YX")
    assert [s.source.rsplit("/", 1)[1] for s in stacks] == ["img1.zarr", "img2.zarr", "img10.zarr"]
    np.testing.assert_array_equal(stacks[2].extract_patch(0, None, (0, 0), (5, 6))[0], data[0])
