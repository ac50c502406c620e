"""An OME-TIFF with many series loads in time linear in the series: its OME-XML is parsed once per file.

Parsing the XML once per series made loading quadratic (1,000 series took about 28 s where tifffile
lists them in well under a second). The bound is relative to tifffile's own listing of the same file on
the same machine, and generous, so that it fails for quadratic behaviour and not for a busy machine.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import stackio
import tifffile

SERIES = 1000


@pytest.fixture(scope="module")
def plate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,000 OME series of 8x8 pixels, each with its own name, pixel size and pixels (written by tifffile)."""
    path = tmp_path_factory.mktemp("many") / "plate.ome.tif"
    with tifffile.TiffWriter(path, ome=True) as writer:
        for i in range(SERIES):
            data = (np.arange(64, dtype=np.uint16).reshape(8, 8) + i).astype(np.uint16)
            writer.write(
                data,
                metadata={"axes": "YX", "Name": f"well{i}", "PhysicalSizeX": 0.5 + i / 1000, "PhysicalSizeY": 0.25},
            )
    return path


def _tifffile_listing(path: Path) -> float:
    start = time.perf_counter()
    with tifffile.TiffFile(path) as tif:
        assert len(tif.series) == SERIES
    return time.perf_counter() - start


def test_many_series_load_in_linear_time(plate: Path) -> None:
    stackio.load(plate, series=0)  # plugin discovery and imports are not what is measured
    reference = min(_tifffile_listing(plate) for _ in range(2))
    start = time.perf_counter()
    stacks = stackio.load(plate)
    took = time.perf_counter() - start
    assert len(stacks) == SERIES
    assert took < max(20 * reference, 1.0) and took < 10.0, (
        f"loading {SERIES} series took {took:.1f} s; tifffile lists them in {reference:.2f} s"
    )
    with tifffile.TiffFile(plate) as tif:
        for i in (0, 1, 499, SERIES - 1):
            stack = stacks[i]
            assert stack.source == f"{plate.absolute()}@{i}"
            expected = tif.series[i].asarray()
            patch = stack.extract_patch(0, None, (0, 0), (8, 8))
            np.testing.assert_array_equal(patch[0], expected)
            # each series is matched to its own OME Image (pixel size differs per series)
            assert stack.metadata.voxel_size == {"Y": 0.25, "X": pytest.approx(0.5 + i / 1000)}
            assert stack.image_metadata(0).file_coords["image"] == i
