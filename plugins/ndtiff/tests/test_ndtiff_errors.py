"""Bad input: each a clear StackioError that names the dataset and says what is wrong."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import stackio
from stackio_ndtiff.samples import scene, write_ndtiff


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """A writable copy-able dataset: time 3 x channel 2, 8x10."""
    images = [({"time": t, "channel": c}, scene(8, 10, seed=t * 2 + i)) for t in range(3) for i, c in enumerate("ab")]
    return write_ndtiff(tmp_path / "small", images, {"PixelSize_um": 1.0})


def stack_file(folder: Path) -> Path:
    return next(folder.glob("*NDTiffStack.tif"))


def test_folder_without_index(tmp_path: Path, small: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(stackio.ReadError, match=r"empty: no NDTiff.index in this folder"):
        stackio.load(empty, format="ndtiff")
    loose = tmp_path / "loose"
    loose.mkdir()
    shutil.copy(stack_file(small), loose)
    with pytest.raises(stackio.ReadError, match=r"loose: no NDTiff.index"):
        stackio.load(loose, format="ndtiff")
    assert stackio.detect(small).format == "ndtiff"
    from stackio_ndtiff import stackio_detect

    assert not stackio_detect(stackio.Source.parse(loose)).accepted
    assert not stackio_detect(stackio.Source.parse(stack_file(small))).accepted


def test_stack_file_is_not_a_dataset(small: Path) -> None:
    with pytest.raises(stackio.ValidationError, match=r"NDTiffStack.tif: an NDTiff dataset is a folder"):
        stackio.load(stack_file(small), format="ndtiff")


def test_v1_layout_without_index(tmp_path: Path) -> None:
    (tmp_path / "old" / "Full resolution").mkdir(parents=True)
    with pytest.raises(stackio.ReadError, match=r"old: the 'Full resolution' folder has no NDTiff.index.*v1"):
        stackio.load(tmp_path / "old", format="ndtiff")


@pytest.mark.parametrize("keep", [0, 3, 30])
def test_index_without_a_complete_entry(small: Path, keep: int) -> None:
    index = small / "NDTiff.index"
    index.write_bytes(index.read_bytes()[:keep])
    with pytest.raises(stackio.ReadError, match=r"small: NDTiff.index holds no complete image entry"):
        stackio.load(small)


def test_corrupt_index(small: Path) -> None:
    index = small / "NDTiff.index"
    data = bytearray(index.read_bytes())
    data[4] = ord("[")  # the first entry's axes JSON no longer parses
    data[5] = ord("]")
    data[6] = 0xFF
    index.write_bytes(bytes(data))
    with pytest.raises(stackio.ReadError, match=r"small: NDTiff.index is corrupt: entry 0 at byte 0"):
        stackio.load(small)


def test_missing_stack_file(small: Path) -> None:
    name = stack_file(small).name
    stack_file(small).unlink()
    message = rf"small: the stack file '{name}' that NDTiff.index refers to is missing"
    with pytest.raises(stackio.ReadError, match=message):
        stackio.load(small)


def test_truncated_stack_file(small: Path) -> None:
    path = stack_file(small)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(stackio.ReadError, match=r"small: the stack file .* is \d+ bytes but NDTiff.index places"):
        stackio.load(small)


def test_stack_file_that_is_not_ndtiff(small: Path) -> None:
    path = stack_file(small)
    data = bytearray(path.read_bytes())
    data[8:12] = b"\0\0\0\0"
    path.write_bytes(bytes(data))
    with pytest.raises(stackio.ReadError, match=r"small: cannot read the stack file .*not an NDTiff stack"):
        stackio.load(small)


def test_stack_file_removed_after_load(small: Path) -> None:
    stack = stackio.load(small)[0]
    stack_file(small).unlink()
    with pytest.raises(stackio.ReadError, match=r"small: reading sample 0"):
        stack.extract_patch(0, None, (0, 0), (2, 2))


@pytest.mark.parametrize("axes", ["ZYX", "YX", "SCTZYX", "TCZYX", "CZYX", "SZCYX"])
def test_wrong_axes(small: Path, axes: str) -> None:
    with pytest.raises(stackio.AxesError, match=rf"small: axes '{axes}' is not a layout.*SCYX, SCZYX, SCTYX"):
        stackio.load(small, axes)


def test_depth_axis_must_exist(small: Path, tcz_dataset: Path) -> None:
    with pytest.raises(
        stackio.AxesError,
        match=r"small: axes 'SCZYX' makes z the depth axis, but it has no z axis "
        r"\(axes: channel=2, time=3\); use SCYX, SCTYX",
    ):
        stackio.load(small, "SCZYX")
    assert stackio.load(small, "SCTYX")[0].data_shape == (1, 2, 3, 8, 10)
    with pytest.raises(stackio.AxesError, match=r"tcz: axes 'SCZYX' makes z the depth axis, but select fixes z"):
        stackio.load(tcz_dataset, "SCZYX", select={"z": 1})
    with pytest.raises(stackio.AxesError, match=r"tcz: axes 'SCTYX' makes time the depth axis, but its time axis has"):
        stackio.load(tcz_dataset, "SCTYX", select={"time": [1]})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"select": "time=1"}, r"small: select must map NDTiff axis names to values"),
        ({"select": {"time": 1.5}}, r"small: select\['time'\] must be an int or str"),
        ({"select": {"time": []}}, r"small: select\['time'\] must be an int or str"),
        ({"select": {"time": [1, 1]}}, r"small: select\['time'\] repeats a value"),
        (
            {"select": {"z": 0}},
            r"small: select names the axis 'z', which the dataset does not have; its axes are "
            r"channel, time",
        ),
        ({"select": {"time": 7}}, r"small: select\['time'\] = 7 is not a value of that axis; it has 0, 1, 2"),
        ({"select": {"channel": "c"}}, r"small: select\['channel'\] = 'c' is not a value.*'a', 'b'"),
        ({"select": {"channel": 0}}, r"small: select\['channel'\] = 0 is not a value"),
        # stitched and level are checked by the core from the declared options (one wording for every format)
        ({"stitched": "yes"}, r"small: stitched must be True or False"),
        ({"level": -1}, r"small: level must be a non-negative int \(resolution level"),
        ({"level": "1"}, r"small: level must be a non-negative int \(resolution level"),
        (
            {"tile": 1},
            r"small: the ndtiff format does not take the option\(s\) tile; it accepts: select, stitched, "
            r"level",
        ),
    ],
)
def test_bad_options(small: Path, options: dict, message: str) -> None:
    with pytest.raises(stackio.ValidationError, match=message):
        stackio.load(small, **options)


def test_scene_index_is_refused(small: Path) -> None:
    with pytest.raises(stackio.ValidationError, match=r"small@1: an NDTiff dataset has no numbered scenes"):
        stackio.load(f"{small}@1", format="ndtiff")


def test_images_of_different_sizes(tmp_path: Path) -> None:
    images = [({"position": 0}, np.zeros((8, 10), np.uint16)), ({"position": 1}, np.zeros((6, 10), np.uint16))]
    folder = write_ndtiff(tmp_path / "mixed", images, {})
    with pytest.raises(stackio.ReadError, match=r"mixed: its images have different sizes \(6x10, 8x10\)"):
        stackio.load(folder)
    assert stackio.load(folder, select={"position": 1})[0].data_shape == (1, 1, 6, 10)


def test_index_entries_at_the_same_coordinates_are_refused_not_dropped(tmp_path: Path) -> None:
    # ndstorage's writer indexes all three images; keeping one per coordinate would lose an image silently
    images = [({"time": t}, np.full((8, 10), v, np.uint16)) for t, v in ((0, 1), (1, 2), (1, 3))]
    folder = write_ndtiff(tmp_path / "twice", images, {})
    with pytest.raises(
        stackio.ReadError,
        match=r"twice: .*NDTiff\.index lists two images at the same coordinates \(time=1\): "
        r"entries 1 and 2",
    ):
        stackio.load(folder)
    (stack,) = stackio.load(folder, select={"time": 0})  # coordinates left out by select= are not in the way
    np.testing.assert_array_equal(stack.extract_patch(0, None, (0, 0), (8, 10))[0], images[0][1])


def test_index_entries_without_every_axis_are_refused_not_dropped(tmp_path: Path) -> None:
    images = [({"time": 0}, np.full((8, 10), 1, np.uint16))] + [
        ({"time": 1, "z": z}, np.full((8, 10), 2 + z, np.uint16)) for z in range(2)
    ]
    folder = write_ndtiff(tmp_path / "partial", images, {})
    with pytest.raises(stackio.ReadError, match=r"partial: .*entry 0 \(time=0\) does not give the axis/axes z"):
        stackio.load(folder)
