"""Per-image metadata of NDTiff stacks: each image's JSON as ndstorage's `read_metadata` gives it.

Datasets are written with ndstorage's own writer, each image with its own Micro-Manager-style metadata
(elapsed time, exposure, stage position); the real datasets in ../shared/realdata are compared image by
image with ndstorage.
"""

from __future__ import annotations

import contextlib
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stackio
from ndtiff_helpers import close_reference, open_reference, quiet
from stackio.image_metadata import iter_images
from stackio.testing import RealFile, realdata_params

TIMES, CHANNELS, ZS = 3, ("DAPI", "GFP"), 4


def _image_meta(t: int, c: int, z: int) -> dict[str, Any]:
    return {
        "ElapsedTime-ms": 1000.0 + 2500.0 * t + 40.0 * z + 7.0 * c,
        "Exposure-ms": 10.0 + 5 * c,
        "XPositionUm": 100.5 + t,
        "YPositionUm": -20.25,
        "ZPositionUm": 3.0 + 0.5 * z,
        "Camera": "Demo",
    }


def _write(folder: Path) -> Path:
    from ndstorage import NDTiffDataset

    with contextlib.redirect_stdout(io.StringIO()):
        dataset = NDTiffDataset(str(folder), writable=True)
        dataset.initialize({"PixelSize_um": 0.5, "z-step_um": 0.5})
        for t in range(TIMES):
            for c, name in enumerate(CHANNELS):
                for z in range(ZS):
                    image = np.full((16, 20), 100 * t + 10 * c + z, dtype=np.uint16)
                    dataset.put_image({"time": t, "channel": name, "z": z}, image, _image_meta(t, c, z))
        dataset.finish()
    return folder


