"""Every plugin's samples through npe2's reading API, compared with `stackio.load`; refusals and errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stackio
import tifffile
import zarr
from napari_helpers import format_plugins, full_array
from stackio_napari import get_reader
from stackio_napari.layers import is_labels, is_rgb


def _levels(data: Any) -> list[Any]:
    return list(data) if isinstance(data, list) else [data]


def _as_layer(stack: Any, array: np.ndarray, kwargs: dict[str, Any], labels: bool = False) -> np.ndarray:
    """`array` (SC(Z)YX, as stackio gives it) shaped as this plugin's layer data should be."""
    shape = tuple(stack.data_shape)
    if shape[0] == 1:
        array = array[0]
    c_axis = 0 if shape[0] == 1 else 1
    if shape[1] == 1:
        array = np.take(array, 0, axis=c_axis)
    elif kwargs.get("rgb"):
        array = np.moveaxis(array, c_axis, -1)
    return array


def _expected_scale(stack: Any, kwargs: dict[str, Any]) -> tuple[list[float], list[float]]:
    meta = stack.metadata
    axes = kwargs["axis_labels"]
    voxel, offset = meta.voxel_size or {}, meta.offset or {}
    scale = [1.0 if a == "S" else float(voxel.get(a, 1.0)) for a in axes]
    translate = [0.0 if a == "S" else float(offset.get(a, 0.0)) for a in axes]
    return scale, translate


def check_layers(source: str, layers: list[Any]) -> None:
    """Each stack of `stackio.load(source)` is one layer, with the same pixels, scale, names and levels."""
    assumed = layers[0][1]["metadata"]["stackio"].get("assumed_axes")
    stacks = stackio.load(source, assumed)
    images = [layer for layer in layers if layer[1]["metadata"]["stackio"]["source"] in {s.source for s in stacks}]
    assert len(images) == len(stacks)
    for stack, (data, kwargs, kind) in zip(stacks, images, strict=True):
        assert kind == ("labels" if is_labels(stack) else "image")
        levels = _levels(data)
        assert np.array_equal(np.asarray(levels[0]), _as_layer(stack, full_array(stack), kwargs))
        assert levels[0].dtype == stack.data_dtype
        scale, translate = _expected_scale(stack, kwargs)
        assert kwargs["scale"] == pytest.approx(scale)
        assert kwargs["translate"] == pytest.approx(translate)
        n_channels = stack.data_shape[1]
        if n_channels > 1 and kind == "image" and not is_rgb(stack):
            assert kwargs["channel_axis"] == (0 if stack.data_shape[0] == 1 else 1)
            names = stack.metadata.channel_names or [str(c) for c in range(n_channels)]
            assert kwargs["name"] == [f"{kwargs['name'][0].rsplit(' ', 1)[0]} {c}" for c in names]
        else:
            assert "channel_axis" not in kwargs
        # multiscale levels are the format's own levels, as stackio.load(level=k) gives them
        assert kwargs["multiscale"] == (len(levels) > 1)
        position = stacks.index(stack)
        for k, level in enumerate(levels[1:], start=1):
            whole = stackio.load(source, assumed, level=k)
            if len(whole) == len(stacks):
                expected = whole[position]
            else:
                (expected,) = stackio.load(stack.source, assumed, **{**stack.load_options, "level": k})
            assert np.array_equal(np.asarray(level), _as_layer(expected, full_array(expected), kwargs))


@pytest.mark.parametrize("plugin", [ep.name for ep in format_plugins()])
def test_every_sample_reads_as_stackio_loads_it(plugin: str, samples: dict[str, list[Any]], npe2_read: Any) -> None:
    if plugin not in samples:
        pytest.skip(f"{plugin} writes no samples")
    checked = 0
    for source in dict.fromkeys(sample.source for sample in samples[plugin]):
        if get_reader(source) is None:
            # napari moves on to its other readers: then stackio cannot read it without options either
            with pytest.raises(stackio.StackioError):
                stackio.load(source)
            continue
        layers = npe2_read(source)
        assert layers
        check_layers(source, layers)
        checked += 1
    assert checked, f"no sample of {plugin} could be opened"


