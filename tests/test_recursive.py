"""`recursive=True`: a plain folder read with its subfolders, on real TIFF, zarr and NDTiff files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import stackio
import tifffile
import zarr
from stackio.cli import main
from stackio_ndtiff.samples import scene, write_ndtiff


def _tif(path: Path, value: int) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.full((6, 8), value, dtype=np.uint16)
    data[0, 0] = value + 1000  # not a constant image, so a swapped read shows
    tifffile.imwrite(path, data)
    return data


def _ome_zarr(path: Path, value: int) -> np.ndarray:
    """An OME-Zarr image at `path`, whatever its name (a store is known by its markers, not its suffix)."""
    data = (np.arange(48, dtype=np.uint8).reshape(6, 8) + value).astype(np.uint8)
    written = stackio.save(data, path.with_name("written.ome.zarr"), axes="YX", chunks=(3, 4))
    written.rename(path)
    np.testing.assert_array_equal(zarr.open_group(path, mode="r")["0"][...].squeeze(), data)
    return data


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """top/{a.tif, sub2/{b.tif, deeper/c.tif}, sub10/d.tif, plainstore (zarr, no suffix), store.zarr,
    nd (NDTiff), .git/e.tif, empty/, notes/readme.txt}; the names give the expected natural order."""
    top = tmp_path / "top"
    expected: dict[str, np.ndarray] = {}
    expected["a.tif"] = _tif(top / "a.tif", 1)
    expected["sub2/b.tif"] = _tif(top / "sub2" / "b.tif", 2)
    expected["sub2/deeper/c.tif"] = _tif(top / "sub2" / "deeper" / "c.tif", 3)
    expected["sub10/d.tif"] = _tif(top / "sub10" / "d.tif", 4)
    _tif(top / ".git" / "e.tif", 5)  # hidden: never read
    expected["plainstore"] = _ome_zarr(top / "plainstore", 10)
    expected["store.zarr"] = _ome_zarr(top / "store.zarr", 20)
    image = scene(16, 12, seed=3)
    write_ndtiff(top / "nd", [({"channel": "BF"}, image)], {"PixelSize_um": 0.5})
    expected["nd"] = image
    (top / "empty").mkdir()
    (top / "notes").mkdir()
    (top / "notes" / "readme.txt").write_text("not an image")
    return top, expected


def _relative(stack: stackio.ImageStack, top: Path) -> str:
    path = stackio.Source.parse(stack.source).path  # a zarr stack's source is a file:// URI of its array
    assert path is not None
    return path.relative_to(top).as_posix()


def test_subfolders_are_read_in_natural_order_and_datasets_stay_whole(
    tree: tuple[Path, dict[str, np.ndarray]],
) -> None:
    top, expected = tree
    stacks = stackio.load(top, recursive=True)
    order = ["a.tif", "nd", "plainstore/0", "store.zarr/0", "sub2/b.tif", "sub2/deeper/c.tif", "sub10/d.tif"]
    assert [_relative(s, top) for s in stacks] == order
    for stack in stacks:
        want = expected[_relative(stack, top).removesuffix("/0")]
        got = stack.extract_patch(0, None, (0, 0), want.shape)
        assert stack.data_shape[-2:] == want.shape
        np.testing.assert_array_equal(got[0], want)
        # the source string loads the same stack again, also out of the tree
        again = stackio.load(stack.source, **getattr(stack, "load_options", {}))
        assert [s.data_shape for s in again] == [stack.data_shape]
    formats = [p.decision.format for p in stackio.plan(top, recursive=True)]
    assert formats == ["tiff", "ndtiff", "zarr", "zarr", "tiff", "tiff", "tiff"]


def test_without_recursive_subfolders_are_not_read(tree: tuple[Path, dict[str, np.ndarray]]) -> None:
    top, _ = tree
    assert [_relative(s, top) for s in stackio.load(top)] == ["a.tif", "nd", "plainstore/0", "store.zarr/0"]
    only_subfolders = top / "sub2"
    (only_subfolders / "b.tif").unlink()
    with pytest.raises(stackio.UnsupportedFormatError, match=r"1 subfolder\(s\): pass recursive=True"):
        stackio.load(only_subfolders, "YX")
    stacks = stackio.load(only_subfolders, "YX", recursive=True)
    assert [_relative(s, top) for s in stacks] == ["sub2/deeper/c.tif"]


def test_a_tree_with_nothing_readable_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "x" / "y").mkdir(parents=True)
    (tmp_path / "x" / "y" / "notes.txt").write_text("text")
    _tif(tmp_path / ".hidden" / "skipped.tif", 1)
    with pytest.raises(stackio.UnsupportedFormatError, match="the directory and its subfolders hold no file"):
        stackio.load(tmp_path, "YX", recursive=True)


def test_symlink_loops_are_entered_once(tmp_path: Path) -> None:
    top = tmp_path / "top"
    want = _tif(top / "inner" / "f.tif", 7)
    os.symlink(top, top / "inner" / "back_to_top")  # a loop
    os.symlink(top / "inner", top / "alias")  # the same folder under a second name
    stacks = stackio.load(top, "YX", recursive=True)
    assert len(stacks) == 1  # 'alias' comes first in natural order: the folder is read there, and once
    assert Path(stacks[0].source).name == "f.tif"
    np.testing.assert_array_equal(stacks[0].extract_patch(0, None, (0, 0), want.shape)[0], want)


def test_file_sets_are_grouped_per_subfolder(tmp_path: Path) -> None:
    """Each subfolder's files of a `file_sets` format (TIFF) are one group of that subfolder."""
    for name in ("p", "q"):
        for i in (1, 2):
            _tif(tmp_path / name / f"img{i}.tif", i)
    parts = stackio.plan(tmp_path, recursive=True)
    groups = [(Path(str(p.source)).name, [m.name for m in p.source.members or ()]) for p in parts]
    assert groups == [("p", ["img1.tif", "img2.tif"]), ("q", ["img1.tif", "img2.tif"])]
    assert len(stackio.load(tmp_path, "YX", recursive=True)) == 4


def test_load_pairs_recursive(tmp_path: Path) -> None:
    for side in ("inputs", "targets"):
        for i in (1, 2, 10):
            _tif(tmp_path / side / f"day{i}" / "x.tif", i)
    pairs = stackio.load_pairs(tmp_path / "inputs", tmp_path / "targets", "YX", recursive=True)
    days = [(Path(a.source).parent.name, Path(b.source).parent.name) for a, b in pairs]
    assert days == [("day1", "day1"), ("day2", "day2"), ("day10", "day10")]


def test_cli_info_recursive(tree: tuple[Path, dict[str, np.ndarray]], capsys: pytest.CaptureFixture[str]) -> None:
    top, _ = tree
    assert main(["info", str(top), "--recursive", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert len(info["stacks"]) == 7 and info["stacks"][-1]["source"].endswith("d.tif")
    assert main(["info", str(top), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["stacks"]) == 4
