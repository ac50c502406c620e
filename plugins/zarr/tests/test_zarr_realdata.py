"""Conformance over every zarr entry of ../shared/realdata/MANIFEST.tsv (skipped when absent).

Pixels are compared with zarr's own reads of the same array, level by level; metadata with what each
store declares (values copied from its .zattrs / zarr.json).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
import stackio
import zarr
from stackio.testing import manifest

pytestmark = pytest.mark.realdata

UM = "micrometer"
EXPECTED: dict[str, dict[str, Any]] = {
    "exemplar-001.crop.image.ome.zarr": {
        "stacks": [((1, 4, 250, 250), "uint16", "0")],
        "levels": 5,
        "channels": ("DNA", "FDX1", "CD1D", "CD357"),
        "voxel": {"Y": 1.0, "X": 1.0},
        "last_level": ((1, 4, 15, 15), {"Y": 16.666666666666668, "X": 16.666666666666668}),
    },
    "exemplar-001.crop.segmentations.ome.zarr": {
        "stacks": [((1, 2, 250, 250), "uint16", "0")],
        "levels": 5,
        "channels": ("cell", "circle"),
        "voxel": {"Y": 1.0, "X": 1.0},
    },
    "blobs_image_v04.ome.zarr": {
        "stacks": [((1, 3, 12, 12), "float64", "0")],
        "levels": 1,
        "channels": ("0", "1", "2"),
        "voxel": {"Y": 1.0, "X": 1.0},
    },
    "blobs_image_v05.ome.zarr": {
        "stacks": [((1, 3, 12, 12), "float64", "0")],
        "levels": 1,
        "channels": ("0", "1", "2"),
        "voxel": {"Y": 1.0, "X": 1.0},
    },
    "neuroglancer_simple_0.4": {
        "stacks": [((1, 1, 10, 10), "uint16", "scale0/image")],
        "levels": 3,
        "voxel": {"Y": 4.0, "X": 30.0},
        "units": {"Y": "nanometer", "X": "nanometer"},
        "offset": {"Y": 0.0, "X": 0.0},
        "last_level": ((1, 1, 2, 2), {"Y": 16.0, "X": 120.0}),
        "last_offset": {"Y": 6.0, "X": 45.0},
    },
    "fiji_5d_dataset_v4.ome.zarr": {
        "stacks": [((4, 3, 16, 64, 64), "uint8", "0")],
        "levels": 2,
        "channels": ("lynEGFP", "NLStdTomato", "lynEGFP"),
        "voxel": {"T": 1.0, "Z": 1.0, "Y": 1.0, "X": 1.0},
        "last_level": ((4, 3, 8, 32, 32), {"T": 1.0, "Z": 2.0, "Y": 2.0, "X": 2.0}),
    },
    "fiji_bf2raw_dataset_v5.ome.zarr": {
        "stacks": [((1, 1, 64, 64), "uint8", "0/0"), ((1, 1, 64, 64), "uint8", "1/0")],
        "levels": 2,
        "voxel": {"Y": 1.0, "X": 1.0},
    },
    "fiji_pyramid_v5.zarr": {
        "stacks": [((1, 1, 500, 1000, 1000), "uint8", "0")],
        "levels": 3,
        "voxel": {"Z": 1.0, "Y": 1.0, "X": 1.0},
        "last_level": ((1, 1, 250, 250, 250), {"Z": 2.0, "Y": 4.0, "X": 4.0}),
    },
    "hcs_example_metadata_only.ome.zarr": {
        "stacks": [((1, 1, 2, 2160, 5120), "uint16", "B/03/0/0")],
        "levels": 5,
        "channels": ("DAPI",),
        "voxel": {"Z": 1.0, "Y": 0.1625, "X": 0.1625},
        "units": {"Z": UM, "Y": UM, "X": UM},
        "fill_value_only": True,
    },
    # not an image: handled by test_zarrita_v2_codecs_fixture
    "zarrita_v2_codecs_data.zarr": {},
}


@pytest.fixture(scope="module")
def entries(stackio_realdata: Path) -> dict[str, Path]:
    return {row.path.name: row.path for row in manifest(stackio_realdata, "zarr")}


def test_every_manifest_entry_is_checked(entries: dict[str, Path]) -> None:
    assert set(entries) == set(EXPECTED)


def _local(uri: str) -> str:
    return unquote(urlparse(uri).path)


def _compare_with_zarr(stack: Any) -> None:
    """Every pixel of the stack against zarr's own read of the array its source names."""
    reference = zarr.open_array(_local(stack.source), mode="r")
    layout = stack.layout
    if math.prod(reference.shape) * reference.dtype.itemsize <= 64 * 2**20:
        expected = np.asarray(layout.to_stack_order(reference[...]))
        spatial = stack.data_shape[2:]
        for s in range(stack.data_shape[0]):
            got = stack.extract_patch(s, None, (0,) * len(spatial), spatial)
            np.testing.assert_array_equal(got, expected[s])
        return
    assert layout.original_axes == layout.spatial_axes  # big arrays here are plain ZYX: compare in slabs
    depth, *plane = reference.shape
    step = max(1, (64 * 2**20) // (math.prod(plane) * reference.dtype.itemsize))
    for z in range(0, depth, step):
        n = min(step, depth - z)
        got = stack.extract_patch(0, None, (z, 0, 0), (n, *plane))
        np.testing.assert_array_equal(got[0], reference[z : z + n])


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e))
def test_realdata_entry(name: str, entries: dict[str, Path]) -> None:
    path, spec = entries[name], EXPECTED[name]
    stacks = stackio.load(path)
    assert [(s.data_shape, str(s.data_dtype)) for s in stacks] == [(sh, dt) for sh, dt, _ in spec["stacks"]]
    for stack, (_, _, internal) in zip(stacks, spec["stacks"], strict=True):
        assert stack.source == (path.resolve() / internal).as_uri()
        md = stack.metadata
        assert md.voxel_size == spec["voxel"]
        assert md.units == spec.get("units")
        assert md.offset == spec.get("offset")
        assert md.channel_names == spec.get("channels")
        _compare_with_zarr(stack)
        if spec.get("fill_value_only"):
            spatial = stack.data_shape[2:]
            assert not stack.extract_patch(0, None, (0,) * len(spatial), spatial).any()
        [again] = stackio.load(stack.source)  # the source alone recreates it, metadata included
        assert again.data_shape == stack.data_shape and again.metadata == md
    for level in range(1, spec["levels"]):
        for stack in stackio.load(path.as_uri(), level=level):
            assert stack.metadata.voxel_size is not None
            _compare_with_zarr(stack)
    if "last_level" in spec:
        [last, *_] = stackio.load(path, level=spec["levels"] - 1)
        assert (last.data_shape, last.metadata.voxel_size) == spec["last_level"]
        assert last.metadata.offset == spec.get("last_offset")
    with pytest.raises(stackio.ValidationError, match=f"level {spec['levels']} does not exist"):
        stackio.load(path, level=spec["levels"])


