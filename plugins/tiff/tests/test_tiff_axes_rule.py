"""The axes rule on TIFFs: what the file declares binds, what it leaves open is named freely.

Each case is a file written by tifffile as users write them; every pixel is compared with
`tifffile.imread` read in the axes the stack was loaded with.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import stackio
import tifffile
from stackio import AxesError
from tiff_helpers import every_sample, same_as_tifffile

RNG = np.random.default_rng(22)


def _pattern(shape: tuple[int, ...]) -> np.ndarray:
    return RNG.integers(0, 60000, shape, dtype=np.uint16)


def _imwrite(path: Path, data: np.ndarray, **kwargs: object) -> Path:
    with warnings.catch_warnings():  # tifffile warns that it guesses RGB for 3 or 4 planes
        warnings.simplefilter("ignore", DeprecationWarning)
        tifffile.imwrite(path, data, **kwargs)
    return path


def _plain(path: Path, pages: np.ndarray, **kwargs: object) -> Path:
    """A plain multi-page TIFF: one page per plane, no metadata of tifffile's own."""
    with tifffile.TiffWriter(path) as tif:
        for page in pages:
            tif.write(page, metadata=None, **kwargs)
    return path


# -- tifffile 'shaped' without "axes": only the shape is declared ----------------------------------


@pytest.mark.parametrize("planes", [3, 4])
def test_a_z_stack_written_plainly_by_tifffile_loads_with_zyx(tmp_path: Path, planes: int) -> None:
    """`tifffile.imwrite("z.tif", zstack)`: the writer guessed RGB(A) for 3 or 4 planes; that binds nothing."""
    path = _imwrite(tmp_path / "z.tif", _pattern((planes, 16, 20)))
    with tifffile.TiffFile(path) as tif:
        assert tif.series[0].kind == "shaped" and tif.series[0].axes == "SYX"
        assert tif.pages.first.samplesperpixel == planes  # what tifffile's writer chose
    (stack,) = stackio.load(path, "ZYX")
    assert stack.original_axes == "ZYX" and stack.data_shape == (1, 1, planes, 16, 20)
    same_as_tifffile(stack, path, "ZYX")
    (as_samples,) = stackio.load(path, "SYX")
    assert as_samples.data_shape == (planes, 1, 16, 20)
    same_as_tifffile(as_samples, path, "SYX")
    (by_default,) = stackio.load(path)  # axes=None still takes tifffile's guess: colour samples as C
    assert by_default.original_axes == "CYX"
    same_as_tifffile(by_default, path, "CYX")


def test_shape_only_files_take_given_axes_in_any_order(tmp_path: Path) -> None:
    path = _imwrite(tmp_path / "a.tif", _pattern((6, 7, 8)), photometric="minisblack")
    with tifffile.TiffFile(path) as tif:
        assert tif.series[0].kind == "shaped" and tif.series[0].axes == "QYX"
    for axes in ("ZYX", "TYX", "YZX", "XZY"):  # as CAREamics applies axes to tifffile.imread's array
        (stack,) = stackio.load(path, axes)
        assert stack.original_axes == axes
        same_as_tifffile(stack, path, axes)


# -- plain multi-page files: the pages' structure binds Y, X and the colour samples ----------------


def test_plain_pages_bind_rows_and_columns(tmp_path: Path) -> None:
    pages = _pattern((5, 16, 17))
    path = _plain(tmp_path / "p.tif", pages, photometric="minisblack")
    with tifffile.TiffFile(path) as tif:
        assert tif.series[0].kind == "generic" and tif.series[0].axes == "IYX"
    for axes in ("ZYX", "TYX", "SYX", "CYX"):  # the page index is free
        (stack,) = stackio.load(path, axes)
        assert stack.original_axes == axes
        same_as_tifffile(stack, path, axes)
    with pytest.raises(AxesError, match=r"p\.tif: axes 'YXZ' contradict the file: its page structure .*'\?YX'"):
        stackio.load(path, "YXZ")
    with pytest.raises(AxesError, match=r"axes 'ZXY' contradict the file"):
        stackio.load(path, "ZXY")


def test_plain_rgb_pages_bind_their_samples_as_colour(tmp_path: Path) -> None:
    pages = RNG.integers(0, 255, (4, 12, 13, 3), dtype=np.uint8)
    path = _plain(tmp_path / "rgb.tif", pages, photometric="rgb")
    with tifffile.TiffFile(path) as tif:
        assert tif.series[0].axes == "IYXS"
    (stack,) = stackio.load(path, "TYXC")
    assert stack.data_shape == (4, 3, 12, 13)
    same_as_tifffile(stack, path, "TYXC")
    (samples,) = stackio.load(path, "ZYXS")  # colour samples may be read as separate samples
    assert samples.data_shape == (3, 1, 4, 12, 13)
    same_as_tifffile(samples, path, "ZYXS")
    for wrong in ("ZYXT", "CYXZ", "ZXYC"):
        with pytest.raises(AxesError, match=rf"rgb\.tif: axes '{wrong}' contradict the file: its page structure"):
            stackio.load(path, wrong)


