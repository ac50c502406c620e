"""Samples for `stackio demo` and the conformance suite, written by the format's own writer.

For a real format, write the samples with the format's own library (never with stackio), so the
tests compare what stackio reads with what that library wrote.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from stackio import Sample

from . import MAGIC
from .reader import DTYPES, LENGTH


def write(path: Path, data: np.ndarray, axes: str | None = None, voxel_size: Mapping[str, float] | None = None) -> Path:
    """Write `data` as a MyFormat file: the format's reference writer."""
    if data.dtype.name not in DTYPES:
        raise ValueError(f"MyFormat holds {', '.join(DTYPES)} pixels, not {data.dtype}")
    fields: dict[str, object] = {"shape": list(data.shape), "dtype": data.dtype.name}
    if axes is not None:
        fields["axes"] = axes
    if voxel_size is not None:
        fields["voxel_size"] = dict(voxel_size)
    text = json.dumps(fields).encode("utf-8")
    pixels = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("<"))
    with open(path, "wb") as f:
        f.write(MAGIC + LENGTH.pack(len(text)) + text)
        f.write(pixels.tobytes())
    return path


def write_samples(directory: Path) -> list[Sample]:
    """A plane, a 2-channel volume with a voxel size, and a time series whose header names no axes."""
    rng = np.random.default_rng(7)
    plane = write(directory / "plane.myf", rng.integers(0, 255, (40, 56), dtype=np.uint8), "YX")
    volume = write(
        directory / "volume.myf",
        rng.integers(0, 60000, (2, 5, 24, 32), dtype=np.uint16),
        "CZYX",
        {"Z": 2.0, "Y": 0.5, "X": 0.5},
    )
    series = write(directory / "series.myf", rng.random((3, 20, 30), dtype=np.float32))
    return [
        Sample(str(plane), None, "8-bit plane, axes YX from the header"),
        Sample(str(volume), None, "16-bit 2-channel volume (CZYX) with a voxel size of 2 x 0.5 x 0.5 um"),
        Sample(str(series), "TYX", "float32 time series; the header names no axes, so they are given"),
    ]
