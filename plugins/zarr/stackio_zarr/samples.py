"""Small sample stores written with zarr itself, for `stackio demo` and the conformance suite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from stackio import Sample


def _pattern(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    grids = np.indices(shape)
    values = sum((i + 1) * 7 * g for i, g in enumerate(grids))
    return (values % np.iinfo(dtype).max).astype(dtype)


def write_ome_v04(path: Path) -> np.ndarray:
    """An OME-Zarr 0.4 image (zarr v2): c,z,y,x uint16, two levels, channel names. Returns level 0."""
    import zarr

    level0 = _pattern((2, 8, 64, 64), "uint16")
    level1 = level0[:, ::2, ::2, ::2] + 1000  # different content, so reading the wrong level shows
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    for name, data in (("0", level0), ("1", level1)):
        group.create_array(name, data=data, chunks=(1, 4, 32, 32))
    space = {"type": "space", "unit": "micrometer"}
    group.attrs.update(
        {
            "multiscales": [
                {
                    "version": "0.4",
                    "name": "sample",
                    "axes": [
                        {"name": "c", "type": "channel"},
                        {"name": "z", **space},
                        {"name": "y", **space},
                        {"name": "x", **space},
                    ],
                    "datasets": [
                        {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1, 0.5, 0.2, 0.2]}]},
                        {
                            "path": "1",
                            "coordinateTransformations": [
                                {"type": "scale", "scale": [1, 1.0, 0.4, 0.4]},
                                {"type": "translation", "translation": [0, 0.25, 0.1, 0.1]},
                            ],
                        },
                    ],
                }
            ],
            "omero": {"channels": [{"label": "DAPI"}, {"label": "GFP"}]},
        }
    )
    return level0


def write_funlib_v3_sharded(path: Path) -> np.ndarray:
    """A zarr v3 sharded array with DaCapo/funlib attributes: c^,z,y,x uint8."""
    import zarr

    data = _pattern((2, 16, 64, 64), "uint8")
    array = zarr.create_array(
        str(path),
        shape=data.shape,
        dtype=data.dtype,
        chunks=(1, 4, 16, 16),
        shards=(1, 8, 32, 32),
        zarr_format=3,
        overwrite=True,
        attributes={
            "voxel_size": [40, 8, 8],
            "offset": [400, 80, 80],
            "axis_names": ["c^", "z", "y", "x"],
            "units": ["nm", "nm", "nm"],
        },
    )
    array[...] = data
    return data


def write_plain_v2(path: Path) -> np.ndarray:
    """A zarr v2 array with no axis metadata (the user names the axes): z,y,x int16, zstd."""
    import numcodecs
    import zarr

    data = _pattern((6, 40, 50), "int16")
    array = zarr.create_array(
        str(path),
        shape=data.shape,
        dtype=data.dtype,
        chunks=(2, 16, 16),
        compressors=numcodecs.Zstd(level=3),
        zarr_format=2,
        overwrite=True,
    )
    array[...] = data
    return data


def write_samples(directory: Path) -> list[Sample]:
    directory = Path(directory)
    ome_path = directory / "ome_v04_multiscale.ome.zarr"
    funlib_path = directory / "funlib_v3_sharded.zarr"
    write_ome_v04(ome_path)
    write_funlib_v3_sharded(funlib_path)
    plain_path = directory / "plain_v2.zarr"
    write_plain_v2(plain_path)
    return [
        Sample(
            str(ome_path),
            None,
            "OME-Zarr 0.4 (zarr v2) c,z,y,x uint16, 2 levels; axes and voxel size from the metadata",
        ),
        Sample(
            str(funlib_path),
            None,
            "zarr v3 sharded array c^,z,y,x uint8 with funlib voxel_size/offset/axis_names/units",
        ),
        Sample(str(ome_path), None, "the same image at level 1", {"level": 1}),
        Sample(str(plain_path), "ZYX", "zarr v2 array without axis metadata (axes given), int16, zstd"),
    ]
