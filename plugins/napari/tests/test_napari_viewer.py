"""A real napari viewer on a virtual screen opens samples, real files and multi-GB files through this plugin."""

from __future__ import annotations

import os
import shutil
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stackio
import tifffile
import zarr
from napari_helpers import PLUGIN, format_plugins
from stackio.testing import find_realdata, manifest
from stackio_napari import get_reader

HERE = Path(__file__).resolve().parent
REALDATA = find_realdata(HERE)
#: One real file per format for the default run; every real file runs with -m slow.
FIRST_OF_EACH = {}
for _entry in manifest(REALDATA) if REALDATA is not None else []:
    FIRST_OF_EACH.setdefault(_entry.format, _entry)


def _expected_layers(path: str) -> int:
    """How many napari layers the reader's layer data makes once channels are split."""
    from stackio_napari import read

    total = 0
    for _, kwargs, _ in read(path):
        total += len(kwargs["name"]) if "channel_axis" in kwargs else 1
    return total


def _open(viewer: Any, path: str | Path) -> list[Any]:
    return viewer.open(str(path), plugin=PLUGIN)


@pytest.mark.slow
@pytest.mark.parametrize("plugin", [ep.name for ep in format_plugins()])
def test_viewer_opens_every_sample(plugin: str, samples: dict[str, list[Any]], viewer: Any) -> None:
    if plugin not in samples:
        pytest.skip(f"{plugin} writes no samples")
    opened = 0
    for source in dict.fromkeys(s.source for s in samples[plugin]):
        if get_reader(source) is None:
            continue
        viewer.layers.clear()
        layers = _open(viewer, source)
        assert len(layers) == len(viewer.layers) == _expected_layers(source)
        for layer in layers:
            stack_meta = layer.metadata["stackio"]
            assert layer.ndim == len(layer.scale) == len(layer.axis_labels)
            voxel = stack_meta["voxel_size"] or {}
            for label, scale in zip(layer.axis_labels, layer.scale, strict=True):
                assert scale == pytest.approx(voxel.get(label, 1.0) if label != "S" else 1.0)
        opened += 1
    assert opened


def test_viewer_layers_carry_units_channel_names_and_levels(samples: dict[str, list[Any]], viewer: Any) -> None:
    import napari

    (source,) = {s.source for s in samples["zarr"] if s.options.get("level") == 1}
    layers = _open(viewer, source)
    assert [layer.name for layer in layers] == [f"{Path(source).name} DAPI", f"{Path(source).name} GFP"]
    for layer in layers:
        assert isinstance(layer, napari.layers.Image) and layer.multiscale
        assert [str(u) for u in layer.units] == ["micrometer"] * 3
        assert layer.axis_labels == ("Z", "Y", "X")
        assert list(layer.scale) == pytest.approx([0.5, 0.2, 0.2])
        assert [lv.shape for lv in layer.data] == [(8, 64, 64), (4, 32, 32)]


def test_viewer_shows_labels_as_labels_layers(tmp_path: Path, viewer: Any) -> None:
    import napari

    crop = zarr.open_group(str(tmp_path / "crop.zarr"), mode="w", zarr_format=2)
    for name, dtype in (("raw", np.uint8), ("labels", np.uint32), ("mask", np.uint8)):
        array = crop.create_array(name, shape=(16, 16), dtype=dtype, chunks=(8, 8))
        array[:] = np.arange(256, dtype=dtype).reshape(16, 16) % 3
        array.attrs["axis_names"] = ["y", "x"]
    layers = _open(viewer, tmp_path / "crop.zarr")
    kinds = {layer.name: type(layer) for layer in layers}
    assert kinds == {
        "crop.zarr/raw": napari.layers.Image,
        "crop.zarr/labels": napari.layers.Labels,
        "crop.zarr/mask": napari.layers.Labels,
    }


def _exception_chain(exc: BaseException) -> list[BaseException]:
    chain, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        chain.append(exc)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return chain