def test_the_single_page_of_a_plain_file_is_bound_too(tmp_path: Path) -> None:
    path = _plain(tmp_path / "one.tif", _pattern((1, 9, 11)), photometric="minisblack")
    (stack,) = stackio.load(path, "YX")
    same_as_tifffile(stack, path, "YX")
    with pytest.raises(AxesError, match=r"axes 'XY' contradict the file"):
        stackio.load(path, "XY")


# -- tifffile's S: colour samples only where a page has more than one sample per pixel ------------


@pytest.mark.parametrize(("axes", "shape"), [("SYX", (5, 16, 18)), ("STYX", (2, 5, 16, 18)), ("SZYX", (2, 5, 16, 18))])
def test_careamics_sample_axis_is_read_as_samples(tmp_path: Path, axes: str, shape: tuple[int, ...]) -> None:
    """`metadata={"axes": "SYX"}` with one sample per pixel: S is CAREamics' sample axis."""
    path = _imwrite(tmp_path / "s.tif", _pattern(shape), photometric="minisblack", metadata={"axes": axes})
    with tifffile.TiffFile(path) as tif:
        assert tif.series[0].axes == axes and tif.pages.first.samplesperpixel == 1
    for given in (axes, None):
        (stack,) = stackio.load(path, given)
        assert stack.original_axes == axes
        assert stack.data_shape[0] == int(np.prod(shape[: len(axes) - (3 if "Z" in axes else 2)]))
        assert stack.data_shape[1] == 1  # no channels: S is not colour
        same_as_tifffile(stack, path, axes)
    with pytest.raises(AxesError, match=rf"contradict the file: its tifffile 'shaped' metadata declares '{axes}'"):
        stackio.load(path, "C" + axes[1:])


@pytest.mark.parametrize("axes", ["SYX", "STYX", "SZYX"])
def test_careamics_sample_axis_of_three_planes_written_as_guessed_rgb(tmp_path: Path, axes: str) -> None:
    """tifffile's writer stores 3 planes as RGB unless told otherwise; the declared S still loads as samples."""
    shape = (3,) * (len(axes) - 2) + (16, 18)
    path = _imwrite(tmp_path / "s.tif", _pattern(shape), metadata={"axes": axes})
    with tifffile.TiffFile(path) as tif:
        assert tif.series[0].axes == axes and tif.pages.first.samplesperpixel == 3
    (stack,) = stackio.load(path, axes)
    assert stack.original_axes == axes and stack.data_shape[1] == 1
    same_as_tifffile(stack, path, axes)


def test_imagej_rgb_samples_are_still_colour(tmp_path: Path) -> None:
    data = RNG.integers(0, 255, (3, 10, 11, 3), dtype=np.uint8)
    path = _imwrite(tmp_path / "rgb.tif", data, imagej=True, photometric="rgb", metadata={"axes": "TYXS"})
    (stack,) = stackio.load(path)
    assert stack.original_axes == "TYXC"
    (samples,) = stackio.load(path, "TYXS")
    assert samples.data_shape == (9, 1, 10, 11)
    same_as_tifffile(samples, path, "TYXS")
    with pytest.raises(AxesError, match=r"ImageJ metadata declares 'TYXC'"):
        stackio.load(path, "TYXZ")


# -- a declared Z or T merged into S; other contradictions stay errors -----------------------------


def test_declared_z_merged_into_samples(tmp_path: Path) -> None:
    data = _pattern((4, 12, 14))
    path = _imwrite(tmp_path / "z.ome.tif", data, photometric="minisblack", metadata={"axes": "ZYX"})
    (stack,) = stackio.load(path, "SYX")
    assert stack.original_axes == "SYX" and stack.data_shape == (4, 1, 12, 14)
    for z in range(4):  # one 2-D sample per plane
        np.testing.assert_array_equal(every_sample(stack)[z, 0], tifffile.imread(path)[z])
    with pytest.raises(
        AxesError, match=r"z\.ome\.tif: axes 'CYX' contradict the file: its OME metadata declares 'ZYX'"
    ):
        stackio.load(path, "CYX")
    with pytest.raises(AxesError, match=r"axes 'TYX' contradict the file: its OME metadata declares 'ZYX'"):
        stackio.load(path, "TYX")


def test_declared_t_or_z_of_a_hyperstack_merged_into_samples(tmp_path: Path) -> None:
    data = _pattern((2, 3, 2, 10, 12))
    path = _imwrite(tmp_path / "h.tif", data, imagej=True, metadata={"axes": "TZCYX"})
    for axes, shape in (("SZCYX", (2, 2, 3, 10, 12)), ("TSCYX", (6, 2, 10, 12))):
        (stack,) = stackio.load(path, axes)
        assert stack.original_axes == axes and stack.data_shape == shape
        same_as_tifffile(stack, path, axes)
    with pytest.raises(AxesError, match=r"ImageJ metadata declares 'TZCYX'"):
        stackio.load(path, "TZSYX")  # channels cannot be merged into samples
    with pytest.raises(AxesError, match=r"ImageJ metadata declares 'TZCYX'"):
        stackio.load(path, "ZTCYX")
