"""Axes: taken from OME, ImageJ or tifffile metadata when None; checked against the file when given."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import stackio
import tifffile
from stackio import AxesError
from stackio_tiff.layouts import file_axes, layout_for, resolve
from tiff_helpers import every_sample, same_as_tifffile

RNG = np.random.default_rng(9)


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("axes")
    tifffile.imwrite(
        d / "tczyx.ome.tif", RNG.integers(0, 255, (2, 3, 4, 10, 11), dtype=np.uint8), metadata={"axes": "TCZYX"}
    )
    tifffile.imwrite(
        d / "zyx_shaped.tif",
        RNG.integers(0, 255, (4, 10, 11), dtype=np.uint8),
        photometric="minisblack",
        metadata={"axes": "ZYX"},
    )
    tifffile.imwrite(
        d / "rgb_t_imagej.tif",
        RNG.integers(0, 255, (3, 10, 11, 3), dtype=np.uint8),
        imagej=True,
        photometric="rgb",
        metadata={"axes": "TYXS"},
    )
    tifffile.imwrite(
        d / "c_and_rgb.ome.tif",
        RNG.integers(0, 255, (2, 10, 11, 3), dtype=np.uint8),
        photometric="rgb",
        metadata={"axes": "CYXS"},
    )
    return d


def test_ome_axes_are_taken_from_the_file(d: Path) -> None:
    (stack,) = stackio.load(d / "tczyx.ome.tif")
    assert stack.original_axes == "TCZYX" and stack.data_shape == (2, 3, 4, 10, 11)
    same_as_tifffile(stack, d / "tczyx.ome.tif", "TCZYX")


def test_given_axes_that_match_are_accepted_in_any_case(d: Path) -> None:
    (stack,) = stackio.load(d / "tczyx.ome.tif", "tczyx")
    assert stack.original_axes == "TCZYX"


def test_given_axes_that_permute_the_file_are_refused(d: Path) -> None:
    with pytest.raises(AxesError, match=r"axes 'CTZYX' contradict the file: its OME metadata declares 'TCZYX'"):
        stackio.load(d / "tczyx.ome.tif", "CTZYX")
    with pytest.raises(AxesError, match=r"zyx_shaped\.tif: axes 'TYX' contradict .*tifffile 'shaped' metadata"):
        stackio.load(d / "zyx_shaped.tif", "TYX")


@pytest.mark.parametrize(
    ("shape", "axes"), [((2, 1, 1), "ZYX"), ((1, 1, 1), "ZYX"), ((2, 3, 5, 1), "CZYX"), ((3, 2, 1, 1), "TZYX")]
)
def test_guessed_axes_of_one_pixel_wide_images_give_way_to_given_axes(
    tmp_path: Path, shape: tuple[int, ...], axes: str
) -> None:
    """tifffile guesses 'YQX', 'XYX', 'QYXQ' for these (no axis metadata): the given axes are taken."""
    array = RNG.integers(0, 60000, shape, dtype=np.uint16)
    tifffile.imwrite(tmp_path / "a.tif", array, photometric="minisblack")
    with tifffile.TiffFile(tmp_path / "a.tif") as tif:
        guess = tif.series[0].axes
        assert tif.series[0].kind == "shaped" and ("Q" in guess or len(set(guess)) < len(guess)), guess
    with pytest.raises(AxesError, match=r"a\.tif: axes are needed"):
        stackio.load(tmp_path / "a.tif")
    (stack,) = stackio.load(tmp_path / "a.tif", axes)
    assert stack.original_axes == axes
    same_as_tifffile(stack, tmp_path / "a.tif", axes)
    stack.close()


def test_declared_axes_of_one_pixel_wide_images_are_still_checked(tmp_path: Path) -> None:
    tifffile.imwrite(
        tmp_path / "a.tif", np.zeros((2, 1, 1), np.uint8), photometric="minisblack", metadata={"axes": "ZYX"}
    )
    (stack,) = stackio.load(tmp_path / "a.tif")
    assert stack.original_axes == "ZYX"
    with pytest.raises(AxesError, match=r"axes 'TYX' contradict the file: its tifffile 'shaped' metadata"):
        stackio.load(tmp_path / "a.tif", "TYX")


def test_generic_pages_with_guessed_axes_take_the_given_axes(tmp_path: Path) -> None:
    array = RNG.integers(0, 255, (3, 1, 1), dtype=np.uint8)
    with tifffile.TiffWriter(tmp_path / "g.tif") as w:
        for plane in array:
            w.write(plane, photometric="minisblack", metadata=None)
    with tifffile.TiffFile(tmp_path / "g.tif") as tif:
        assert tif.series[0].kind == "generic"
    (stack,) = stackio.load(tmp_path / "g.tif", "TYX")
    np.testing.assert_array_equal(every_sample(stack), array[:, None])


def test_imagej_rgb_time_series(d: Path) -> None:
    (stack,) = stackio.load(d / "rgb_t_imagej.tif")
    assert stack.original_axes == "TYXC" and stack.data_shape == (3, 3, 10, 11)
    same_as_tifffile(stack, d / "rgb_t_imagej.tif", "TYXC")


def test_channels_beside_rgb_samples_need_naming(d: Path) -> None:
    with pytest.raises(AxesError, match=r"samples per pixel \(S\) beside channels \(C\)"):
        stackio.load(d / "c_and_rgb.ome.tif")
    (stack,) = stackio.load(d / "c_and_rgb.ome.tif", "CYXS")  # the RGB samples become stack samples
    assert stack.data_shape == (3, 2, 10, 11)
    reference = tifffile.imread(d / "c_and_rgb.ome.tif")
    np.testing.assert_array_equal(every_sample(stack), reference.transpose(3, 0, 1, 2))


def test_letter_mapping() -> None:
    assert file_axes("TZCYXS") == "TZCYX?"
    assert file_axes("YXS") == "YXC"
    assert file_axes("IYX") == "?YX"
    assert file_axes("QSYX") == "?CYX"
    assert resolve("EZYX", (2, 3, 4, 5), None, source="f", kind="ome") == "EZYX"
    assert resolve("EZYX", (2, 3, 4, 5), "TZYX", source="f", kind="ome") == "TZYX"  # extras may be renamed


def test_extra_dimensions_merge_into_samples_outermost() -> None:
    layout = layout_for("TEZCYX", (2, 3, 4, 5, 6, 7), source="f")
    assert layout.sample_axes == "ET" and layout.shape == (6, 5, 4, 6, 7)
