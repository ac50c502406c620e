"""Per-image metadata of TIFF stacks: OME Plane elements (as tifffile's OME-XML says) and ImageJ frame intervals.

Files are written by tifffile with known Plane attributes; the reference is tifffile's own reading of
the OME-XML (`TiffFile.ome_metadata` through `tifffile.xml2dict`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stackio
import tifffile
from stackio.cli import main
from stackio.image_metadata import iter_images
from stackio.testing import RealFile, realdata_params

T, C, Z = 2, 2, 3


def _delta_ms(t: int, c: int, z: int) -> float:
    return 500.0 + 1000.0 * t + 10.0 * z + c


def _planes(offset_x: float) -> dict[str, list[Any]]:
    order = [(t, c, z) for t in range(T) for c in range(C) for z in range(Z)]  # tifffile's plane order
    n = len(order)
    return {
        "DeltaT": [_delta_ms(*k) for k in order],
        "DeltaTUnit": ["ms"] * n,
        "ExposureTime": [0.05 + 0.01 * c for _, c, _ in order],
        "PositionX": [offset_x + t for t, _, _ in order],
        "PositionXUnit": ["µm"] * n,
        "PositionY": [-7.5] * n,
        "PositionYUnit": ["µm"] * n,
        "PositionZ": [0.25 * z for _, _, z in order],
        "PositionZUnit": ["nm"] * n,
    }


@pytest.fixture(scope="module")
def ome_planes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two OME series of TCZYX, each plane with its own DeltaT, exposure and position."""
    path = tmp_path_factory.mktemp("ome_planes") / "planes.ome.tif"
    with tifffile.TiffWriter(path, ome=True) as tif:
        for series, offset in enumerate((10.0, 2000.0)):
            data = np.arange(T * C * Z * 8 * 9, dtype=np.uint16).reshape(T, C, Z, 8, 9) + series
            tif.write(data, metadata={"axes": "TCZYX", "Plane": _planes(offset), "Name": f"series{series}"})
    return path


def _reference_planes(path: Path, image: int) -> dict[tuple[int, int, int], dict[str, Any]]:
    with tifffile.TiffFile(path) as tif:
        ome = tifffile.xml2dict(tif.ome_metadata)["OME"]
    images = ome["Image"] if isinstance(ome["Image"], list) else [ome["Image"]]
    planes = images[image]["Pixels"].get("Plane", [])
    planes = planes if isinstance(planes, list) else [planes]
    return {(p.get("TheT", 0), p.get("TheC", 0), p.get("TheZ", 0)): p for p in planes}


def test_ome_planes_equal_tifffiles_ome_xml(ome_planes: Path) -> None:
    stacks = stackio.load(ome_planes)
    assert len(stacks) == 2
    for number, stack in enumerate(stacks):
        reference = _reference_planes(ome_planes, number)
        first = min(_delta_ms(*k) for k in reference) / 1000
        for sample, channel, depth in iter_images(stack):
            found = stack.image_metadata(sample, channel, depth)
            assert found is not None
            assert found.file_coords == {"image": number, "T": sample, "C": channel, "Z": depth}
            expected = reference[(sample, channel, depth)]
            assert {k: tifffile.xml2dict(f'<a v="{v}"/>')["a"]["v"] for k, v in found.raw.items()} == expected
            assert found.time == pytest.approx(expected["DeltaT"] / 1000 - first)
            assert found.exposure == pytest.approx(expected["ExposureTime"])
            assert found.stage_position == {"X": expected["PositionX"], "Y": -7.5, "Z": expected["PositionZ"]}
            assert found.stage_units == {"X": "micrometer", "Y": "micrometer", "Z": "nanometer"}


def test_ome_metadata_is_parsed_on_first_request_only(ome_planes: Path) -> None:
    stack = stackio.load(ome_planes)[1]
    reader = stack._images.reader_fn
    assert reader._parsed is None  # loading parsed no Plane
    assert stack.image_metadata(1, 1, 2).stage_position["X"] == 2001.0
    assert reader._parsed is not None


