"""OME-Zarr versions: the NGFF 0.1/0.2 rule (always TCZYX) applies to those versions only.

A later or unknown version is read where its axes can be found: the multiscales `axes`, else the
`coordinateSystems` axes (NGFF 0.6 development files, RFC 5, as neuroglancer's test data has them);
when neither places the array's axes, `axes=None` is refused and given axes decide. Stores are
written by zarr with the attributes those files carry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stackio
import zarr


def _space(*names: str, unit: str = "micrometer") -> list[dict[str, Any]]:
    return [{"type": "space", "name": n, "unit": unit, "discrete": False} for n in names]


def _ome_v3(path: Path, data: np.ndarray, ome: dict[str, Any], array_path: str = "array") -> Path:
    """A zarr v3 group holding one array and `ome` under the "ome" attribute (NGFF 0.5 and later)."""
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    array = group.create_array(array_path, shape=data.shape, dtype=data.dtype, chunks=data.shape)
    array[...] = data
    group.attrs.update({"ome": ome})
    return path


def _rfc5(version: str, axes: list[dict[str, Any]], transform: dict[str, Any]) -> dict[str, Any]:
    """Multiscales as NGFF 0.6 development files write them: a coordinate system, datasets mapped onto it."""
    entry = {"type": transform.pop("type"), "output": "physical", "input": "array", "name": "t", **transform}
    return {
        "version": version,
        "multiscales": [
            {
                "name": "multiscales",
                "coordinateSystems": [{"name": "physical", "axes": axes}],
                "datasets": [{"path": "array", "coordinateTransformations": [entry]}],
            }
        ],
    }


def _data(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(24).integers(0, 60000, shape, dtype=np.uint16)


def _same_as_zarr(stack: Any, path: Path) -> None:
    reference = np.asarray(zarr.open_array(str(path / "array"), mode="r")[...])
    arranged = np.asarray(stack.layout.to_stack_order(reference))
    spatial = stack.data_shape[2:]
    for s in range(stack.data_shape[0]):
        np.testing.assert_array_equal(stack.extract_patch(s, None, (0,) * len(spatial), spatial), arranged[s])


@pytest.mark.parametrize(
    "transform",
    [
        {"type": "scale", "scale": [4, 3, 2]},
        {"type": "identity"},
        {
            "type": "sequence",
            "transformations": [
                {"type": "scale", "scale": [4, 3, 2]},
                {"type": "translation", "translation": [32, 21, 10]},
            ],
        },
        {"type": "affine", "affine": [[4, 0, 0, 32], [0, 3, 0, 21], [0, 0, 2, 10]]},
    ],
    ids=["scale", "identity", "sequence", "axis-aligned-affine"],
)
def test_ngff_06_coordinate_system_axes_are_read(tmp_path: Path, transform: dict[str, Any]) -> None:
    kind = transform["type"]
    path = _ome_v3(tmp_path / "img.zarr", _data((5, 12, 14)), _rfc5("0.6.dev3", _space("z", "y", "x"), transform))
    [stack] = stackio.load(path)
    assert stack.original_axes == "ZYX" and stack.data_shape == (1, 1, 5, 12, 14)
    _same_as_zarr(stack, path)
    md = stack.metadata
    assert md.axis_names == ("z", "y", "x")
    if kind != "identity":
        assert md.voxel_size == {"Z": 4.0, "Y": 3.0, "X": 2.0}
        assert md.units == {"Z": "micrometer", "Y": "micrometer", "X": "micrometer"}
    if kind in ("sequence", "affine"):
        assert md.offset == {"Z": 32.0, "Y": 21.0, "X": 10.0}
    [as_samples] = stackio.load(path, "SYX")  # the declared z merged into samples: one plane each
    assert as_samples.data_shape == (5, 1, 12, 14)
    _same_as_zarr(as_samples, path)
    with pytest.raises(stackio.AxesError, match=r"axes='TYX' contradict the OME-Zarr 0\.6\.dev3 coordinate system"):
        stackio.load(path, "TYX")


@pytest.mark.parametrize(
    "transform",
    [
        {"type": "mapAxis", "mapAxis": [1, 2, 0]},
        {"type": "rotation", "rotation": [[0, 1, 0], [1, 0, 0], [0, 0, 1]]},
        {"type": "affine", "affine": [[0, 4, 0, 0], [3, 0, 0, 0], [0, 0, 2, 0]]},
    ],
    ids=["mapAxis", "rotation", "affine"],
)
def test_ngff_06_axes_that_cannot_be_placed_are_asked_for(tmp_path: Path, transform: dict[str, Any]) -> None:
    kind = transform["type"]
    path = _ome_v3(tmp_path / "img.zarr", _data((5, 12, 14)), _rfc5("0.6.dev1", _space("z", "y", "x"), transform))
    with pytest.raises(stackio.AxesError, match=rf"axes are needed: .*0\.6\.dev1.*a '{kind}' transformation") as info:
        stackio.load(path)
    assert "array's 3 dimensions" in str(info.value) and "5 axes" not in str(info.value)
    for axes in ("ZYX", "YXZ"):  # given axes decide
        [stack] = stackio.load(path, axes)
        assert stack.original_axes == axes
        _same_as_zarr(stack, path)


@pytest.mark.parametrize("version", ["0.6", "0.7", "1.0", None])
def test_other_versions_without_axes_are_not_read_as_tczyx(tmp_path: Path, version: str | None) -> None:
    ome: dict[str, Any] = {"multiscales": [{"name": "img", "datasets": [{"path": "array"}]}]}
    if version is not None:
        ome["version"] = version
    path = _ome_v3(tmp_path / "img.zarr", _data((3, 12, 14)), ome)
    with pytest.raises(stackio.AxesError, match=r"axes are needed: .*names no axes") as info:
        stackio.load(path)
    assert "5 axes" not in str(info.value)
    [stack] = stackio.load(path, "CYX")
    assert stack.original_axes == "CYX" and stack.data_shape == (1, 3, 12, 14)
    _same_as_zarr(stack, path)


def test_later_versions_with_multiscales_axes_use_them(tmp_path: Path) -> None:
    ome = {
        "version": "0.6",
        "multiscales": [
            {
                "name": "img",
                "axes": [{"name": "c", "type": "channel"}, *_space("y", "x", unit="\u00b5m")],
                "datasets": [{"path": "array", "coordinateTransformations": [{"type": "scale", "scale": [1, 2, 2]}]}],
            }
        ],
    }
    path = _ome_v3(tmp_path / "img.zarr", _data((3, 12, 14)), ome)
    [stack] = stackio.load(path)
    assert stack.original_axes == "CYX"
    assert stack.metadata.units == {"Y": "micrometer", "X": "micrometer"}  # 'µm' written, one name read
    _same_as_zarr(stack, path)
    with pytest.raises(stackio.AxesError, match=r"axes='ZYX' contradict the OME-Zarr axes \['c', 'y', 'x'\]"):
        stackio.load(path, "ZYX")


def test_legacy_rule_still_applies_to_0_2(tmp_path: Path) -> None:
    group = zarr.open_group(str(tmp_path / "old.zarr"), mode="w", zarr_format=2)
    data = _data((2, 1, 3, 8, 9))
    array = group.create_array("0", shape=data.shape, dtype=data.dtype, chunks=data.shape)
    array[...] = data
    group.attrs.update({"multiscales": [{"version": "0.2", "datasets": [{"path": "0"}]}]})
    [stack] = stackio.load(tmp_path / "old.zarr")
    assert stack.original_axes == "TCZYX"
    with pytest.raises(stackio.AxesError, match=r"contradict OME-Zarr 0\.2 \(no axes: always TCZYX\)"):
        stackio.load(tmp_path / "old.zarr", "CTZYX")


def test_names_without_a_letter_leave_only_their_dimensions_free(tmp_path: Path) -> None:
    ome = {
        "version": "0.5",
        "multiscales": [
            {
                "name": "img",
                "axes": [{"name": "angle"}, *_space("y", "x")],
                "datasets": [{"path": "array", "coordinateTransformations": [{"type": "scale", "scale": [1, 1, 1]}]}],
            }
        ],
    }
    path = _ome_v3(tmp_path / "img.zarr", _data((3, 12, 14)), ome)
    [stack] = stackio.load(path, "TYX")
    assert stack.original_axes == "TYX"
    _same_as_zarr(stack, path)
    with pytest.raises(stackio.AxesError, match=r"axes='TXY' contradict the OME-Zarr axes \['angle', 'y', 'x'\]"):
        stackio.load(path, "TXY")
