"""DaCapo/funlib attributes, the crop-layout reader and raw normalisation."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import stackio
import zarr
from stackio_zarr import Crop, load_crops, normalize_raw

FUNLIB = {
    "voxel_size": [40, 8, 8],
    "offset": [400, 80, 160],
    "axis_names": ["c^", "z", "y", "x"],
    "units": ["nm", "nm", "nm"],
}


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_funlib_attributes_give_axes_and_metadata(tmp_path: Path, zw, assert_stack_equals, zarr_format) -> None:
    data = zw.pattern((2, 6, 16, 20), "uint8")
    zw.write_array(tmp_path / "f.zarr", data, zarr_format=zarr_format, attributes=FUNLIB)
    [stack] = stackio.load(tmp_path / "f.zarr")
    assert stack.original_axes == "CZYX"
    assert_stack_equals(stack, zarr.open_array(str(tmp_path / "f.zarr"), mode="r")[...])
    md = stack.metadata
    assert md.voxel_size == {"Z": 40.0, "Y": 8.0, "X": 8.0}
    assert md.offset == {"Z": 400.0, "Y": 80.0, "X": 160.0}
    assert md.units == {"Z": "nm", "Y": "nm", "X": "nm"}
    assert md.axis_names == ("c^", "z", "y", "x")
    assert md.raw()["attributes"]["voxel_size"] == [40, 8, 8]


def test_funlib_axis_names_bind_axes(tmp_path: Path, zw) -> None:
    zw.write_array(tmp_path / "f.zarr", zw.pattern((2, 6, 16, 20), "uint8"), attributes=FUNLIB)
    with pytest.raises(stackio.AxesError, match=r"contradict the funlib axis_names \['c\^', 'z', 'y', 'x'\]"):
        stackio.load(tmp_path / "f.zarr", "TZYX")
    attrs = dict(FUNLIB, axis_names=["sample^", "c^", "y", "x"], voxel_size=[8, 8], offset=[0, 0], units=["nm", "nm"])
    zw.write_array(tmp_path / "s.zarr", zw.pattern((3, 2, 16, 20), "uint8"), attributes=attrs)
    [stack] = stackio.load(tmp_path / "s.zarr")
    assert stack.data_shape == (3, 2, 16, 20)


def test_funlib_without_axis_names_needs_axes_and_maps_trailing_dims(tmp_path: Path, zw) -> None:
    data = zw.pattern((2, 6, 16, 20), "uint16")
    zw.write_array(tmp_path / "n.zarr", data, attributes={"voxel_size": [40, 8, 8], "offset": [0, 8, 16]})
    with pytest.raises(stackio.AxesError, match="axes are needed"):
        stackio.load(tmp_path / "n.zarr")
    [stack] = stackio.load(tmp_path / "n.zarr", "CZYX")
    assert stack.metadata.voxel_size == {"Z": 40.0, "Y": 8.0, "X": 8.0}
    assert stack.metadata.offset == {"Z": 0.0, "Y": 8.0, "X": 16.0}
    assert stack.metadata.units is None


def test_funlib_unknown_names_and_inconsistent_lengths(tmp_path: Path, zw) -> None:
    data = zw.pattern((2, 16, 20), "uint8")
    zw.write_array(tmp_path / "u.zarr", data, attributes={"axis_names": ["wave^", "y", "x"]})
    with pytest.raises(stackio.AxesError, match=r"funlib marks non-spatial axes with '\^'"):
        stackio.load(tmp_path / "u.zarr")
    [stack] = stackio.load(tmp_path / "u.zarr", "CYX")
    assert stack.metadata.axis_names == ("wave^", "y", "x")
    zw.write_array(tmp_path / "bad.zarr", data, attributes={"axis_names": ["c^", "y", "x"], "voxel_size": [4, 4, 4]})
    with pytest.raises(stackio.ReadError, match=r"voxel_size \[4.0, 4.0, 4.0\] has 3 entries .* 2 spatial"):
        stackio.load(tmp_path / "bad.zarr")
    zw.write_array(tmp_path / "bad2.zarr", data, attributes={"voxel_size": "4nm"})
    with pytest.raises(stackio.ReadError, match="should be a list of numbers"):
        stackio.load(tmp_path / "bad2.zarr", "CYX")


# -- crop layouts ---------------------------------------------------------------------


def _crop(group: zarr.Group, zw, seed: int, *, mask: bool, labels_dtype: str = "uint32") -> dict[str, np.ndarray]:
    out = {"raw": zw.pattern((8, 16, 16), "uint8", seed), "labels": zw.pattern((8, 16, 16), labels_dtype, seed + 1)}
    if mask:
        out["mask"] = zw.pattern((8, 16, 16), "uint8", seed + 2) % 2
    for role, data in out.items():
        arr = group.create_array(
            role,
            shape=data.shape,
            dtype=data.dtype,
            chunks=(4, 8, 8),
            attributes={
                "axis_names": ["z", "y", "x"],
                "voxel_size": [8, 4, 4],
                "offset": [0, 0, 0],
                "units": ["nm"] * 3,
            },
        )
        arr[...] = data
    return out


@pytest.fixture
def split_store(tmp_path: Path, zw) -> tuple[Path, dict[tuple[str, str], dict[str, np.ndarray]]]:
    root = tmp_path / "train.zarr"
    store = zarr.open_group(str(root), mode="w")
    data = {}
    for split, crops in (("train", ["crop_1", "crop_2", "crop_10"]), ("test", ["crop_3"])):
        for i, name in enumerate(crops):
            data[(split, name)] = _crop(
                store.create_group(f"{split}/{name}"), zw, 10 * len(data) + i, mask=name != "crop_2"
            )
    return root, data


def test_load_crops_train_test_with_and_without_masks(split_store, assert_stack_equals) -> None:
    root, data = split_store
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        crops = load_crops(root)
    assert [(c.split, c.name) for c in crops] == [
        ("train", "crop_1"),
        ("train", "crop_2"),
        ("train", "crop_10"),
        ("test", "crop_3"),
    ]
    for crop in crops:
        assert isinstance(crop, Crop) and not crop.shared
        expected = data[(crop.split, crop.name)]
        assert_stack_equals(crop.raw, expected["raw"])
        assert_stack_equals(crop.labels, expected["labels"])
        assert crop.labels.data_dtype == np.uint32
        if "mask" in expected:
            assert_stack_equals(crop.mask, expected["mask"])
        else:
            assert crop.mask is None
        assert crop.raw.metadata.voxel_size == {"Z": 8.0, "Y": 4.0, "X": 4.0}
        assert crop.uri == (root / crop.split / crop.name).as_uri()


def test_crops_directly_in_split_groups(tmp_path: Path, zw, assert_stack_equals) -> None:
    root = tmp_path / "direct.zarr"
    store = zarr.open_group(str(root), mode="w")
    train = _crop(store.create_group("train"), zw, 1, mask=False)
    _crop(store.create_group("test"), zw, 2, mask=True)
    crops = load_crops(root.as_uri())
    assert [(c.split, c.name) for c in crops] == [("train", "train"), ("test", "test")]
    assert_stack_equals(crops[0].labels, train["labels"])


def test_store_without_splits_serves_both_and_says_so(tmp_path: Path, zw, assert_stack_equals) -> None:
    root = tmp_path / "one.zarr"
    store = zarr.open_group(str(root), mode="w")
    data = _crop(store.create_group("crop_7"), zw, 3, mask=True)
    with pytest.warns(UserWarning, match="no train/ or test/ group; the same crops are used for both"):
        crops = load_crops(root)
    assert [(c.split, c.name, c.shared) for c in crops] == [("train", "crop_7", True), ("test", "crop_7", True)]
    assert_stack_equals(crops[1].raw, data["raw"])
    only_train = tmp_path / "only_train.zarr"
    _crop(zarr.open_group(str(only_train), mode="w").create_group("train"), zw, 4, mask=False)
    with pytest.warns(UserWarning, match="no test/ group; only train crops"):
        assert [c.split for c in load_crops(only_train)] == ["train"]


@pytest.mark.filterwarnings("ignore:.*only train crops are returned")
def test_crop_errors(tmp_path: Path, zw) -> None:
    signed = tmp_path / "signed.zarr"
    _crop(zarr.open_group(str(signed), mode="w").create_group("train/crop_1"), zw, 5, mask=False, labels_dtype="int32")
    with pytest.raises(stackio.ReadError, match=r"labels must be unsigned integers .* not int32"):
        load_crops(signed)
    no_labels = tmp_path / "nolabels.zarr"
    g = zarr.open_group(str(no_labels), mode="w").create_group("train/crop_1")
    g.create_array("raw", shape=(4, 4), dtype="uint8", attributes={"axis_names": ["y", "x"]})
    with pytest.raises(stackio.ReadError, match="the crop has no labels"):
        load_crops(no_labels)
    bad_mask = tmp_path / "badmask.zarr"
    g = zarr.open_group(str(bad_mask), mode="w").create_group("train/crop_1")
    _crop(g, zw, 6, mask=False)
    g.create_array("mask", shape=(8, 16, 15), dtype="uint8", attributes={"axis_names": ["z", "y", "x"]})
    with pytest.raises(stackio.ReadError, match=r"the mask has shape .* but the labels have"):
        load_crops(bad_mask)
    empty = tmp_path / "empty.zarr"
    zarr.open_group(str(empty), mode="w").create_group("train/other")
    with pytest.raises(stackio.ReadError, match=r"neither raw/labels nor crop_\* groups \(it has: other\)"):
        load_crops(empty)


def test_crop_axes_per_role(tmp_path: Path, zw) -> None:
    root = tmp_path / "plain.zarr"
    g = zarr.open_group(str(root), mode="w").create_group("train")
    g.create_array("raw", data=zw.pattern((2, 8, 8), "uint16"))
    g.create_array("labels", data=zw.pattern((8, 8), "uint8"))
    with pytest.raises(stackio.AxesError, match="axes are needed"), pytest.warns(UserWarning):
        load_crops(root)
    with pytest.warns(UserWarning):
        [crop] = load_crops(root, {"raw": "CYX", "labels": "YX"})
    assert crop.raw.data_shape == (1, 2, 8, 8) and crop.labels.data_shape == (1, 1, 8, 8)
    with pytest.raises(stackio.ValidationError, match="are not roles"):
        load_crops(root, {"image": "CYX"})


def test_normalize_raw_by_dtype() -> None:
    u8 = np.array([0, 51, 255], np.uint8)
    np.testing.assert_allclose(normalize_raw(u8), [0, 0.2, 1])
    assert normalize_raw(u8).dtype == np.float32
    u16 = np.array([0, 65535], np.uint16)
    np.testing.assert_array_equal(normalize_raw(u16), np.array([0, 1], np.float32))
    f = np.array([-1.5, 3.0], np.float64)
    assert normalize_raw(f) is f
    for dtype in ("int16", "int32", "uint32", "bool"):
        with pytest.raises(stackio.ValidationError, match=f"dtype {dtype} has no defined range"):
            normalize_raw(np.zeros(3, dtype))