def test_ome_without_planes_still_says_which_image(tmp_path: Path) -> None:
    path = tmp_path / "bare.ome.tif"
    tifffile.imwrite(path, np.zeros((2, 3, 8, 8), np.uint8), ome=True, metadata={"axes": "CZYX"})
    found = stackio.load(path)[0].image_metadata(0, 1, 2)
    assert found is not None and found.file_coords == {"image": 0, "T": 0, "C": 1, "Z": 2}
    assert (found.time, found.exposure, found.stage_position, found.raw) == (None, None, None, None)


def test_imagej_frame_interval(tmp_path: Path) -> None:
    path = tmp_path / "frames.tif"
    data = np.zeros((4, 2, 8, 8), np.uint16)
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TCYX", "finterval": 2.5})
    stack = stackio.load(path)[0]
    found = stack.image_metadata(3, 1)
    assert found is not None and found.file_coords == {"T": 3, "C": 1}
    assert found.time == pytest.approx(7.5)
    assert found.stage_position is None and found.exposure is None


def test_formats_without_per_image_metadata_give_none(tmp_path: Path) -> None:
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, np.zeros((3, 8, 8), np.uint8), photometric="minisblack", metadata=None)
    imagej = tmp_path / "no_interval.tif"
    tifffile.imwrite(imagej, np.zeros((3, 8, 8), np.uint8), imagej=True, metadata={"axes": "TYX"})
    for path in (plain, imagej):
        stack = stackio.load(path, "TYX")[0]
        assert stack.image_metadata(2) is None
        assert stackio.image_metadata(stack, 2) is None
        with pytest.raises(stackio.ValidationError, match="sample 3 does not exist"):
            stack.image_metadata(3)


