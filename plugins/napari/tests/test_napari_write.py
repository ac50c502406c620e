"""The OME-Zarr writer contribution: napari layers saved through stackio.save, read back with stackio and zarr."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stackio
import zarr
from napari_helpers import PLUGIN, full_array


def _write(path: Path, layers: list[tuple[Any, dict[str, Any], str]]) -> list[str]:
    import npe2

    npe2.PluginManager.instance().discover()
    return npe2.write(str(path), layers, plugin_name=PLUGIN)


def _attrs(name: str, ndim: int, **extra: Any) -> dict[str, Any]:
    return {"name": name, "scale": [1.0] * ndim, "translate": [0.0] * ndim, "multiscale": False, **extra}


def test_channel_layers_are_saved_as_one_image_with_scale_units_and_names(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    dapi, gfp = (rng.integers(0, 4000, (6, 32, 40), dtype=np.uint16) for _ in range(2))
    common = {
        "scale": [2.0, 0.5, 0.5],
        "translate": [0.0, 10.0, 5.0],
        "units": ("micrometer", "micrometer", "micrometer"),
        "axis_labels": ("Z", "Y", "X"),
    }
    layers = [
        (dapi, {**_attrs("DAPI", 3), **common}, "image"),
        (gfp, {**_attrs("GFP", 3), **common}, "image"),
    ]
    (written,) = _write(tmp_path / "out.ome.zarr", layers)
    (stack,) = stackio.load(written)
    assert stack.data_shape == (1, 2, 6, 32, 40)
    assert np.array_equal(full_array(stack)[0], np.stack([dapi, gfp]))
    meta = stack.metadata
    assert meta.voxel_size == {"Z": 2.0, "Y": 0.5, "X": 0.5}
    assert meta.offset == {"Z": 0.0, "Y": 10.0, "X": 5.0}
    assert meta.channel_names == ("DAPI", "GFP")
    assert set(meta.units.values()) == {"micrometer"}
    # zarr itself reads the same pixels
    assert np.array_equal(zarr.open_array(str(Path(written) / "0"), mode="r")[...], np.stack([dapi, gfp]))


def test_labels_layers_go_into_the_labels_group(tmp_path: Path) -> None:
    image = np.arange(24 * 30, dtype=np.uint16).reshape(24, 30)
    nuclei = np.zeros((24, 30), dtype=np.uint32)
    nuclei[3:9, 4:12] = 5
    layers = [(image, _attrs("img", 2), "image"), (nuclei, _attrs("nuclei", 2), "labels")]
    (written,) = _write(tmp_path / "cells.ome.zarr", layers)
    (labels,) = stackio.load(str(Path(written) / "labels" / "nuclei"))
    assert np.array_equal(full_array(labels)[0, 0], nuclei)


def test_a_multiscale_layer_is_saved_with_as_many_levels(tmp_path: Path) -> None:
    base = np.random.default_rng(4).integers(0, 255, (64, 64), dtype=np.uint8)
    layers = [([base, base[::2, ::2]], {**_attrs("img", 2), "multiscale": True}, "image")]
    (written,) = _write(tmp_path / "pyr.ome.zarr", layers)
    assert stackio.load(written, level=1)[0].data_shape == (1, 1, 32, 32)
    with pytest.raises(stackio.StackioError):
        stackio.load(written, level=2)


def test_what_is_read_can_be_written_back(samples: dict[str, list[Any]], npe2_read: Any, tmp_path: Path) -> None:
    source = next(s.source for s in samples["tiff"] if "two_positions" in s.source)
    data, kwargs, _ = npe2_read(source)[0]
    channel = kwargs["channel_axis"]
    names = kwargs["name"]
    layers = []
    for c, name in enumerate(names):
        attrs = {k: v for k, v in kwargs.items() if k not in ("channel_axis", "name", "metadata", "contrast_limits")}
        layers.append((np.take(np.asarray(data), c, axis=channel), {**attrs, "name": name}, "image"))
    (written,) = _write(tmp_path / "back.ome.zarr", layers)
    (original,) = stackio.load(source + "@0")
    (back,) = stackio.load(written)
    assert np.array_equal(full_array(back), full_array(original))
    assert back.metadata.voxel_size == pytest.approx(original.metadata.voxel_size)


def test_an_existing_destination_is_not_written_over(tmp_path: Path) -> None:
    target = tmp_path / "kept.ome.zarr"
    target.mkdir()
    (target / "note.txt").write_text("mine")
    with pytest.raises(Exception) as caught:
        _write(target, [(np.zeros((8, 8), np.uint8), _attrs("img", 2), "image")])
    assert "kept.ome.zarr" in str(caught.value)
    assert (target / "note.txt").read_text() == "mine" and sorted(p.name for p in target.iterdir()) == ["note.txt"]


def test_image_layers_of_different_shapes_are_refused(tmp_path: Path) -> None:
    layers = [
        (np.zeros((8, 8), np.uint8), _attrs("a", 2), "image"),
        (np.zeros((9, 8), np.uint8), _attrs("b", 2), "image"),
    ]
    with pytest.raises(Exception, match="differ in shape"):
        _write(tmp_path / "two.ome.zarr", layers)
    assert not (tmp_path / "two.ome.zarr").exists()


def test_the_viewer_saves_its_layers_through_the_writer(
    samples: dict[str, list[Any]], viewer: Any, tmp_path: Path
) -> None:
    (source,) = {s.source for s in samples["zarr"] if s.options.get("level") == 1}
    viewer.open(source, plugin=PLUGIN)
    target = tmp_path / "saved.ome.zarr"
    viewer.layers.save(str(target), plugin=PLUGIN)
    (back,) = stackio.load(str(target))
    (original,) = stackio.load(source)
    assert np.array_equal(full_array(back), full_array(original))
    assert back.metadata.channel_names == ("DAPI", "GFP")  # the reader's "<source> <channel>" names undone
    # as many levels as the layer has; stackio.save makes them (it halves Y and X)
    assert stackio.load(str(target), level=1)[0].data_shape[-2:] == stackio.load(source, level=1)[0].data_shape[-2:]
    with pytest.raises(stackio.StackioError):
        stackio.load(str(target), level=2)
