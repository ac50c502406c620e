"""Conformance over the real NDTiff datasets in ../shared/realdata (skipped when absent).

The reference is ndstorage's `Dataset(...).as_array(...)` (stitched for tiled datasets,
full resolution, or each pyramid level as `NDTiffPyramidDataset.as_array` lists them).
The expected sample order is rebuilt here from the plugin's documented rule.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stackio
from ndtiff_helpers import arrange, close_reference, open_reference, patches_match, quiet, reference_array
from stackio.testing import RealFile, realdata_params

pytestmark = pytest.mark.realdata

_PARAMS = realdata_params("ndtiff", Path(__file__).resolve())
_ENTRIES = [p.values[0] for p in _PARAMS if p.values[0] is not None]


def _params() -> list[Any]:
    return _PARAMS


def _documented_order(names: list[str], stitched: bool, depth: str | None) -> list[str]:
    """The README's rule: row, column (tiles), position, time, other axes by name, z; then channel, depth."""
    standard = ["row", "column", "position", "time", "channel", "z"]
    order = ([] if stitched else ["row", "column"]) + ["position"] + (["time"] if depth != "time" else [])
    order += sorted(n for n in names if n not in standard) + (["z"] if depth != "z" else [])
    return [n for n in order if n in names] + ["channel"] + ([depth] if depth else [])


@pytest.mark.parametrize("entry", _params())
def test_real_ndtiff_equals_ndstorage(
    stackio_realdata: Path, entry: RealFile, capfd: pytest.CaptureFixture[str]
) -> None:
    dataset = open_reference(entry.path)
    names = list(dataset.axes)
    summary = dataset.summary_metadata
    int_channel_names = (
        list(dataset.get_channel_names())
        if "channel" in names and not isinstance(next(iter(dataset.axes["channel"])), str)
        else None
    )
    close_reference(dataset)
    stitched = "row" in names and "column" in names and "GridPixelOverlapX" in summary

    stack = stackio.load(entry.path)[0]
    assert capfd.readouterr().out == "", "loading printed to stdout"
    depth = "z" if stack.axes == "SCZYX" else None
    assert depth == ("z" if len(dataset.axes.get("z", ())) > 1 else None)
    assert list(stack.metadata.axis_names) == [*_documented_order(names, stitched, depth), "y", "x"]

    ref, ref_names = reference_array(entry.path, stitched=stitched)
    described = re.search(r"as_array=(\([0-9, ]+\))", entry.description)
    if described:  # the reference reads what the MANIFEST says it reads (as_array, not stitched)
        shape = ref.shape if not stitched else reference_array(entry.path, stitched=False)[0].shape
        assert shape == ast.literal_eval(described[1])
    expected = arrange(ref, ref_names, stack)
    np.testing.assert_array_equal(stack.read_all(), expected)
    patches_match(stack, expected, np.random.default_rng(0), count=20)

    meta = stack.metadata
    assert meta.voxel_size == {"Y": float(summary["PixelSize_um"]), "X": float(summary["PixelSize_um"])}
    if "channel" not in names:
        assert meta.channel_names is None
    elif int_channel_names is None:  # string-valued channels name themselves, in sorted order
        assert meta.channel_names == tuple(sorted(dataset.axes["channel"]))
    else:  # integer channels: names as ndstorage reads them from the image metadata
        assert meta.channel_names == (tuple(int_channel_names) if any(int_channel_names) else None)
    assert meta.raw() == summary
    assert capfd.readouterr().out == ""


def _explore() -> RealFile | None:
    return next((e for e in _ENTRIES if (e.path / "Downsampled_x2").is_dir() and "explore" in e.path.name), None)


def test_real_pyramid_levels_equal_ndstorage(stackio_realdata: Path) -> None:
    entry = _explore()
    if entry is None:
        pytest.skip("no NDTiff explore dataset with pyramid levels in the manifest")
    dataset = open_reference(entry.path)
    listed = len(quiet(dataset.as_array, stitched=True))  # ndstorage lists the levels worth showing
    close_reference(dataset)
    assert listed >= 2
    full = stackio.load(entry.path)[0]
    for level in range(1, listed):
        stack = stackio.load(entry.path, level=level)[0]
        ref, names = reference_array(entry.path, stitched=True, level=level)
        np.testing.assert_array_equal(stack.read_all(), arrange(ref, names, stack))
        assert stack.data_shape[-2:] == tuple(n // 2**level for n in full.data_shape[-2:])
        assert stack.metadata.voxel_size == {k: v * 2**level for k, v in full.metadata.voxel_size.items()}


def test_real_tiles_as_samples_equal_ndstorage(stackio_realdata: Path) -> None:
    entry = _explore()
    if entry is None:
        pytest.skip("no NDTiff explore dataset in the manifest")
    stack = stackio.load(entry.path, stitched=False)[0]
    ref, names = reference_array(entry.path, stitched=False)
    np.testing.assert_array_equal(stack.read_all(), arrange(ref, names, stack))


def test_real_v2_downsampled_level(stackio_realdata: Path) -> None:
    entry = next((e for e in _ENTRIES if "v2" in e.path.parts and (e.path / "Downsampled_x2").is_dir()), None)
    if entry is None:
        pytest.skip("no NDTiff v2 dataset with pyramid levels in the manifest")
    from ndstorage.old_format_version_readers.nd_tiff_v2 import _ResolutionLevel

    full = stackio.load(entry.path)[0]
    stack = stackio.load(entry.path, level=1)[0]
    assert stack.data_shape[-2:] == tuple(n // 2 for n in full.data_shape[-2:])
    level = quiet(_ResolutionLevel, str(entry.path / "Downsampled_x2"), 0, 1)
    try:
        tile = level.read_image({"row": 0, "column": 0, "channel": 0})
    finally:
        level.close()
    # the one level-1 tile covers the whole full-resolution extent at half size
    np.testing.assert_array_equal(stack.read_all()[0, 0], tile[: stack.data_shape[-2], : stack.data_shape[-1]])
