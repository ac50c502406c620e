"""Conformance over the real TIFFs in ../shared/realdata: pixels equal tifffile's, metadata as declared.

The axes come from the manifest's description of each series (what tifffile reads); pages of
unknown meaning (I, Q) are named Z. Expected metadata is read here from the file with tifffile,
independently of the plugin's own parsing.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stackio
import tifffile
from stackio.testing import manifest
from tiff_helpers import arranged, every_sample

pytestmark = pytest.mark.realdata

SERIES = re.compile(r"s(\d+):(\w+):([A-Z]+)\(([\d, ]+)\):(\w+):lv(\d+)")
UNITS = {
    "µm": "micrometer",
    "\\u00B5m": "micrometer",
    "micron": "micrometer",
    "um": "micrometer",
    "nm": "nanometer",
    "s": "second",
    "sec": "second",
}


def _series(description: str) -> list[tuple[str, str, tuple[int, ...], str]]:
    """(kind, tifffile axes, shape, dtype) of each series the manifest describes."""
    found = []
    for _, kind, axes, shape, dtype, _ in SERIES.findall(description):
        found.append((kind, axes, tuple(int(n) for n in shape.split(",")), dtype))
    return found


def _stack_axes(tiff_axes: str) -> str:
    return "".join({"S": "C", "I": "Z", "Q": "Z"}.get(a, a) for a in tiff_axes)


def _expected_metadata(path: Path, kind: str, index: int, axes: str) -> dict[str, Any]:
    voxel: dict[str, float] = {}
    units: dict[str, str] = {}
    names = None
    with tifffile.TiffFile(path) as tif:
        if kind == "ome":
            root = ET.fromstring(tif.ome_metadata)
            images = [e for e in root if e.tag.endswith("Image")]
            pixels = next(p for p in images[index] if p.tag.endswith("Pixels"))
            for axis in "XYZ":
                value = float(pixels.attrib.get(f"PhysicalSize{axis}", 0))
                if value > 0 and (axis != "Z" or "Z" in axes):
                    voxel[axis] = value
                    units[axis] = UNITS[pixels.attrib.get(f"PhysicalSize{axis}Unit", "µm")]
            channels = [c.attrib.get("Name") for c in pixels if c.tag.endswith("Channel")]
            if channels and all(channels):
                names = tuple(channels)
        elif kind == "imagej":
            ij = tif.imagej_metadata
            unit = ij.get("unit")
            if unit:
                for axis, tag in (("X", "XResolution"), ("Y", "YResolution")):
                    num, den = tif.pages.first.tags[tag].value
                    voxel[axis], units[axis] = den / num, UNITS[unit]
                if "Z" in axes and ij.get("spacing"):
                    voxel["Z"], units["Z"] = ij["spacing"], UNITS[unit]
            if "T" in axes and ij.get("finterval"):
                voxel["T"], units["T"] = ij["finterval"], "second"
    return {"voxel_size": voxel or None, "units": units or None, "channel_names": names}


def _check(stack: stackio.ImageStack, reference: np.ndarray, axes: str) -> None:
    expected = arranged(reference, axes)
    got = every_sample(stack)
    assert stack.data_shape == expected.shape
    assert got.dtype == expected.dtype.newbyteorder("=")
    np.testing.assert_array_equal(got, expected)


def _entries() -> list[Any]:
    from stackio.testing import find_realdata

    root = find_realdata(Path(__file__).resolve())
    return [e for e in manifest(root, "tiff") if not e.path.is_dir()] if root is not None else []


def test_manifest_lists_tiffs(stackio_realdata: Path) -> None:
    assert len(manifest(stackio_realdata, "tiff")) >= 10


@pytest.mark.parametrize("entry", _entries(), ids=lambda e: e.path.name)
def test_real_tiff(stackio_realdata: Path, entry: Any) -> None:
    described = _series(entry.description)
    assert described, entry.description
    axes = _stack_axes(described[0][1]) if any(a in "IQ" for a in described[0][1]) else None
    stacks = stackio.load(entry.path, axes)
    assert len(stacks) == len(described)
    for index, (stack, (kind, tiff_axes, shape, dtype)) in enumerate(zip(stacks, described, strict=True)):
        stack_axes = _stack_axes(tiff_axes)
        assert stack.original_axes == stack_axes
        assert stack.original_data_shape == shape
        assert stack.data_dtype == np.dtype(dtype)
        _check(stack, tifffile.imread(entry.path, series=index), stack_axes)
        expected = _expected_metadata(entry.path, kind, index, stack_axes)
        meta = stack.metadata
        assert meta.voxel_size == (pytest.approx(expected["voxel_size"]) if expected["voxel_size"] else None)
        assert meta.units == expected["units"]
        assert meta.channel_names == expected["channel_names"]
        assert meta.axis_names == tuple(tiff_axes)
        (again,) = stackio.load(stack.source, axes)
        spatial = stack.data_shape[2:]
        size = tuple(min(n, 32) for n in spatial)
        np.testing.assert_array_equal(
            again.extract_patch(0, None, (0,) * len(spatial), size),
            stack.extract_patch(0, None, (0,) * len(spatial), size),
        )


def test_ome_companion_folder(stackio_realdata: Path) -> None:
    folder = stackio_realdata / "tiff" / "ome_multifile_companion"
    stacks = stackio.load(folder)
    assert [Path(s.source).name for s in stacks] == ["multi-channel.ome.tif", "multifile.companion.ome"]
    _check(stacks[0], tifffile.imread(folder / "multi-channel.ome.tif"), "CYX")
    # the companion declares one image, Z=5, whose planes are the five files' single pages
    root = ET.fromstring((folder / "multifile.companion.ome").read_text())
    files = [e.attrib["FileName"] for e in root.iter() if e.tag.endswith("UUID")]
    planes = np.stack([tifffile.imread(folder / name) for name in files])
    _check(stacks[1], planes, "ZYX")
    assert stacks[1].metadata.voxel_size is None


def test_ome_companion_members(stackio_realdata: Path) -> None:
    folder = stackio_realdata / "tiff" / "ome_multifile_companion"
    (first,) = stackio.load(folder / "multifile-Z1.ome.tiff")
    assert first.data_shape == (1, 1, 5, 24, 18)
    with pytest.raises(stackio.ValidationError, match=r"multifile-Z3\.ome\.tiff: .*multifile-Z1\.ome\.tiff"):
        stackio.load(folder / "multifile-Z3.ome.tiff")
    (through_z3,) = stackio.load(f"{folder / 'multifile-Z3.ome.tiff'}@0")
    np.testing.assert_array_equal(every_sample(through_z3), every_sample(first))