def test_a_multiscale_ome_zarr_gives_every_level(samples: dict[str, list[Any]], npe2_read: Any) -> None:
    (source,) = {s.source for s in samples["zarr"] if s.options.get("level") == 1}
    ((data, kwargs, kind),) = npe2_read(source)
    assert kind == "image" and kwargs["multiscale"]
    levels = [stackio.load(source, level=k)[0] for k in range(len(data))]
    assert [lv.shape for lv in data] == [s.data_shape[1:] for s in levels]
    assert kwargs["name"] == [f"{Path(source).name} DAPI", f"{Path(source).name} GFP"]
    assert kwargs["units"] == ["micrometer"] * 3 and kwargs["axis_labels"] == ["Z", "Y", "X"]
    with pytest.raises(stackio.StackioError):
        stackio.load(source, level=len(data))  # no level was left out


def test_scenes_are_layers_named_after_source_and_scene(samples: dict[str, list[Any]], npe2_read: Any) -> None:
    source = next(s.source for s in samples["czi"] if "scenes" in s.description)
    layers = npe2_read(source)
    names = [kwargs["name"][0] for _, kwargs, _ in layers]
    assert names == [f"{Path(source).name}@0 0", f"{Path(source).name}@1 0"]


def test_a_pyramid_tiff_is_multiscale(tmp_path: Path, npe2_read: Any) -> None:
    path = tmp_path / "pyramid.ome.tif"
    rng = np.random.default_rng(1)
    base = rng.integers(0, 4000, (2, 256, 512), dtype=np.uint16)
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        tif.write(base, subifds=2, tile=(64, 64), metadata={"axes": "CYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5})
        tif.write(base[:, ::2, ::2], subfiletype=1, tile=(64, 64))
        tif.write(base[:, ::4, ::4], subfiletype=1, tile=(64, 64))
    ((data, kwargs, _),) = npe2_read(path)
    assert [lv.shape for lv in data] == [(2, 256, 512), (2, 128, 256), (2, 64, 128)]
    assert np.array_equal(np.asarray(data[2]), base[:, ::4, ::4])
    assert kwargs["scale"] == [0.5, 0.5] and kwargs["channel_axis"] == 0


def _ome_image(group: Any, data: np.ndarray, axes: str, **extra: Any) -> None:
    datasets = []
    for level in range(2):
        step = 2**level
        sub = data[(slice(None),) * (data.ndim - 2) + (slice(None, None, step), slice(None, None, step))]
        group.create_array(str(level), data=sub, chunks=sub.shape)
        datasets.append(
            {
                "path": str(level),
                "coordinateTransformations": [{"type": "scale", "scale": [1.0] * (data.ndim - 2) + [0.25 * step] * 2}],
            }
        )
    group.attrs["multiscales"] = [
        {
            "version": "0.4",
            "axes": [{"name": a.lower(), "type": "channel" if a == "C" else "space"} for a in axes],
            "datasets": datasets,
        }
    ]
    group.attrs.update(extra)


def test_ome_zarr_labels_group_gives_labels_layers(tmp_path: Path, npe2_read: Any) -> None:
    root = zarr.open_group(str(tmp_path / "cells.ome.zarr"), mode="w", zarr_format=2)
    image = np.arange(2 * 32 * 48, dtype=np.uint16).reshape(2, 32, 48)
    _ome_image(root, image, "CYX")
    labels = root.create_group("labels")
    labels.attrs["labels"] = ["nuclei"]
    nuclei = np.zeros((32, 48), dtype=np.uint32)
    nuclei[4:12, 8:20] = 7
    _ome_image(labels.create_group("nuclei"), nuclei, "YX", **{"image-label": {"version": "0.4"}})
    layers = npe2_read(tmp_path / "cells.ome.zarr")
    kinds = [kind for _, _, kind in layers]
    assert kinds == ["image", "labels"]
    data, kwargs, _ = layers[1]
    assert kwargs["name"] == "cells.ome.zarr labels/nuclei"
    assert kwargs["multiscale"] and np.array_equal(np.asarray(data[0]), nuclei)
    assert kwargs["scale"] == [0.25, 0.25]


def test_dacapo_crop_labels_and_mask_are_labels_layers(tmp_path: Path, npe2_read: Any) -> None:
    crop = zarr.open_group(str(tmp_path / "train.zarr" / "crop_1"), mode="w", zarr_format=3)
    raw = np.random.default_rng(2).integers(0, 255, (8, 16, 16), dtype=np.uint8)
    ids = np.zeros((8, 16, 16), dtype=np.uint64)
    ids[2:5, 3:9, 3:9] = 3
    for name, values in {"raw": raw, "labels": ids, "mask": (ids > 0).astype(np.uint8)}.items():
        array = crop.create_array(name, data=values, chunks=(4, 16, 16), dimension_names=["z", "y", "x"])
        array.attrs.update(
            {"voxel_size": [40, 8, 8], "offset": [0, 0, 0], "axis_names": ["z", "y", "x"], "units": ["nm"] * 3}
        )
    layers = npe2_read(tmp_path / "train.zarr" / "crop_1")
    by_name = {kwargs["name"]: (kind, data) for data, kwargs, kind in layers}
    assert {name: kind for name, (kind, _) in by_name.items()} == {
        "crop_1/raw": "image",
        "crop_1/labels": "labels",
        "crop_1/mask": "labels",
    }
    assert np.array_equal(np.asarray(by_name["crop_1/labels"][1]), ids)


def test_a_plain_folder_gives_each_file_a_layer(tmp_path: Path, npe2_read: Any) -> None:
    for i in (2, 10, 1):
        tifffile.imwrite(tmp_path / f"img{i}.tif", np.full((4, 5), i, dtype=np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    layers = npe2_read(tmp_path)
    assert [kwargs["name"] for _, kwargs, _ in layers] == ["img1.tif", "img2.tif", "img10.tif"]


def test_sources_no_installed_format_reads_get_none(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "empty").mkdir()
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("a")
    assert get_reader(str(tmp_path / "notes.txt")) is None
    assert get_reader(str(tmp_path / "empty")) is None
    assert get_reader(str(tmp_path / "texts")) is None
    assert get_reader(str(tmp_path / "missing.tif")) is None
    tifffile.imwrite(tmp_path / "ok.tif", np.zeros((4, 4), np.uint8))
    assert get_reader(str(tmp_path / "ok.tif")) is not None
    assert get_reader([str(tmp_path / "ok.tif"), str(tmp_path / "notes.txt")]) is None


def test_a_format_that_is_disabled_is_not_claimed(tmp_path: Path, stackio_isolated: Any) -> None:
    tifffile.imwrite(tmp_path / "ok.tif", np.zeros((4, 4), np.uint8))
    assert get_reader(str(tmp_path / "ok.tif")) is None


def test_bad_input_raises_the_stackio_error_alone(tmp_path: Path) -> None:
    good = tmp_path / "good.tif"
    tifffile.imwrite(good, np.zeros((64, 64), np.uint16))
    bad = tmp_path / "cut.tif"
    bad.write_bytes(good.read_bytes()[:40])
    reader = get_reader(str(bad))
    assert reader is not None  # the suffix and header say TIFF: stackio claims it and says what is wrong
    with pytest.raises(stackio.StackioError) as caught:
        reader(str(bad))
    assert str(bad) in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_data_without_axes_is_shown_as_it_is(samples: dict[str, list[Any]], npe2_read: Any) -> None:
    source = next(s.source for s in samples["custom"] if s.source.endswith("volume.npy"))
    ((data, kwargs, _),) = npe2_read(source)
    assert data.shape == np.load(source).shape and np.array_equal(np.asarray(data), np.load(source))
    assert kwargs["metadata"]["stackio"]["assumed_axes"] == "ZYX"