@pytest.fixture(scope="module")
def tcz_meta(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write(tmp_path_factory.mktemp("ndtiff_meta") / "acq")


def test_each_image_metadata_equals_ndstorage(tcz_meta: Path) -> None:
    stack = stackio.load(tcz_meta, "SCZYX")[0]
    reference = open_reference(tcz_meta)
    try:
        for sample, channel, depth in iter_images(stack):
            found = stack.image_metadata(sample, channel, depth)
            assert found is not None
            coords = {"time": sample, "channel": CHANNELS[channel], "z": depth}
            assert found.file_coords == coords
            assert found.raw == quiet(reference.read_metadata, **coords)
            known = _image_meta(sample, channel, depth)  # type: ignore[arg-type]
            assert found.time == pytest.approx((known["ElapsedTime-ms"] - 1000.0) / 1000)
            assert found.exposure == pytest.approx(known["Exposure-ms"] / 1000)
            assert found.stage_position == {"X": known["XPositionUm"], "Y": -20.25, "Z": known["ZPositionUm"]}
            assert found.stage_units == dict.fromkeys("XYZ", "micrometer")
            assert (found.sample, found.channel, found.depth) == (sample, channel, depth)
    finally:
        close_reference(reference)


def test_metadata_is_read_when_asked_not_at_load(tcz_meta: Path) -> None:
    stack = stackio.load(tcz_meta, "SCZYX")[0]
    assert not stack.is_open  # loading read the index only
    found = stack.image_metadata(2, 1, 3)
    assert found is not None and found.file_coords == {"time": 2, "channel": "GFP", "z": 3}
    assert stack._open().images_read == 0  # the image's JSON only, through the stack's own memory map
    again = pickle.loads(pickle.dumps(stack)).image_metadata(2, 1, 3)
    assert again == found and again.raw == found.raw


def test_selection_maps_back_to_the_dataset(tcz_meta: Path) -> None:
    stack = stackio.load(tcz_meta, "SCYX", select={"channel": "GFP", "z": [3, 1]})[0]
    assert stack.data_shape == (TIMES * 2, 1, 16, 20)
    found = stack.image_metadata(1, 0)  # time 0, the second z chosen
    assert found is not None
    assert found.file_coords == {"channel": "GFP", "time": 0, "z": 1}
    assert found.exposure == pytest.approx(0.015)
    assert stack.extract_patch(1, None, (0, 0), (1, 1))[0, 0, 0] == 10 + 1


def test_time_is_relative_to_the_first_image_even_when_not_selected(tcz_meta: Path) -> None:
    stack = stackio.load(tcz_meta, "SCYX", select={"time": 2, "channel": "DAPI", "z": 0})[0]
    found = stackio.image_metadata(stack, 0)
    assert found is not None and found.time == pytest.approx(5.0)


def test_in_memory_stack_keeps_its_image_metadata(tcz_meta: Path) -> None:
    lazy = stackio.load(tcz_meta, "SCZYX")[0]
    memory = stackio.load(tcz_meta, "SCZYX", in_memory=True)[0]
    assert memory.image_metadata(1, 0, 2) == lazy.image_metadata(1, 0, 2)
    memory.close()


def test_without_keys_the_common_fields_are_none(tmp_path: Path) -> None:
    from stackio_ndtiff.samples import write_ndtiff

    folder = write_ndtiff(tmp_path / "plain", [({"time": t}, np.zeros((8, 8), np.uint16)) for t in range(2)], {})
    found = stackio.load(folder)[0].image_metadata(1)
    assert found is not None
    assert found.file_coords == {"time": 1}
    assert (found.time, found.exposure, found.stage_position, found.stage_units) == (None, None, None, None)


def test_bad_indices_are_refused(tcz_meta: Path) -> None:
    stack = stackio.load(tcz_meta, "SCZYX")[0]
    with pytest.raises(stackio.ValidationError, match="sample 3 does not exist"):
        stack.image_metadata(3)
    with pytest.raises(stackio.ValidationError, match="channel 2 does not exist"):
        stack.image_metadata(0, 2)
    with pytest.raises(stackio.ValidationError, match="depth 4 does not exist"):
        stack.image_metadata(0, 0, 4)
    with pytest.raises(stackio.ValidationError, match="must be an int"):
        stack.image_metadata(0.5)  # type: ignore[arg-type]


def test_a_stitched_plane_reports_its_first_tile(grid_dataset: Path) -> None:
    stitched = stackio.load(grid_dataset, stitched=True)[0]
    tiles = stackio.load(grid_dataset, stitched=False)[0]
    found = stitched.image_metadata(0)
    assert found is not None and {"row", "column"} <= set(found.file_coords)
    reference = open_reference(grid_dataset)
    try:
        assert found.raw == quiet(reference.read_metadata, **found.file_coords)
    finally:
        close_reference(reference)
    first_tile = tiles.image_metadata(0)
    assert first_tile is not None and first_tile.raw == found.raw


# -- real datasets -------------------------------------------------------------------------------


@pytest.mark.realdata
@pytest.mark.parametrize("entry", realdata_params("ndtiff", Path(__file__).resolve()))
def test_real_image_metadata_equals_ndstorage(stackio_realdata: Path, entry: RealFile) -> None:
    stack = stackio.load(entry.path, stitched=False)[0]
    reference = open_reference(entry.path)
    try:
        first = None
        for sample, channel, depth in iter_images(stack, 64):
            found = stack.image_metadata(sample, channel, depth)
            if found is None:
                continue  # a gap of the dataset
            expected = quiet(reference.read_metadata, **found.file_coords)
            assert found.raw == expected
            elapsed = expected.get("ElapsedTime-ms")
            if elapsed is None:
                assert found.time is None
            else:
                first = first if first is not None else _first_elapsed(entry.path)
                assert found.time == pytest.approx((float(elapsed) - first) / 1000)
            for key in ("Exposure-ms", "Exposure"):
                if key in expected:
                    assert found.exposure == pytest.approx(float(expected[key]) / 1000)
                    break
            else:
                assert found.exposure is None
    finally:
        close_reference(reference)


def _first_elapsed(path: Path) -> float:
    """ElapsedTime-ms of the dataset's first indexed image, read with ndstorage's own index."""
    reference = open_reference(path)
    try:
        level = reference.res_levels[0] if hasattr(reference, "res_levels") else reference
        first = next(iter(level.index))  # ndstorage keeps the index in file order
        key = dict(first) if not isinstance(first, dict) else first
        return float(quiet(reference.read_metadata, **key)["ElapsedTime-ms"])
    finally:
        close_reference(reference)