def test_cli_info_shows_the_first_images(ome_planes: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", f"{ome_planes}@1", "--json", "--images", "4"]) == 0
    shown = json.loads(capsys.readouterr().out)["stacks"][0]["images"]
    assert [(r["sample"], r["channel"], r["depth"]) for r in shown] == [(0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 0)]
    assert shown[1]["stage_position"] == {"X": 2000.0, "Y": -7.5, "Z": 0.25}
    assert shown[1]["time"] == pytest.approx(0.01)
    assert main(["info", f"{ome_planes}@1", "--images", "1"]) == 0
    assert "image [0, 0, 0] {'image': 1, 'T': 0, 'C': 0, 'Z': 0}" in capsys.readouterr().out


def test_cli_says_when_a_format_records_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, np.zeros((8, 8), np.uint8))
    assert main(["info", str(plain), "--json", "--images", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["stacks"][0]["images"] is None


def test_to_xarray_time_coordinate_from_the_imagej_interval(tmp_path: Path) -> None:
    path = tmp_path / "frames.tif"
    tifffile.imwrite(
        path,
        np.arange(4 * 8 * 8, dtype=np.uint16).reshape(4, 8, 8),
        imagej=True,
        resolution=(4.0, 4.0),
        metadata={"axes": "TYX", "finterval": 2.5, "unit": "um"},
    )
    stack = stackio.load(path)[0]
    array = stack.to_xarray()
    assert array.dims == ("S", "C", "Y", "X")
    np.testing.assert_allclose(array["T"].values, 2.5 * np.arange(4))
    assert array["T"].dims == ("S",) and array["T"].attrs["units"] == "second"
    np.testing.assert_allclose(array["X"].values, 0.25 * np.arange(8))
    assert array["X"].attrs["units"] == "micrometer"
    np.testing.assert_array_equal(array.values[:, 0], tifffile.imread(path))


def _ome_files() -> list[Any]:
    params = realdata_params("tiff", Path(__file__).resolve())
    ome = [
        p
        for p in params
        if p.values[0] is not None and p.values[0].path.name.lower().endswith((".ome.tif", ".ome.tiff"))
    ]
    return ome or params[:1]


@pytest.mark.realdata
@pytest.mark.parametrize("entry", _ome_files())
def test_real_planes_equal_tifffile(stackio_realdata: Path, entry: RealFile) -> None:
    for number, stack in enumerate(stackio.load(entry.path)):
        reference = _reference_planes(entry.path, number)
        for sample, channel, depth in iter_images(stack, 32):
            found = stack.image_metadata(sample, channel, depth)
            assert found is not None
            key = (found.file_coords["T"], found.file_coords["C"], found.file_coords["Z"])
            if key not in reference:
                assert found.raw is None
                continue
            expected = reference[key]
            assert found.raw is not None and set(found.raw) == set(expected)
            if "ExposureTime" in expected and expected.get("ExposureTimeUnit", "s") == "s":
                assert found.exposure == pytest.approx(expected["ExposureTime"])


def _every_kind(source: Path) -> dict[str, list[Any]]:
    """The stacks of `source` as every kind of stack stackio makes of a TIFF, in memory and not."""
    lazy = stackio.load(source)
    backed = stackio.load(source, file_backed=True)
    kinds = {
        "lazy": lazy,
        "in_memory": stackio.load(source, in_memory=True),
        "file_backed": backed,
        "file_backed+in_memory": stackio.load(source, file_backed=True, in_memory=True),
        "lazy.to_memory": [s.to_memory() for s in lazy],
        "file_backed.to_memory": [s.to_memory() for s in backed],
    }
    for stack in (*lazy, *backed):  # a copy in memory reads its metadata through files of its own
        stack.close()
    return kinds


def _same_images_everywhere(kinds: dict[str, list[Any]], limit: int | None = None) -> None:
    reference = kinds["lazy"]
    for kind, stacks in kinds.items():
        assert len(stacks) == len(reference), kind
        for stack, expected_stack in zip(stacks, reference, strict=True):
            for sample, channel, depth in iter_images(expected_stack, limit):
                expected = expected_stack.image_metadata(sample, channel, depth)
                found = stack.image_metadata(sample, channel, depth)
                assert found == expected, (kind, stack.source, sample, channel, depth)
                assert (found.raw if found else None) == (expected.raw if expected else None), kind


def test_every_kind_of_stack_keeps_per_image_metadata(tmp_path: Path, ome_planes: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    for number, offset in enumerate((10.0, 500.0)):  # a folder of OME-TIFFs, each plane with its own position
        data = np.arange(T * C * Z * 8 * 9, dtype=np.uint16).reshape(T, C, Z, 8, 9) + number
        tifffile.imwrite(
            folder / f"field{number}.ome.tif", data, ome=True, metadata={"axes": "TCZYX", "Plane": _planes(offset)}
        )
    frames = tmp_path / "frames.tif"
    tifffile.imwrite(
        frames, np.zeros((4, 2, 8, 9), np.uint16), imagej=True, metadata={"axes": "TCYX", "finterval": 2.5}
    )
    for source in (folder, ome_planes, frames):
        kinds = _every_kind(source)
        _same_images_everywhere(kinds)
        for kind, stacks in kinds.items():
            assert all(stack.image_metadata(0, 0, 0 if len(stack.data_shape) == 5 else None) for stack in stacks), kind
    kinds = _every_kind(folder)
    for kind, stacks in kinds.items():  # and against tifffile's own reading of each file's OME-XML
        for stack, name in zip(stacks, ("field0.ome.tif", "field1.ome.tif"), strict=True):
            expected = _reference_planes(folder / name, 0)[(1, 0, 2)]
            found = stack.image_metadata(1, 0, 2)
            assert found.stage_position["X"] == expected["PositionX"], kind
            assert found.time == pytest.approx((expected["DeltaT"] - _delta_ms(0, 0, 0)) / 1000), kind
            np.testing.assert_array_equal(stack.read_all(), tifffile.imread(folder / name))


@pytest.mark.realdata
@pytest.mark.parametrize("entry", realdata_params("tiff", Path(__file__).resolve()))
def test_real_files_keep_per_image_metadata_in_every_kind_of_stack(stackio_realdata: Path, entry: RealFile) -> None:
    if entry.path.is_dir():
        pytest.skip("a folder of files of several kinds; the OME-TIFF folder above covers folders")
    try:
        stacks = stackio.load(entry.path)
    except stackio.AxesError:
        pytest.skip("the file needs axes= (it says nothing of them, so nothing of its images either)")
    if all(s.image_metadata(*next(iter_images(s))) is None for s in stacks):
        pytest.skip("the file records no per-image metadata")
    _same_images_everywhere(_every_kind(entry.path), limit=24)
