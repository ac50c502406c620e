"""Multi-file OME-TIFF sets: each image is read once, from the file holding its first plane.

The files are written by tifffile with OME-XML of our own (tifffile does not write multi-file
OME-TIFF), laid out as Bio-Formats and Micro-Manager lay them out.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import stackio
import stackio_tiff
import tifffile
from stackio import Source
from tiff_helpers import every_sample, ome_xml, write_pages

RNG = np.random.default_rng(7)
SHAPE = (3, 20, 24)  # Z Y X per position


def _positions(folder: Path, n: int = 4) -> list[np.ndarray]:
    """n positions, one file each; every file's OME-XML lists all n images (as Micro-Manager writes)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = [RNG.integers(0, 60000, SHAPE, dtype=np.uint16) for _ in range(n)]
    images = [
        {
            "name": f"Pos{i}",
            "size": (SHAPE[0], 1, 1, SHAPE[1], SHAPE[2]),
            "type": "uint16",
            "pixels": {"PhysicalSizeX": 0.65, "PhysicalSizeY": 0.65},
            "channels": ["GFP"],
            "planes": [(f"run_Pos{i}.ome.tif", 0, SHAPE[0])],
        }
        for i in range(n)
    ]
    for i in range(n):
        write_pages(folder / f"run_Pos{i}.ome.tif", data[i], ome_xml(images, uuid=f"urn:uuid:run_Pos{i}.ome.tif"))
    return data


@pytest.fixture
def positions(tmp_path: Path) -> tuple[Path, list[np.ndarray]]:
    return tmp_path / "run", _positions(tmp_path / "run")


def test_tifffile_alone_reads_every_position_from_every_file(positions: tuple[Path, list[np.ndarray]]) -> None:
    folder, _ = positions
    with tifffile.TiffFile(folder / "run_Pos2.ome.tif") as tif:
        assert len(tif.series) == 4  # what a reader returning "each file's series" would duplicate


def test_one_file_gives_the_position_it_holds(positions: tuple[Path, list[np.ndarray]]) -> None:
    folder, data = positions
    (stack,) = stackio.load(folder / "run_Pos2.ome.tif")
    assert stack.source == f"{(folder / 'run_Pos2.ome.tif').absolute()}@2"
    np.testing.assert_array_equal(every_sample(stack)[0, 0], data[2])
    assert stack.metadata.voxel_size == pytest.approx({"X": 0.65, "Y": 0.65})
    assert stack.metadata.channel_names == ("GFP",)
    (again,) = stackio.load(stack.source)
    np.testing.assert_array_equal(every_sample(again), every_sample(stack))


def test_folder_gives_each_position_once(positions: tuple[Path, list[np.ndarray]]) -> None:
    folder, data = positions
    assert stackio.detect(folder).format == "tiff"
    stacks = stackio.load(folder)
    assert len(stacks) == 4
    for i, stack in enumerate(stacks):
        assert stack.source.endswith(f"run_Pos{i}.ome.tif@{i}")
        np.testing.assert_array_equal(every_sample(stack)[0, 0], data[i])


def test_list_of_files_gives_their_positions(positions: tuple[Path, list[np.ndarray]]) -> None:
    folder, data = positions
    stacks = stackio.load([folder / "run_Pos3.ome.tif", folder / "run_Pos0.ome.tif"])
    assert [s.source[-1] for s in stacks] == ["3", "0"]
    np.testing.assert_array_equal(every_sample(stacks[0])[0, 0], data[3])


def test_explicit_index_reads_another_files_position(positions: tuple[Path, list[np.ndarray]]) -> None:
    folder, data = positions
    (stack,) = stackio.load(f"{folder / 'run_Pos0.ome.tif'}@3")
    np.testing.assert_array_equal(every_sample(stack)[0, 0], data[3])


