"""Small sample files written with tifffile, for `stackio demo` and the conformance suite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from stackio import Sample


def write_samples(directory: Path) -> list[Sample]:
    import tifffile

    directory = Path(directory)
    rng = np.random.default_rng(0)
    out = []

    hyperstack = directory / "hyperstack_imagej.tif"
    data = rng.integers(0, 4000, (3, 5, 2, 64, 64), dtype=np.uint16)  # T Z C Y X
    tifffile.imwrite(
        hyperstack,
        data,
        imagej=True,
        resolution=(1 / 0.2, 1 / 0.2),
        metadata={"axes": "TZCYX", "spacing": 0.5, "unit": "um", "finterval": 2.0},
    )
    out.append(Sample(str(hyperstack), None, "ImageJ hyperstack TZCYX, 0.2 um pixels, 0.5 um Z spacing"))

    ome = directory / "two_positions.ome.tif"
    with tifffile.TiffWriter(ome, ome=True) as tif:
        for position in range(2):
            tif.write(
                rng.integers(0, 255, (2, 4, 48, 48), dtype=np.uint8),
                photometric="minisblack",
                metadata={
                    "axes": "CZYX",
                    "Name": f"position {position}",
                    "PhysicalSizeX": 0.3,
                    "PhysicalSizeY": 0.3,
                    "PhysicalSizeZ": 1.0,
                    "Channel": {"Name": ["DAPI", "GFP"]},
                },
            )
    out.append(Sample(str(ome), None, "OME-TIFF with 2 series (positions), CZYX, physical sizes"))

    tiled = directory / "tiled_zstd.tif"
    tifffile.imwrite(
        tiled,
        rng.integers(0, 60000, (512, 768), dtype=np.uint16),
        tile=(128, 128),
        compression="zstd",
        photometric="minisblack",
    )
    out.append(Sample(str(tiled), "YX", "tiled (128x128) zstd-compressed 2-D image"))
    return out