def test_bad_input_reaches_napari_as_the_stackio_message(tmp_path: Path, viewer: Any) -> None:
    good = tmp_path / "good.ome.tif"
    tifffile.imwrite(good, np.zeros((2, 64, 64), np.uint16), metadata={"axes": "CYX"})
    bad = tmp_path / "cut.ome.tif"
    bad.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 3])
    with pytest.raises(Exception) as caught:
        _open(viewer, bad)
    chain = _exception_chain(caught.value)
    stackio_errors = [e for e in chain if isinstance(e, stackio.StackioError)]
    assert stackio_errors, [type(e) for e in chain]
    assert str(bad) in str(stackio_errors[0])
    assert str(stackio_errors[0]) in str(caught.value)  # napari's own message quotes the stackio one
    # nothing raised inside the format library travels with it
    modules = {type(e).__module__.split(".")[0] for e in chain}
    assert modules <= {"stackio", "napari", "npe2", "builtins"}, modules
    frames = [f for e in chain for f in traceback.extract_tb(e.__traceback__)]
    assert not [f for f in frames if "tifffile" in f.filename]
    assert len(viewer.layers) == 0


def _real_params(every: bool) -> list[Any]:
    if REALDATA is None:
        return [pytest.param(None, id="no-realdata")]
    entries = manifest(REALDATA) if every else list(FIRST_OF_EACH.values())
    return [pytest.param(e, id=f"{e.format}-{e.path.name}") for e in entries]


def _open_real(entry: Any, viewer: Any) -> None:
    if entry is None:
        pytest.skip("no ../shared/realdata beside this checkout (set STACKIO_REALDATA to use one)")
    path = str(entry.path)
    if get_reader(path) is None:
        pytest.fail(f"{path}: stackio-napari does not claim a file stackio should read")
    try:
        expected = _expected_layers(path)
    except stackio.StackioError as exc:
        # a real file stackio refuses (e.g. a group of 1-D arrays): napari gets the same message
        with pytest.raises(Exception) as caught:
            _open(viewer, path)
        assert str(exc) in str(caught.value)
        return
    layers = _open(viewer, path)
    assert len(layers) == expected
    for layer in layers:
        layer.refresh()  # reads the displayed plane: every layer must be readable
        assert layer.data is not None


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize("entry", _real_params(every=False))
def test_viewer_opens_a_real_file_of_each_format(entry: Any, viewer: Any) -> None:
    _open_real(entry, viewer)


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize("entry", _real_params(every=True))
def test_viewer_opens_every_real_file(entry: Any, viewer: Any) -> None:
    _open_real(entry, viewer)


@pytest.mark.realdata
def test_screenshot_of_a_real_file(viewer: Any, tmp_path: Path) -> None:
    """Set STACKIO_NAPARI_SCREENSHOT=docs/pages/images/napari-ome-zarr.png to refresh the docs' picture."""
    if REALDATA is None:
        pytest.skip("no ../shared/realdata beside this checkout")
    path = REALDATA / "zarr" / "exemplar-001.crop.image.ome.zarr"
    layers = _open(viewer, path)
    for layer, colour in zip(layers, ("blue", "green", "magenta", "yellow"), strict=False):
        layer.colormap = colour
        layer.blending = "additive"
    viewer.reset_view()
    picture = viewer.screenshot(str(tmp_path / "napari.png"), canvas_only=False, flash=False)
    assert picture.ndim == 3 and picture.shape[2] == 4
    canvas = viewer.screenshot(canvas_only=True, flash=False)
    assert canvas[..., :3].std() > 10  # the image is drawn, not an empty canvas
    target = os.environ.get("STACKIO_NAPARI_SCREENSHOT")
    if target:
        shutil.copyfile(tmp_path / "napari.png", target)


# -- multi-GB files: opening is quick and reads only what is shown -------------------------------------


