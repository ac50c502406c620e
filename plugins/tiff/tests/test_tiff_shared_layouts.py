"""A folder's files that share one layout are parsed once; a file that differs anywhere tifffile parses is not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import stackio
import tifffile
from stackio_tiff import shared

RNG = np.random.default_rng(18)


def _pixels(shape: tuple[int, ...], dtype: str = "uint16") -> np.ndarray:
    return RNG.integers(0, 4000, size=shape).astype(dtype)


def _check_every_pixel(folder: Path, stacks: list[stackio.ImageStack]) -> None:
    files = sorted(folder.iterdir(), key=lambda p: stackio.natural_key(p.name))
    assert [s.source for s in stacks] == [str(p) for p in files]
    for path, stack in zip(files, stacks, strict=True):
        want = tifffile.imread(path)
        got = stack.extract_patch(0, None, (0,) * (len(stack.data_shape) - 2), stack.data_shape[2:])
        assert got.dtype == want.dtype
        assert np.array_equal(got.reshape(want.shape), want), path.name


def _count(folder: Path, axes: str | None) -> shared.SharedLayouts:
    """Which files a folder load parsed in full, and which it took from a template."""
    loader = shared.SharedLayouts(axes, {})
    files = sorted(folder.iterdir(), key=lambda p: stackio.natural_key(p.name))
    covered: set[str] = set()
    for path in files:
        loader.load(path, covered)
    return loader


def test_files_laid_out_alike_are_parsed_once_and_read_exactly(tmp_path: Path) -> None:
    for i in range(12):
        tifffile.imwrite(tmp_path / f"img{i}.tif", _pixels((48, 40)))
    loader = _count(tmp_path, "YX")
    assert (loader.parsed, loader.shared) == (1, 11)
    _check_every_pixel(tmp_path, stackio.load(tmp_path, "YX"))


def test_a_file_that_contradicts_the_shared_layout_is_parsed_and_read_correctly(tmp_path: Path) -> None:
    """Same size as the others, other width and height: its IFD differs, so it is parsed in full."""
    for i in range(6):
        tifffile.imwrite(tmp_path / f"img{i}.tif", _pixels((48, 40)), description="x")
    odd = tmp_path / "img3.tif"
    tifffile.imwrite(odd, _pixels((40, 48)), description="x")
    assert odd.stat().st_size == (tmp_path / "img0.tif").stat().st_size
    loader = _count(tmp_path, "YX")
    assert (loader.parsed, loader.shared) == (2, 4)  # the odd one, and the first
    stacks = stackio.load(tmp_path, "YX")
    assert stacks[3].data_shape == (1, 1, 40, 48) and stacks[2].data_shape == (1, 1, 48, 40)
    _check_every_pixel(tmp_path, stacks)


def test_a_file_differing_only_in_a_tag_value_outside_its_ifd_is_parsed(tmp_path: Path) -> None:
    """The same file but for its ImageJ description, which says frames where the others say slices."""
    for i in range(4):
        tifffile.imwrite(tmp_path / f"img{i}.tif", _pixels((6, 32, 32)), imagej=True, metadata={"axes": "ZYX"})
    odd = tmp_path / "img2.tif"
    data = odd.read_bytes()
    assert data.count(b"slices=6") == 1
    odd.write_bytes(data.replace(b"slices=6", b"frames=6"))
    with tifffile.TiffFile(odd) as tif:
        assert tif.series[0].axes == "TYX"
    loader = _count(tmp_path, None)
    assert (loader.parsed, loader.shared) == (2, 2)
    stacks = stackio.load(tmp_path)
    assert [s.original_axes for s in stacks] == ["ZYX", "ZYX", "TYX", "ZYX"]
    assert stacks[2].data_shape == (6, 1, 32, 32) and stacks[1].data_shape == (1, 1, 6, 32, 32)
    for path, stack in zip(sorted(tmp_path.iterdir()), stacks, strict=True):
        want = tifffile.imread(path)
        if stack.original_axes == "TYX":
            got = np.stack([stack.extract_patch(t, None, (0, 0), (32, 32))[0] for t in range(6)])
        else:
            got = stack.extract_patch(0, None, (0, 0, 0), (6, 32, 32))[0]
        assert np.array_equal(got, want), path.name


def test_compressed_multi_page_files_share_a_layout_only_with_equal_bytes(tmp_path: Path) -> None:
    def write(name: str, data: np.ndarray) -> None:
        tifffile.imwrite(tmp_path / name, data, compression="zlib", photometric="minisblack", metadata={"axes": "ZYX"})

    for i in range(4):  # random bytes do not compress: equal strip sizes, equal IFDs, other pixels
        write(f"img{i}.tif", _pixels((3, 40, 36), "uint8"))
    write("img4.tif", np.zeros((3, 40, 36), "uint8"))  # compresses to other strip sizes
    loader = _count(tmp_path, "ZYX")
    assert (loader.parsed, loader.shared) == (2, 3)
    stacks = stackio.load(tmp_path)
    for path, stack in zip(sorted(tmp_path.iterdir()), stacks, strict=True):
        assert np.array_equal(stack.extract_patch(0, None, (0, 0, 0), (3, 40, 36))[0], tifffile.imread(path))


def test_a_truncated_file_among_alike_ones_is_refused_clearly(tmp_path: Path) -> None:
    for i in range(4):
        tifffile.imwrite(tmp_path / f"img{i}.tif", _pixels((64, 64)))
    cut = tmp_path / "img2.tif"
    cut.write_bytes(cut.read_bytes()[:-100])
    with pytest.raises(stackio.ReadError, match=r"img2\.tif.*truncated"):
        stackio.load(tmp_path, "YX")


def test_an_empty_file_among_alike_ones_is_refused_clearly(tmp_path: Path) -> None:
    for i in range(3):
        tifffile.imwrite(tmp_path / f"img{i}.tif", _pixels((16, 16)))
    (tmp_path / "img1.tif").write_bytes(b"")
    with pytest.raises(stackio.ReadError, match=r"img1\.tif.*empty"):
        stackio.load(tmp_path, "YX")


def test_structures_that_point_further_are_never_shared(tmp_path: Path) -> None:
    """Sub-IFDs (pyramids) and formats whose tags point into further structures are parsed file by file."""
    data = _pixels((64, 64))
    for i in range(3):
        with tifffile.TiffWriter(tmp_path / f"img{i}.ome.tif") as tif:
            tif.write(data, subifds=1, metadata={"axes": "YX"})
            tif.write(data[::2, ::2], subfiletype=1)
    loader = _count(tmp_path, "YX")
    assert (loader.parsed, loader.shared) == (3, 0)
    path = tmp_path / "img0.ome.tif"
    with open(path, "rb") as f:
        assert shared.structure(lambda offset, n: (f.seek(offset), f.read(n))[1], path.stat().st_size) is None


def test_the_structure_covers_header_ifds_and_tag_values(tmp_path: Path) -> None:
    path = tmp_path / "one.tif"
    tifffile.imwrite(
        path, _pixels((3, 16, 16)), photometric="minisblack", description="a description longer than four bytes"
    )
    with open(path, "rb") as f:
        found = shared.structure(lambda offset, n: (f.seek(offset), f.read(n))[1], path.stat().st_size)
    assert found is not None and found[0][0] == 0
    with tifffile.TiffFile(path) as tif:
        wanted = [(p.offset, 2) for p in tif.pages] + [
            (t.valueoffset, t.count) for p in tif.pages for t in p.tags.values() if t.valueoffset > p.offset + 200
        ]
        data_start = tif.pages.first.dataoffsets[0]
    for start, _ in wanted:
        assert any(a <= start < a + n for a, n in found), start
    assert not any(a <= data_start < a + n for a, n in found), "pixel data is not structure"


def test_single_files_of_a_recent_layout_are_not_parsed_again(tmp_path: Path) -> None:
    shared.RECENT.clear()
    first, second = tmp_path / "a.tif", tmp_path / "b.tif"
    tifffile.imwrite(first, _pixels((48, 40)))
    tifffile.imwrite(second, _pixels((48, 40)))
    loader = shared.SharedLayouts("YX", {}, shared.RECENT)
    loader.load(first, None)
    loader.load(second, None)
    assert (loader.parsed, loader.shared) == (1, 1)
    for path in (first, second):
        stack = stackio.load(path, "YX")[0]
        assert stack.source == str(path)
        assert np.array_equal(stack.extract_patch(0, None, (0, 0), (48, 40))[0], tifffile.imread(path))


def test_a_file_rewritten_with_another_layout_is_parsed_again(tmp_path: Path) -> None:
    """Same name and size, other shape: the remembered layout is contradicted by the file's bytes."""
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, _pixels((48, 40)), description="x")
    assert stackio.load(path, "YX")[0].data_shape == (1, 1, 48, 40)
    size = path.stat().st_size
    tifffile.imwrite(path, _pixels((40, 48)), description="x")
    assert path.stat().st_size == size
    stack = stackio.load(path, "YX")[0]
    assert stack.data_shape == (1, 1, 40, 48)
    assert np.array_equal(stack.extract_patch(0, None, (0, 0), (40, 48))[0], tifffile.imread(path))