@pytest.fixture
def split(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """One image whose Z planes 0-1 are in a.ome.tif and 2-3 in b.ome.tif (Bio-Formats' split files)."""
    data = RNG.integers(0, 255, (4, 16, 18), dtype=np.uint8)
    image = {
        "name": "split",
        "size": (4, 1, 1, 16, 18),
        "type": "uint8",
        "planes": [("a.ome.tif", 0, 2), ("b.ome.tif", 0, 2)],
    }
    write_pages(tmp_path / "a.ome.tif", data[:2], ome_xml([image], uuid="urn:uuid:a.ome.tif"))
    write_pages(tmp_path / "b.ome.tif", data[2:], ome_xml([image], uuid="urn:uuid:b.ome.tif"))
    tifffile.imwrite(tmp_path / "other.tif", RNG.integers(0, 255, (5, 6), dtype=np.uint8))
    return tmp_path, data


def test_image_across_files_is_read_whole_from_its_first_file(split: tuple[Path, np.ndarray]) -> None:
    folder, data = split
    (stack,) = stackio.load(folder / "a.ome.tif")
    assert stack.source == str((folder / "a.ome.tif").absolute())
    assert stack.data_shape == (1, 1, 4, 16, 18)
    np.testing.assert_array_equal(every_sample(stack)[0, 0], data)


def test_continuation_file_says_where_the_image_starts(split: tuple[Path, np.ndarray]) -> None:
    folder, data = split
    with pytest.raises(stackio.ValidationError, match=r"b\.ome\.tif: this file only continues .*\(a\.ome\.tif\)"):
        stackio.load(folder / "b.ome.tif")
    (through_b,) = stackio.load(folder / "b.ome.tif", series=0)
    assert through_b.source.endswith("b.ome.tif@0")
    np.testing.assert_array_equal(every_sample(through_b)[0, 0], data)


def test_folder_reads_a_split_image_once(split: tuple[Path, np.ndarray]) -> None:
    folder, data = split
    stacks = stackio.load(folder)
    assert [Path(s.source.split("@")[0]).name for s in stacks] == ["a.ome.tif", "other.tif"]
    np.testing.assert_array_equal(every_sample(stacks[0])[0, 0], data)


def test_missing_file_of_a_set_is_an_error_not_zeros(split: tuple[Path, np.ndarray]) -> None:
    folder, data = split
    (folder / "b.ome.tif").unlink()
    with pytest.raises(stackio.ReadError, match=r"a\.ome\.tif: image 0 declares 4 planes but 2 .*b\.ome\.tif"):
        stackio.load(folder / "a.ome.tif")
    with pytest.raises(stackio.ReadError, match=r"missing file\(s\): b\.ome\.tif"):
        stackio.load(folder)
    (zeros,) = stackio.load(folder / "a.ome.tif", allow_missing=True)
    got = every_sample(zeros)[0, 0]
    np.testing.assert_array_equal(got[:2], data[:2])
    assert not got[2:].any()


@pytest.fixture
def companion(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A Z-stack in 3 single-plane files that only point to a companion file (BinaryOnly)."""
    data = RNG.integers(0, 255, (3, 10, 12), dtype=np.uint8)
    image = {
        "name": "zstack",
        "size": (3, 1, 1, 10, 12),
        "type": "uint8",
        "pixels": {"PhysicalSizeZ": 2.0, "PhysicalSizeZUnit": "µm"},
        "planes": [(f"z{i}.ome.tif", 0, 1) for i in range(3)],
    }
    (tmp_path / "set.companion.ome").write_text(ome_xml([image]), encoding="utf-8")
    for i in range(3):
        binary_only = (
            f'<?xml version="1.0"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" '
            f'UUID="urn:uuid:z{i}.ome.tif"><BinaryOnly MetadataFile="set.companion.ome" '
            'UUID="urn:uuid:companion"/></OME>'
        )
        write_pages(tmp_path / f"z{i}.ome.tif", data[i : i + 1], binary_only)
    return tmp_path, data


def test_companion_file_is_the_whole_set(companion: tuple[Path, np.ndarray]) -> None:
    folder, data = companion
    assert stackio.detect(folder / "set.companion.ome").format == "tiff"
    (stack,) = stackio.load(folder / "set.companion.ome")
    assert stack.data_shape == (1, 1, 3, 10, 12)
    np.testing.assert_array_equal(every_sample(stack)[0, 0], data)
    assert stack.metadata.voxel_size == {"Z": 2.0}
    assert "set.companion.ome" not in stack.metadata.raw() and "zstack" in stack.metadata.raw()


def test_binary_only_files_use_their_companion(companion: tuple[Path, np.ndarray]) -> None:
    folder, data = companion
    (first,) = stackio.load(folder / "z0.ome.tif")
    np.testing.assert_array_equal(every_sample(first)[0, 0], data)
    with pytest.raises(stackio.ValidationError, match=r"z1\.ome\.tif: this file only continues"):
        stackio.load(folder / "z1.ome.tif")
    stacks = stackio.load(folder)
    assert len(stacks) == 1 and stacks[0].source.endswith("set.companion.ome")
    np.testing.assert_array_equal(every_sample(stacks[0])[0, 0], data)


def test_without_its_companion_a_binary_only_file_is_its_own_planes(companion: tuple[Path, np.ndarray]) -> None:
    folder, data = companion
    (folder / "set.companion.ome").unlink()
    (stack,) = stackio.load(folder / "z1.ome.tif")
    np.testing.assert_array_equal(every_sample(stack)[0, 0], data[1])


@pytest.mark.parametrize("name", ["acq_NDTiffStack", "NDTiffStack_1"])  # Micro-Manager, ndstorage names
def test_ndtiff_stack_files_are_left_to_the_ndtiff_plugin(tmp_path: Path, stackio_entry_points, name: str) -> None:
    folder = tmp_path / "acq"
    folder.mkdir()
    tifffile.imwrite(folder / f"{name}.tif", np.zeros((8, 8), np.uint8))
    (folder / "NDTiff.index").write_bytes(b"\0" * 16)
    # the core, not the tiff plugin, knows that a file beside NDTiff.index belongs to the NDTiff dataset
    if stackio.get_registry().format("ndtiff") is not None:
        assert stackio.detect(folder / f"{name}.tif").format == "ndtiff"
    assert not stackio_tiff.stackio_detect(Source.parse(folder)).accepted
    stackio_entry_points({"tiff": stackio_tiff})  # as if stackio-ndtiff were not installed
    for source in (folder / f"{name}.tif", folder):
        with pytest.raises(stackio.UnsupportedFormatError, match=rf"{name}\.tif: .*stackio-ndtiff"):
            stackio.load(source)


def test_plain_folders_are_left_to_the_core(tmp_path: Path) -> None:
    for i in range(3):
        tifffile.imwrite(
            tmp_path / f"img{i}.ome.tif" if i == 0 else tmp_path / f"img{i}.tif", np.full((4, 4), i, np.uint8)
        )
    assert not stackio_tiff.stackio_detect(Source.parse(tmp_path)).accepted
    (tmp_path / "img1.tif").rename(tmp_path / "img1.ome.tif")
    assert stackio_tiff.stackio_detect(Source.parse(tmp_path)).accepted  # two OME-TIFFs: maybe one set
    shutil.copy(tmp_path / "img2.tif", tmp_path / "img3.tif")
    stacks = stackio.load(tmp_path)
    assert [int(whole[0, 0, 0]) for whole in (s.extract_patch(0, None, (0, 0), (4, 4)) for s in stacks)] == [0, 1, 2, 2]


def test_folder_with_a_companion_set_and_other_formats(companion: tuple[Path, np.ndarray]) -> None:
    folder, data = companion
    np.save(folder / "extra.npy", np.arange(24, dtype=np.int16).reshape(2, 3, 4))
    if stackio.get_registry().format("numpy") is None:
        pytest.skip("no plugin reads .npy here")
    assert stackio.detect(folder).format == "tiff"
    with pytest.raises(stackio.AxesError, match=r"extra\.npy"):
        stackio.load(folder)  # the .npy file needs axes, as when stackio loads it alone
    stacks = stackio.load(folder, "ZYX")
    assert [Path(s.source.split("@")[0]).name for s in stacks] == ["extra.npy", "set.companion.ome"]
    np.testing.assert_array_equal(every_sample(stacks[1])[0, 0], data)


def test_folder_opens_a_set_once(positions: tuple[Path, list[np.ndarray]], monkeypatch: pytest.MonkeyPatch) -> None:
    from stackio_tiff import file_stacks

    folder, data = positions
    opened: list[str] = []
    real = file_stacks.open_file

    def counting(path: Path, **kwargs: object) -> object:
        opened.append(path.name)
        return real(path, **kwargs)

    monkeypatch.setattr(file_stacks, "open_file", counting)
    stacks = stackio.load(folder)
    assert opened == ["run_Pos0.ome.tif"]  # its OME-XML describes the whole set; the other files are skipped
    assert [s.source.rsplit("/", 1)[-1] for s in stacks] == [f"run_Pos{i}.ome.tif@{i}" for i in range(4)]
    np.testing.assert_array_equal(every_sample(stacks[3])[0, 0], data[3])
