"""The OME-Zarr writer, checked by independent readers: zarr-python, ome-zarr-py, ome-zarr-models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import stackio
import stackio_zarr
import zarr
from stackio.pyramids import downsample
from stackio_zarr import CropData

META = {
    "voxel_size": {"Z": 2.0, "Y": 0.5, "X": 0.5},
    "offset": {"Z": 10.0, "Y": 3.0, "X": 4.0},
    "units": {"Z": "um", "Y": "um", "X": "um"},
    "channel_names": ["DAPI", "GFP"],
}


def _data(shape: tuple[int, ...] = (2, 6, 90, 130), dtype: str = "uint16") -> np.ndarray:
    return np.random.default_rng(5).integers(0, 3000, size=shape).astype(dtype)


@pytest.mark.parametrize("version", ["0.5", "0.4"])
def test_ome_zarr_read_by_zarr_python_and_ome_zarr_py(tmp_path: Path, version: str) -> None:
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    data = _data()
    dest = stackio.save(data, tmp_path / "img.ome.zarr", axes="CZYX", pyramid=3, metadata=META, version=version)
    fmt = 3 if version == "0.5" else 2
    group = zarr.open_group(str(dest), mode="r", zarr_format=fmt)
    np.testing.assert_array_equal(group["0"][:], data)
    assert [group[str(i)].shape for i in range(3)] == [(2, 6, 90, 130), (2, 6, 45, 65), (2, 3, 23, 33)]
    # level 1 halves Y and X only (Z, 2 um, is coarser than twice the 1 um pixels); level 2 halves all
    np.testing.assert_array_equal(group["1"][:], downsample(data, (2, 2), labels=False))
    np.testing.assert_array_equal(group["2"][:], downsample(group["1"][:], (2, 2, 2), labels=False))
    image = Reader(parse_url(str(dest)))()
    node = next(iter(image))
    np.testing.assert_array_equal(np.asarray(node.data[0]), data)
    transforms = node.metadata["coordinateTransformations"]
    assert transforms[0] == [
        {"type": "scale", "scale": [1.0, 2.0, 0.5, 0.5]},
        {"type": "translation", "translation": [0.0, 10.0, 3.0, 4.0]},
    ]
    assert transforms[1][0]["scale"] == [1.0, 2.0, 1.0, 1.0]
    assert transforms[1][1]["translation"] == [0.0, 10.0, 3.25, 4.25]
    assert [a["unit"] for a in node.metadata["axes"][1:]] == ["micrometer"] * 3
    assert node.metadata["channel_names"] == ["DAPI", "GFP"]


@pytest.mark.parametrize("version", ["0.5", "0.4"])
def test_ome_zarr_models_validate_image_and_labels(tmp_path: Path, version: str) -> None:
    if version == "0.5":
        from ome_zarr_models.v05.image import Image
        from ome_zarr_models.v05.image_label import ImageLabel
    else:
        from ome_zarr_models.v04.image import Image
        from ome_zarr_models.v04.image_label import ImageLabel
    data = _data()
    labels = (data[0] // 1000).astype("uint32")
    dest = stackio.save(
        data,
        tmp_path / "img.ome.zarr",
        axes="CZYX",
        pyramid=2,
        metadata=META,
        version=version,
        labels={"cells": labels},
    )
    fmt = 3 if version == "0.5" else 2
    image = Image.from_zarr(zarr.open_group(str(dest), mode="r", zarr_format=fmt))
    assert len(image.datasets[0]) == 2 if hasattr(image, "datasets") else True
    ImageLabel.from_zarr(zarr.open_group(str(dest / "labels" / "cells"), mode="r", zarr_format=fmt))
    level1 = zarr.open_array(str(dest / "labels" / "cells" / "1"), mode="r", zarr_format=fmt)[:]
    assert set(np.unique(level1)) <= set(np.unique(labels))  # the mode: no new ids
    np.testing.assert_array_equal(level1, downsample(labels, (2, 2), labels=True))
    back = stackio.load(dest / "labels" / "cells")[0]
    np.testing.assert_array_equal(back.extract_patch(0, None, (0, 0, 0), (6, 90, 130))[0], labels)


def test_round_trip_of_metadata_and_omero(tmp_path: Path) -> None:
    data = _data()
    dest = stackio.save(data, tmp_path / "img.ome.zarr", axes="CZYX", metadata=META)
    back = stackio.load(dest)[0]
    assert back.metadata.voxel_size == META["voxel_size"]
    assert back.metadata.offset == META["offset"]
    assert back.metadata.units == {"Z": "micrometer", "Y": "micrometer", "X": "micrometer"}
    assert back.metadata.channel_names == ("DAPI", "GFP")
    omero = zarr.open_group(str(dest), mode="r").attrs["ome"]["omero"]
    assert [c["window"]["end"] for c in omero["channels"]] == [float(data[0].max()), float(data[1].max())]
    assert [c["window"]["start"] for c in omero["channels"]] == [float(data[0].min()), float(data[1].min())]


def test_sharded_and_time_series(tmp_path: Path) -> None:
    data = np.random.default_rng(2).random((4, 3, 70, 80)).astype("float32")  # T C Y X
    dest = stackio.save(data, tmp_path / "t.ome.zarr", axes="TCYX", chunks=(32, 32), shards=(64, 64))
    array = zarr.open_array(str(dest / "0"), mode="r")
    assert array.chunks == (1, 1, 32, 32) and array.shards == (1, 3, 64, 64)
    assert array.metadata.dimension_names == ("t", "c", "y", "x")
    back = stackio.load(dest)[0]
    assert back.data_shape == (4, 3, 70, 80) and back.original_axes == "TCYX"
    for t in range(4):
        np.testing.assert_array_equal(back.extract_patch(t, None, (0, 0), (70, 80)), data[t])
    with pytest.raises(stackio.ValidationError, match="shards need OME-Zarr 0.5"):
        stackio.save(data, tmp_path / "v2.ome.zarr", axes="TCYX", shards=(64, 64), version="0.4")


def test_several_stacks_make_a_collection(tmp_path: Path) -> None:
    a, b = _data((2, 30, 40)), _data((1, 50, 60), "uint8")
    stacks = [stackio.ArrayStack.from_axes(a, "CYX"), stackio.ArrayStack.from_axes(b, "CYX")]
    dest = stackio.save(stacks, tmp_path / "c.ome.zarr")
    back = stackio.load(dest)
    assert [s.data_shape for s in back] == [(1, 2, 30, 40), (1, 1, 50, 60)]
    np.testing.assert_array_equal(back[1].extract_patch(0, None, (0, 0), (50, 60)), b)
    np.testing.assert_array_equal(stackio.load(f"{dest}@0")[0].extract_patch(0, None, (0, 0), (30, 40)), a)


def test_dacapo_layout_read_back_by_load_crops(tmp_path: Path) -> None:
    raw = np.random.default_rng(0).integers(0, 255, (2, 20, 64, 64)).astype("uint8")
    labels = (raw[0] > 128).astype("uint32")
    meta = stackio.Metadata(
        voxel_size={"Z": 40, "Y": 8, "X": 8},
        offset={"Z": 400, "Y": 80, "X": 80},
        units={"Z": "nm", "Y": "nm", "X": "nm"},
    )
    raw_stack = stackio.ArrayStack.from_axes(raw, "CZYX", metadata=meta)
    crops = [
        CropData("train", "crop_1", raw_stack, labels, labels > 0, axes="CZYX"),
        CropData("test", "crop_2", raw_stack, labels, axes="CZYX"),
    ]
    store = stackio_zarr.write_crops(tmp_path / "set.zarr", crops)
    got = stackio_zarr.load_crops(store)
    assert [(c.split, c.name, c.mask is not None) for c in got] == [
        ("train", "crop_1", True),
        ("test", "crop_2", False),
    ]
    crop = got[0]
    assert crop.raw.data_shape == (1, 2, 20, 64, 64)
    assert crop.raw.metadata.voxel_size == {"Z": 40.0, "Y": 8.0, "X": 8.0}
    assert crop.raw.metadata.offset == {"Z": 400.0, "Y": 80.0, "X": 80.0}
    assert crop.raw.metadata.units == {"Z": "nm", "Y": "nm", "X": "nm"}
    assert zarr.open_array(str(store / "train/crop_1/raw"), mode="r", zarr_format=2).attrs["axis_names"] == [
        "c^",
        "z",
        "y",
        "x",
    ]
    np.testing.assert_array_equal(crop.raw.extract_patch(0, None, (0, 0, 0), (20, 64, 64)), raw)
    np.testing.assert_array_equal(crop.labels.extract_patch(0, None, (0, 0, 0), (20, 64, 64))[0], labels)
    with pytest.raises(stackio.ValidationError, match="labels must be unsigned integers"):
        stackio_zarr.write_crops(
            tmp_path / "bad.zarr", [CropData("train", "crop_1", raw_stack, labels.astype("float32"), axes="CZYX")]
        )
    assert not (tmp_path / "bad.zarr").exists()


@pytest.mark.parametrize("version", ["0.5", "0.4"])
def test_bioio_ome_zarr_reads_pixels_scales_and_channels(tmp_path: Path, version: str) -> None:
    bioio = pytest.importorskip("bioio")
    reader = pytest.importorskip("bioio_ome_zarr").Reader
    data = _data()
    dest = stackio.save(data, tmp_path / "img.ome.zarr", axes="CZYX", pyramid=2, metadata=META, version=version)
    image = bioio.BioImage(str(dest), reader=reader)
    assert image.dims.shape == (1, 2, 6, 90, 130)
    assert tuple(image.physical_pixel_sizes) == (2.0, 0.5, 0.5)
    assert image.channel_names == ["DAPI", "GFP"]
    np.testing.assert_array_equal(np.asarray(image.get_image_data("CZYX")), data)
    image.set_resolution_level(1)
    np.testing.assert_array_equal(np.asarray(image.get_image_data("CZYX")), downsample(data, (2, 2), labels=False))