def test_a_recent_layout_applies_only_to_the_same_axes_and_options(tmp_path: Path) -> None:
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, _pixels((4, 16, 16)), photometric="minisblack", metadata=None)
    assert stackio.load(path, "ZYX")[0].data_shape == (1, 1, 4, 16, 16)
    assert stackio.load(path, "TYX")[0].data_shape == (4, 1, 16, 16)
    backed = stackio.load(path, "ZYX", file_backed=True)[0]
    assert type(backed).__name__ == "FileBackedStack"
    assert np.array_equal(backed.extract_patch(0, None, (0, 0, 0), (4, 16, 16))[0], tifffile.imread(path))


def test_a_link_to_a_file_of_the_folder_is_read_once_and_real_paths_match_realpath(tmp_path: Path) -> None:
    """The folder's files are told apart by real path, resolved with one lstat per file (`RealPaths`)."""
    import os

    from stackio_tiff.directory import RealPaths

    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        tifffile.imwrite(data / f"img{i}.tif", _pixels((48, 40)))
    (data / "img9.tif").symlink_to("img1.tif")
    (tmp_path / "elsewhere.tif").write_bytes((data / "img2.tif").read_bytes())
    (data / "img10.tif").symlink_to(tmp_path / "elsewhere.tif")
    (tmp_path / "linked").symlink_to(data)
    real = RealPaths()
    names = [*sorted(os.listdir(data)), "missing.tif"]
    for folder in (data, tmp_path / "linked", Path(os.path.relpath(data))):
        for name in names:
            assert real(folder / name) == os.path.realpath(folder / name), (folder, name)
    stacks = stackio.load(tmp_path / "linked", "YX")
    # img9 is img1 by another name: its images are given once; img10 is another file with img2's pixels
    assert [Path(s.source).name for s in stacks] == ["img0.tif", "img1.tif", "img2.tif", "img10.tif"]
    for stack in stacks:
        want = tifffile.imread(stack.source)
        assert np.array_equal(stack.extract_patch(0, None, (0, 0), (48, 40))[0], want)


def test_stacks_made_from_one_layout_have_metadata_of_their_own(tmp_path: Path) -> None:
    for i in range(3):
        tifffile.imwrite(
            tmp_path / f"img{i}.tif", _pixels((48, 40)), imagej=True, resolution=(2.0, 2.0), metadata={"unit": "um"}
        )
    assert (_count(tmp_path, "YX").parsed, _count(tmp_path, "YX").shared) == (1, 2)
    stacks = stackio.load(tmp_path, "YX")
    first, second = stacks[0].metadata, stacks[1].metadata
    assert first == second and first.voxel_size == {"Y": 0.5, "X": 0.5}
    assert (first.source, second.source) == (stacks[0].source, stacks[1].source)
    assert second.raw() == tifffile.TiffFile(tmp_path / "img1.tif").imagej_metadata
    second.voxel_size["X"] = 99.0  # a caller's change to one stack's metadata is that stack's alone
    assert first.voxel_size == stacks[2].metadata.voxel_size == {"Y": 0.5, "X": 0.5}
