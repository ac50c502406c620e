"""The OME-TIFF and ImageJ writer, checked with tifffile (series, axes, levels, OME-XML)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import stackio
import tifffile
from stackio.pyramids import downsample

META = {
    "voxel_size": {"Z": 2.0, "Y": 0.5, "X": 0.5, "T": 3.0},
    "offset": {"Y": 3.0, "X": 4.0},
    "units": {"Z": "micrometer", "Y": "micrometer", "X": "micrometer", "T": "second"},
    "channel_names": ["DAPI", "GFP"],
}


def _data(shape: tuple[int, ...] = (3, 2, 4, 300, 530), dtype: str = "uint16") -> np.ndarray:
    return np.random.default_rng(7).integers(0, 3000, size=shape).astype(dtype)


def test_ome_tiff_tiled_compressed_with_subifd_levels(tmp_path: Path) -> None:
    data = _data()
    dest = stackio.save(data, tmp_path / "a.ome.tif", axes="TCZYX", pyramid=3, metadata=META)
    with tifffile.TiffFile(dest) as tif:
        assert tif.is_ome and not tif.is_bigtiff
        series = tif.series[0]
        assert series.axes == "TCZYX" and series.shape == data.shape
        assert [level.shape[-2:] for level in series.levels] == [(300, 530), (150, 265), (75, 133)]
        page = tif.pages[0]
        assert page.is_tiled and page.tilelength == 256 and page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        np.testing.assert_array_equal(series.asarray(), data)
        np.testing.assert_array_equal(series.levels[1].asarray(), downsample(data, (2, 2), labels=False))
        xml = tif.ome_metadata
    assert 'PhysicalSizeX="0.5"' in xml and 'TimeIncrement="3.0"' in xml and 'Name="GFP"' in xml
    back = stackio.load(dest)[0]
    assert back.data_shape == (3, 2, 4, 300, 530)
    assert back.metadata.voxel_size == META["voxel_size"]
    assert back.metadata.offset == {"Y": 3.0, "X": 4.0}
    assert back.metadata.units == META["units"]
    assert back.metadata.channel_names == ("DAPI", "GFP")


def test_bigtiff_when_asked_or_needed(tmp_path: Path) -> None:
    dest = stackio.save(_data((2, 64, 64)), tmp_path / "b.ome.tif", axes="CYX", bigtiff=True)
    with tifffile.TiffFile(dest) as tif:
        assert tif.is_bigtiff
        np.testing.assert_array_equal(tif.series[0].asarray(), _data((2, 64, 64)))


def test_imagej_hyperstack_for_small_tif(tmp_path: Path) -> None:
    data = _data((3, 4, 2, 60, 70))  # T Z C Y X, ImageJ's own order
    dest = stackio.save(
        data,
        tmp_path / "h.tif",
        axes="TZCYX",
        metadata={
            "voxel_size": {"Z": 0.7, "Y": 0.2, "X": 0.2},
            "units": {"X": "micrometer", "Y": "micrometer", "Z": "micrometer"},
        },
    )
    with tifffile.TiffFile(dest) as tif:
        assert tif.is_imagej and tif.series[0].axes == "TZCYX"
        np.testing.assert_array_equal(tif.series[0].asarray(), data)
        assert tif.imagej_metadata["spacing"] == pytest.approx(0.7)
    back = stackio.load(dest)[0]
    assert back.metadata.voxel_size == pytest.approx({"Z": 0.7, "Y": 0.2, "X": 0.2})


def test_labels_pyramid_by_mode(tmp_path: Path) -> None:
    labels = (np.arange(64 * 96).reshape(64, 96) // 300).astype("uint32")
    writer = stackio.create(tmp_path / "l.ome.tif", labels.shape, "uint32", "YX", pyramid=2, labels=True)
    writer.write_patch(0, (0, 0), labels[None])
    writer.close()
    with tifffile.TiffFile(tmp_path / "l.ome.tif") as tif:
        np.testing.assert_array_equal(tif.series[0].levels[1].asarray(), downsample(labels, (2, 2), labels=True))
