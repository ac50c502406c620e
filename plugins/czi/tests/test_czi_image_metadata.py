"""Per-image metadata of CZI stacks: each image's subblock metadata, as czifile reads it.

pylibCZIrw neither writes nor reads subblock metadata, so files it writes carry none (the common fields
are None, the coordinates still say which subblock an image is); the real ZEN files in ../shared/realdata
carry acquisition times and stage positions, compared with czifile's reading of the same subblock.
"""

from __future__ import annotations

import pickle
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stackio
from stackio.image_metadata import iter_images
from stackio.testing import RealFile, realdata_params
from stackio_czi.samples import write_scenes_zc


def _write_tzc(path: Path) -> Path:
    from pylibCZIrw import czi as pyczi

    with pyczi.create_czi(str(path), exist_ok=True) as writer:
        for t in range(2):
            for z in range(3):
                for c in range(2):
                    writer.write(np.full((24, 32), 100 * t + 10 * z + c, np.uint16), plane={"T": t, "Z": z, "C": c})
    return path


def test_pylibczirw_files_say_which_subblock_and_nothing_more(tmp_path: Path) -> None:
    path = _write_tzc(tmp_path / "tzc.czi")
    stack = stackio.load(path, "SCZYX")[0]
    assert stack.data_shape == (2, 2, 3, 24, 32)
    reference, _ = _reference(path)
    for sample, channel, depth in iter_images(stack):
        found = stack.image_metadata(sample, channel, depth)
        assert found is not None
        assert {k: found.file_coords[k] for k in "TZC"} == {"T": sample, "Z": depth, "C": channel}
        # pylibCZIrw's writer records only a retiling id per subblock: no time, stage or exposure
        assert found.raw == reference[_key(found.file_coords)] and "RetilingId" in found.raw
        assert (found.time, found.stage_position, found.exposure) == (None, None, None)
        value = stack.extract_patch(sample, [channel], (depth, 0, 0), (1, 1, 1))[0, 0, 0, 0]
        assert value == 100 * sample + 10 * depth + channel  # the image the coordinates name


def test_scenes_are_named(tmp_path: Path) -> None:
    path = tmp_path / "scenes.czi"
    write_scenes_zc(path)
    stacks = stackio.load(path, "SCZYX")
    assert [s.image_metadata(0, 1, 3).file_coords["scene"] for s in stacks] == [0, 1]
    assert stacks[1].image_metadata(0, 1, 3).file_coords["Z"] == 3
    reopened = pickle.loads(pickle.dumps(stacks[1]))
    assert reopened.image_metadata(0, 1, 3) == stacks[1].image_metadata(0, 1, 3)
    for stack in stacks:
        stack.close()
    assert stacks[0].image_metadata(0, 0, 0) is not None  # reopened after close


# -- real files ----------------------------------------------------------------------------------


def _reference(path: Path) -> tuple[dict[tuple[Any, ...], str], float | None]:
    """czifile's layer-0 subblock metadata by coordinates (first mosaic tile), and the earliest time."""
    import czifile

    out: dict[tuple[Any, ...], tuple[int, str]] = {}
    stamps = []
    with czifile.CziFile(str(path)) as czi:
        for entry in czi.subblock_directory:
            if entry.shape != entry.stored_shape:
                continue  # a pyramid subblock
            coords = {a: s for a, s in zip(entry.axes, entry.start, strict=True) if a not in "XY0M"}
            key = tuple(sorted(coords.items()))
            text = entry.data_segment().metadata(raw=True) or ""
            match = ET.fromstring(text).findtext("Tags/AcquisitionTime") if text else None
            if match:
                stamps.append(datetime.fromisoformat(match).timestamp())
            m = entry.mosaic_index if entry.mosaic_index is not None else 0
            if key not in out or m < out[key][0]:
                out[key] = (m, text)
    return {k: v[1] for k, v in out.items()}, min(stamps, default=None)


def _key(file_coords: dict[str, Any]) -> tuple[Any, ...]:
    coords = {("S" if k == "scene" else k): v for k, v in file_coords.items() if k != "M"}
    return tuple(sorted(coords.items()))


@pytest.mark.realdata
@pytest.mark.parametrize("entry", realdata_params("czi", Path(__file__).resolve()))
def test_real_subblock_metadata_equals_czifile(stackio_realdata: Path, entry: RealFile) -> None:
    reference, first = _reference(entry.path)
    for stack in stackio.load(entry.path):
        for sample, channel, depth in iter_images(stack, 48):
            found = stack.image_metadata(sample, channel, depth)
            assert found is not None
            expected = reference[_key(found.file_coords)]
            assert (found.raw or "") == expected.rstrip("\0")
            if not expected:
                assert found.time is None and found.stage_position is None
                continue
            tags = ET.fromstring(expected).find("Tags")
            stamp = tags.findtext("AcquisitionTime") if tags is not None else None
            if stamp:
                assert found.time == pytest.approx(datetime.fromisoformat(stamp).timestamp() - first)
            else:
                assert found.time is None
            stage = {
                axis: float(tags.findtext(tag))
                for axis, tag in (("X", "StageXPosition"), ("Y", "StageYPosition"), ("Z", "FocusPosition"))
                if tags is not None and tags.findtext(tag)
            }
            assert found.stage_position == (stage or None)
            assert found.exposure is None  # no declared unit in the subblock
