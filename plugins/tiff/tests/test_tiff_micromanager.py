"""Micro-Manager multipage TIFF datasets (one file per position, or a position split over files).

The files are written byte by byte in Micro-Manager's layout (`tiff_helpers.write_mmstack`);
tifffile reads them as an 'mmstack' series of all positions, whichever file it opens.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import stackio
import tifffile
from tiff_helpers import every_sample, write_mmstack

T, P, Z, C, H, W = 2, 3, 3, 2, 10, 12
SUMMARY = {
    "MicroManagerVersion": "2.0.1",
    "Frames": T,
    "Slices": Z,
    "Channels": C,
    "Positions": P,
    "Prefix": "acq",
    "PixelSize_um": 0.5,
    "z-step_um": 2.0,
    "ChNames": ["DAPI", "GFP"],
}


def _planes(data: np.ndarray, position: int, frames: range) -> dict[tuple[int, int, int, int], np.ndarray]:
    return {(c, z, t, position): data[t, position, z, c] for t in frames for z in range(Z) for c in range(C)}


@pytest.fixture
def mm(tmp_path: Path) -> tuple[Path, np.ndarray]:
    data = np.random.default_rng(5).integers(0, 60000, (T, P, Z, C, H, W), dtype=np.uint16)
    for p in range(P):
        write_mmstack(tmp_path / f"acq_MMStack_Pos{p}.ome.tif", _planes(data, p, range(T)), SUMMARY)
    return tmp_path, data


def _position(data: np.ndarray, p: int) -> np.ndarray:
    """Position p as the stack's SCZYX: T is S, C then Z."""
    return data[:, p].transpose(0, 2, 1, 3, 4)


def test_tifffile_reads_the_whole_dataset_from_any_file(mm: tuple[Path, np.ndarray]) -> None:
    folder, data = mm
    with tifffile.TiffFile(folder / "acq_MMStack_Pos2.ome.tif") as tif:
        (series,) = tif.series
        assert series.kind == "mmstack" and series.axes == "TRZCYX"
        np.testing.assert_array_equal(series.asarray(), data)


def test_one_file_gives_its_position_with_metadata(mm: tuple[Path, np.ndarray]) -> None:
    folder, data = mm
    (stack,) = stackio.load(folder / "acq_MMStack_Pos1.ome.tif")
    assert stack.source.endswith("acq_MMStack_Pos1.ome.tif@1")
    assert stack.original_axes == "TZCYX" and stack.data_shape == (T, C, Z, H, W)
    np.testing.assert_array_equal(every_sample(stack), _position(data, 1))
    meta = stack.metadata
    assert meta.voxel_size == {"X": 0.5, "Y": 0.5, "Z": 2.0}
    assert meta.channel_names == ("DAPI", "GFP")
    assert meta.raw()["Summary"]["Prefix"] == "acq"


def test_folder_gives_each_position_once(mm: tuple[Path, np.ndarray]) -> None:
    folder, data = mm
    stacks = stackio.load(folder)
    assert len(stacks) == P
    for p, stack in enumerate(stacks):
        np.testing.assert_array_equal(every_sample(stack), _position(data, p))
    patch = stacks[2].extract_patch(1, [1], (1, 2, 3), (2, 5, 5))
    np.testing.assert_array_equal(patch[0], data[1, 2, 1:3, 1, 2:7, 3:8])


def test_position_split_over_two_files(tmp_path: Path) -> None:
    data = np.random.default_rng(6).integers(0, 60000, (T, P, Z, C, H, W), dtype=np.uint16)
    write_mmstack(tmp_path / "acq_MMStack_Pos0.ome.tif", _planes(data, 0, range(1)), SUMMARY)
    write_mmstack(tmp_path / "acq_MMStack_Pos0_1.ome.tif", _planes(data, 0, range(1, T)), SUMMARY)
    for p in (1, 2):
        write_mmstack(tmp_path / f"acq_MMStack_Pos{p}.ome.tif", _planes(data, p, range(T)), SUMMARY)
    (first,) = stackio.load(tmp_path / "acq_MMStack_Pos0.ome.tif")
    np.testing.assert_array_equal(every_sample(first), _position(data, 0))
    with pytest.raises(stackio.ValidationError, match=r"Pos0_1\.ome\.tif: this file only continues"):
        stackio.load(tmp_path / "acq_MMStack_Pos0_1.ome.tif")
    stacks = stackio.load(tmp_path)
    assert [Path(s.source).name for s in stacks] == [f"acq_MMStack_Pos{p}.ome.tif@{p}" for p in range(P)]


def test_missing_position_file(mm: tuple[Path, np.ndarray]) -> None:
    folder, data = mm
    (folder / "acq_MMStack_Pos2.ome.tif").unlink()
    (stack,) = stackio.load(folder / "acq_MMStack_Pos0.ome.tif")  # its own position is complete
    np.testing.assert_array_equal(every_sample(stack), _position(data, 0))
    with pytest.raises(stackio.ReadError, match=r"image 2 declares 12 planes but 12 of them are not in"):
        stackio.load(folder)
    stacks = stackio.load(folder, allow_missing=True)
    assert len(stacks) == 2


def test_renamed_file_read_alone_is_refused_unless_allowed(mm: tuple[Path, np.ndarray]) -> None:
    folder, data = mm
    lone = folder / "lone"
    lone.mkdir()
    (folder / "acq_MMStack_Pos1.ome.tif").rename(lone / "position1.ome.tif")
    with pytest.raises(stackio.ReadError, match=r"position1\.ome\.tif: this Micro-Manager stack continues"):
        stackio.load(lone / "position1.ome.tif")
    (stack,) = stackio.load(lone / "position1.ome.tif", allow_missing=True)
    np.testing.assert_array_equal(every_sample(stack), _position(data, 1))