def _big_ome_zarr(path: Path) -> tuple[int, ...]:
    """A 2 x 128 x 4096 x 4096 uint16 OME-Zarr (8.6 GB, 3 levels) whose chunks are mostly absent (fill value)."""
    shape = (2, 128, 4096, 4096)
    root = zarr.open_group(str(path), mode="w", zarr_format=2)
    datasets = []
    for level in range(3):
        step = 2**level
        level_shape = (*shape[:2], shape[2] // step, shape[3] // step)
        array = root.create_array(
            str(level), shape=level_shape, dtype="uint16", chunks=(1, 1, 1024, 1024), fill_value=7
        )
        array[:, 64, :256, :256] = 500
        scale = [1.0, 2.0, 0.5 * step, 0.5 * step]
        datasets.append({"path": str(level), "coordinateTransformations": [{"type": "scale", "scale": scale}]})
    axes = [{"name": "c", "type": "channel"}] + [{"name": a, "type": "space", "unit": "micrometer"} for a in "zyx"]
    root.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": datasets}]
    return shape


def _big_tiff(path: Path) -> tuple[int, ...]:
    """A 64 x 2 x 4096 x 4096 uint16 ImageJ-free BigTIFF (4.3 GB) written through a memory map."""
    shape = (64, 2, 4096, 4096)
    data = tifffile.memmap(path, shape=shape, dtype="uint16", bigtiff=True, metadata={"axes": "ZCYX"})
    data[32, :, :16, :16] = 9
    data.flush()
    del data
    return shape


@pytest.mark.slow
@pytest.mark.parametrize("make", [_big_ome_zarr, _big_tiff], ids=["ome-zarr-8.6GB", "tiff-4.3GB"])
def test_a_multi_gb_file_opens_quickly_and_reads_only_the_displayed_planes(
    make: Any,
    tmp_path: Path,
    viewer: Any,
    count_reads: list[tuple[int, ...]],
    samples: dict[str, list[Any]],
    npe2_read: Any,
) -> None:
    path = tmp_path / ("big.ome.zarr" if make is _big_ome_zarr else "big.ome.tif")
    shape = make(path)
    # warm up: the format libraries and napari's layer code are imported by a first, small file
    _open(viewer, next(s.source for s in samples["zarr" if make is _big_ome_zarr else "tiff"]))
    viewer.layers.clear()
    count_reads.clear()
    n_channels, plane = 2, shape[-2] * shape[-1]
    contrast_patch = 256 * 256 * n_channels

    # the reader's own work does not grow with the file: lazy layers, one small patch for the display range
    start = time.perf_counter()
    layer_data = npe2_read(path)
    elapsed = time.perf_counter() - start
    assert len(layer_data) == 1 and layer_data[0][1]["channel_axis"] == 0
    assert sum(int(np.prod(r)) for r in count_reads) <= contrast_patch, count_reads
    assert elapsed < 1.0, f"reading the layers of {path.name} took {elapsed:.2f} s"

    count_reads.clear()
    layers = _open(viewer, path)
    assert len(layers) == n_channels
    assert all(len(r) == 4 and r[1] == 1 for r in count_reads), count_reads  # C, Z, Y, X: one Z plane each
    read_voxels = sum(int(np.prod(r)) for r in count_reads)
    # napari slices a new layer at the viewer's current point, then moves an empty viewer to the middle
    # plane: two planes per channel at most (of the level shown), and the patch the display range comes from
    shown_plane = plane // 4 if make is _big_ome_zarr else plane  # napari shows level 1 or 2 of the pyramid
    assert 0 < read_voxels <= 2 * n_channels * shown_plane + contrast_patch, (count_reads, read_voxels)
    before = len(count_reads)
    viewer.dims.set_point(0, 64 * layers[0].scale[0])  # another plane: that plane alone is read
    new = count_reads[before:]
    assert new and sum(int(np.prod(r)) for r in new) <= n_channels * shown_plane
