"""Per-image metadata of an NDTiff stack: each image's JSON, read from the stack's memory-mapped files.

Common fields follow Micro-Manager's keys: `ElapsedTime-ms` (time, made relative to the dataset's first
indexed image), `Exposure-ms` or pycro-manager's `Exposure` (milliseconds), `XPositionUm`/`YPositionUm`/
`ZPositionUm` (else the `*Position_um_Intended` targets; micrometres). A key that is absent gives `None`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
from stackio import ImageMetadata
from stackio.image_metadata import finite

from .index import IndexEntry
from .planes import PlaneReader

_STAGE_KEYS = {
    "X": ("XPositionUm", "XPosition_um_Intended"),
    "Y": ("YPositionUm", "YPosition_um_Intended"),
    "Z": ("ZPositionUm", "ZPosition_um_Intended"),
}


@attrs.frozen(eq=False)
class ImageIndex:
    """Where each image's metadata is, and which dataset coordinates each table cell stands for."""

    metadata_offset_of: np.ndarray
    metadata_length_of: np.ndarray
    #: Name of each table dimension, and the dataset value at each position along it.
    table_axes: tuple[str, ...]
    table_values: tuple[dict[int, Any], ...]
    #: Axes fixed by `select` (not in the table), with their value.
    fixed: dict[str, Any]
    #: The dataset's first indexed image: (file name, metadata offset, metadata length).
    first: tuple[str, int, int]


def image_index(
    kept: Sequence[IndexEntry],
    table_axes: Sequence[str],
    positions: Mapping[str, Mapping[Any, int]],
    fixed: Mapping[str, Any],
    first: IndexEntry,
) -> ImageIndex:
    """Built at load from what the index already holds (no file is read)."""
    count = len(kept)
    return ImageIndex(
        np.fromiter((e.metadata_offset for e in kept), dtype=np.int64, count=count),
        np.fromiter((e.metadata_length for e in kept), dtype=np.int64, count=count),
        tuple(table_axes),
        tuple({p: v for v, p in positions[a].items()} for a in table_axes),
        dict(fixed),
        (first.filename, first.metadata_offset, first.metadata_length),
    )


def _json(data: bytes) -> dict[str, Any]:
    value = json.loads(data)
    return value if isinstance(value, dict) else {}


class NdtiffImages:
    """The stack's `ImageMetadataReader`: cell of the image table -> the image's JSON, from its memory map."""

    def __init__(self, index: ImageIndex, original_axes: str) -> None:
        self.index = index
        #: The original axes before C (and the depth axis), in order: those the reader's key holds.
        self.axes = original_axes[:-2]

    def __call__(self, reader: PlaneReader, plane: dict[str, int]) -> ImageMetadata | None:
        values = [plane.get(a, 0) for a in self.axes]
        found = reader.image_numbers(values)
        if not found:
            return None  # no image was acquired there (a gap in the dataset)
        cell, number = found[0]  # a stitched plane: its first tile (row, column in file_coords)
        index = self.index
        coords = dict(index.fixed)
        for axis, values_at, position in zip(index.table_axes, index.table_values, cell, strict=True):
            coords[axis] = values_at[position]
        file_index = int(reader.plan.file_of[number])
        data = reader.metadata_bytes(
            file_index, int(index.metadata_offset_of[number]), int(index.metadata_length_of[number])
        )
        raw = _json(data)
        return ImageMetadata(
            file_coords=coords,
            time=self._time(reader, raw),
            exposure=_exposure(raw),
            **_stage(raw),
            raw=raw,
        )

    def _time(self, reader: PlaneReader, raw: Mapping[str, Any]) -> float | None:
        elapsed = finite(raw.get("ElapsedTime-ms"))
        if elapsed is None:
            return None
        cache = reader.cache
        if "first_elapsed_ms" not in cache:
            name, offset, length = self.index.first
            with open(Path(reader.plan.folder) / name, "rb") as f:
                f.seek(offset)
                cache["first_elapsed_ms"] = finite(_json(f.read(length)).get("ElapsedTime-ms"))
        first = cache["first_elapsed_ms"]
        return None if first is None else (elapsed - first) / 1000.0


def _exposure(raw: Mapping[str, Any]) -> float | None:
    for key in ("Exposure-ms", "Exposure"):
        value = finite(raw.get(key))
        if value is not None:
            return value / 1000.0
    return None


def _stage(raw: Mapping[str, Any]) -> dict[str, Any]:
    position: dict[str, float] = {}
    for axis, keys in _STAGE_KEYS.items():
        for key in keys:
            if key in raw:
                value = finite(raw[key])
                if value is not None:
                    position[axis] = value
                    break
    if not position:
        return {"stage_position": None, "stage_units": None}
    return {"stage_position": position, "stage_units": dict.fromkeys(position, "micrometer")}
