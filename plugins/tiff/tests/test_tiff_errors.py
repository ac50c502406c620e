"""Bad input: each case is a clear stackio error that names the file and says what to do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import stackio
import tifffile
from stackio import AxesError, ReadError, UnsupportedFormatError, ValidationError
from tiff_helpers import every_sample

RNG = np.random.default_rng(11)


def _cut(source: Path, target: Path, keep: int) -> Path:
    target.write_bytes(source.read_bytes()[:keep])
    return target


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bad")
    tifffile.imwrite(
        d / "stack.tif",
        RNG.integers(0, 255, (8, 64, 64), dtype=np.uint8),
        photometric="minisblack",
        metadata={"axes": "ZYX"},
    )
    tifffile.imwrite(
        d / "tiled.tif",
        RNG.integers(0, 255, (4, 128, 128), dtype=np.uint8),
        tile=(32, 32),
        compression="zlib",
        photometric="minisblack",
        metadata={"axes": "ZYX"},
    )
    tifffile.imwrite(d / "hyper.tif", np.zeros((2, 3, 16, 16), np.uint8), imagej=True, metadata={"axes": "TCYX"})
    tifffile.imwrite(d / "pages.tif", np.zeros((3, 16, 16), np.uint8), photometric="minisblack", metadata=None)
    return d


@pytest.mark.parametrize("keep", [100, 3000, 20000])
def test_truncated_contiguous_tiff(files: Path, tmp_path: Path, keep: int) -> None:
    path = _cut(files / "stack.tif", tmp_path / "cut.tif", keep)
    with pytest.raises(ReadError, match=r"cut\.tif: .*(truncated|could not be read)"):
        stackio.load(path, "ZYX")


@pytest.mark.parametrize("fraction", [0.3, 0.9])
def test_truncated_compressed_tiff(files: Path, tmp_path: Path, fraction: float) -> None:
    size = (files / "tiled.tif").stat().st_size
    path = _cut(files / "tiled.tif", tmp_path / "cut_tiled.tif", int(size * fraction))
    with pytest.raises(ReadError, match=r"cut_tiled\.tif: .*truncated"):
        stackio.load(path, "ZYX")


def test_corrupt_tile_fails_at_read_naming_the_file(files: Path, tmp_path: Path) -> None:
    data = bytearray((files / "tiled.tif").read_bytes())
    with tifffile.TiffFile(files / "tiled.tif") as tif:
        offset, count = tif.pages[0].dataoffsets[0], tif.pages[0].databytecounts[0]
    data[offset : offset + count] = b"\xff" * count
    (tmp_path / "corrupt.tif").write_bytes(bytes(data))
    (stack,) = stackio.load(tmp_path / "corrupt.tif", "ZYX")
    stack.extract_patch(0, None, (0, 64, 64), (1, 16, 16))  # other tiles are fine
    with pytest.raises(ReadError, match=r"corrupt\.tif: reading sample 0 at \(0, 0, 0\) failed"):
        stack.extract_patch(0, None, (0, 0, 0), (1, 16, 16))


def test_zero_byte_tif(tmp_path: Path) -> None:
    (tmp_path / "empty.tif").write_bytes(b"")
    with pytest.raises(ReadError, match=r"empty\.tif: the file is empty"):
        stackio.load(tmp_path / "empty.tif")


def test_non_tiff_with_tif_suffix(tmp_path: Path) -> None:
    (tmp_path / "fake.tif").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(ReadError, match=r"fake\.tif: is not a TIFF file: it starts with b'\\x89PNG'"):
        stackio.load(tmp_path / "fake.tif")


def test_directory_without_tiffs(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(UnsupportedFormatError, match="holds no file or dataset"):
        stackio.load(tmp_path)


def test_bad_file_in_a_directory_is_named(files: Path, tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "good.tif", np.zeros((4, 4), np.uint8))
    (tmp_path / "zbad.tif").write_bytes(b"not a tiff at all")
    with pytest.raises(ReadError, match=r"zbad\.tif: is not a TIFF file"):
        stackio.load(tmp_path)


def test_bad_file_in_a_claimed_directory_is_named(tmp_path: Path) -> None:
    for name in ("a.ome.tif", "b.ome.tif"):
        tifffile.imwrite(tmp_path / name, np.zeros((4, 4), np.uint8), metadata={"axes": "YX"})
    (tmp_path / "c.tif").write_bytes(b"")
    assert stackio.detect(tmp_path).format == "tiff"
    with pytest.raises(ReadError, match=r"c\.tif: the file is empty"):
        stackio.load(tmp_path)


def test_directory_of_different_shapes_and_dtypes_gives_one_stack_per_file(tmp_path: Path) -> None:
    arrays = {
        "a1.tif": RNG.integers(0, 255, (10, 12), dtype=np.uint8),
        "a2.tif": RNG.integers(0, 60000, (20, 8), dtype=np.uint16),
        "a10.tif": RNG.random((2, 5, 6)).astype(np.float32),
    }
    for name, array in arrays.items():
        tifffile.imwrite(tmp_path / name, array, photometric="minisblack", metadata=None)
    with pytest.raises(AxesError, match=r"a10\.tif: axes are needed"):
        stackio.load(tmp_path)  # a10 is a stack of pages of unknown meaning
    (tmp_path / "a10.tif").unlink()
    tifffile.imwrite(tmp_path / "a10.tif", arrays["a10.tif"], photometric="minisblack", metadata={"axes": "ZYX"})
    stacks = stackio.load(tmp_path)
    assert [Path(s.source).name for s in stacks] == ["a1.tif", "a2.tif", "a10.tif"]
    assert [(s.data_shape, s.data_dtype) for s in stacks] == [
        ((1, 1, 10, 12), np.uint8),
        ((1, 1, 20, 8), np.uint16),
        ((1, 1, 2, 5, 6), np.float32),
    ]
    for stack in stacks:
        np.testing.assert_array_equal(every_sample(stack)[0, 0], arrays[Path(stack.source).name])


def test_axes_contradicting_imagej_metadata(files: Path) -> None:
    with pytest.raises(
        AxesError,
        match=r"hyper\.tif: axes 'ZCYX' contradict the file: its ImageJ metadata "
        r"declares 'TCYX'",
    ):
        stackio.load(files / "hyper.tif", "ZCYX")
    with pytest.raises(AxesError, match=r"hyper\.tif: axes 'CTYX' contradict"):
        stackio.load(files / "hyper.tif", "CTYX")


def test_axes_of_the_wrong_length(files: Path) -> None:
    with pytest.raises(AxesError, match=r"hyper\.tif.*has 3 letters but the data has 4 dimensions"):
        stackio.load(files / "hyper.tif", "CYX")


def test_generic_pages_need_axes_with_an_example(files: Path) -> None:
    with pytest.raises(AxesError, match=r"pages\.tif: axes are needed.*tifffile reads axes 'IYX'.*axes='ZYX'"):
        stackio.load(files / "pages.tif")
    with pytest.raises(AxesError, match=r"pages\.tif.*unknown letters 'Q'"):
        stackio.load(files / "pages.tif", "QYX")


def test_series_index_out_of_range(files: Path) -> None:
    with pytest.raises(ValidationError, match=r"stack\.tif: series 1 does not exist; the file has 1 series \(0\)"):
        stackio.load(f"{files / 'stack.tif'}@1", "ZYX")
    with pytest.raises(ValidationError, match=r"stack\.tif: series 4 does not exist"):
        stackio.load(files / "stack.tif", "ZYX", series=4)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        # checked by the core from the declared options: one wording for every format
        ("series", -1, "series must be a non-negative int .*, not -1"),
        ("series", "1", "series must be a non-negative int .*, not '1'"),
        ("level", 1.5, "level must be a non-negative int .*, not 1.5"),
        ("file_backed", "yes", "file_backed must be True or False .*, not 'yes'"),
    ],
)
def test_bad_option_values(files: Path, option: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=rf"stack\.tif: {message}"):
        stackio.load(files / "stack.tif", "ZYX", **{option: value})


def test_unknown_option_lists_the_accepted_ones(files: Path) -> None:
    with pytest.raises(ValidationError, match="does not take the option.*scene.*series, level, file_backed"):
        stackio.load(files / "stack.tif", "ZYX", scene=1)


def test_series_option_on_a_directory(tmp_path: Path) -> None:
    for name in ("a.ome.tif", "b.ome.tif"):
        tifffile.imwrite(tmp_path / name, np.zeros((4, 4), np.uint8), metadata={"axes": "YX"})
    with pytest.raises(ValidationError, match="series= selects an image of one file, not of a folder"):
        stackio.load(tmp_path, series=0)


@pytest.mark.parametrize("keep", [1200, 1950])  # pixels are at 368..1904, later pages' IFDs after them
def test_truncated_imagej_hyperstack(files: Path, tmp_path: Path, keep: int) -> None:
    with tifffile.TiffFile(files / "hyper.tif") as tif:
        assert (tif.series[0].dataoffset, tif.pages[1].offset) == (368, 1904)
    path = _cut(files / "hyper.tif", tmp_path / "cut_hyper.tif", keep)
    with pytest.raises(ReadError, match=r"cut_hyper\.tif: .*truncated"):
        stackio.load(path)


def test_series_option_on_a_plain_folder_applies_to_each_file(tmp_path: Path) -> None:
    for i, name in enumerate(("a.tif", "b.tif")):
        tifffile.imwrite(tmp_path / name, np.full((4, 4), i, np.uint8), metadata=None)
    stacks = stackio.load(tmp_path, "YX", series=0)  # no multi-file set: as when each file is loaded alone
    assert [int(s.extract_patch(0, None, (0, 0), (1, 1))[0, 0, 0]) for s in stacks] == [0, 1]
    with pytest.raises(ValidationError, match=r"a\.tif: series 1 does not exist"):
        stackio.load(tmp_path, "YX", series=1)