def test_zarrita_v2_codecs_fixture(entries: dict[str, Path]) -> None:
    """zarr itself cannot open this group (an object-dtype array): stackio says so clearly; the
    numeric 2D/3D arrays in it load one by one by URI, the others give clear errors."""
    root = entries["zarrita_v2_codecs_data.zarr"]
    with pytest.raises(ValueError, match="json2"):
        zarr.open_group(str(root), mode="r")
    with pytest.raises(stackio.StackioError, match=r"zarrita_v2_codecs_data.zarr/1d\.chunked\.i2"):
        stackio.load(root)
    outcomes: dict[str, str] = {}
    for directory in sorted(p for p in root.iterdir() if (p / ".zarray").is_file()):
        uri = directory.resolve().as_uri()
        try:
            reference = zarr.open_array(str(directory), mode="r")
        except Exception:
            with pytest.raises(stackio.ReadError, match="zarr could not open the array"):
                stackio.load(uri, "YX")
            outcomes[directory.name] = "zarr cannot open"
            continue
        if reference.dtype.kind not in "biuf":
            with pytest.raises(stackio.ReadError, match="not image data"):
                stackio.load(uri, "YX")
            outcomes[directory.name] = "not image data"
            continue
        axes = {1: "X", 2: "YX", 3: "ZYX"}[reference.ndim]
        if reference.ndim == 1:
            with pytest.raises(stackio.AxesError, match="lacks 'Y'"):
                stackio.load(uri, axes)
            outcomes[directory.name] = "1-D"
            continue
        [stack] = stackio.load(uri, axes)
        _compare_with_zarr(stack)
        assert stack.source == uri
        outcomes[directory.name] = "read"
    read = sorted(n for n, o in outcomes.items() if o == "read")
    assert read == [
        "2d.chunked.i2",
        "2d.chunked.ragged.i2",
        "2d.contiguous.i2",
        "3d.chunked.i2",
        "3d.chunked.mixed.i2.C",
        "3d.chunked.mixed.i2.F",
        "3d.contiguous.i2",
    ]
    assert outcomes["1d.contiguous.json2.O"] == "zarr cannot open"
    assert outcomes["3d.chunked.O"] == "not image data"
    # the group with spaces in its name, by URI (percent-encoded)
    with pytest.raises(stackio.ReadError, match="holds no arrays and no groups"):
        stackio.load((root / "my group with spaces").resolve().as_uri())


def test_bf2raw_series_by_index_and_uri(entries: dict[str, Path]) -> None:
    path = entries["fiji_bf2raw_dataset_v5.ome.zarr"]
    [second] = stackio.load(f"{path}@1")
    assert second.source == (path.resolve() / "1" / "0").as_uri()
    [series1] = stackio.load((path.resolve() / "1").as_uri(), level=1)
    assert series1.data_shape == (1, 1, 32, 32)
    _compare_with_zarr(series1)
