"""The NDTiff on-disk structures: `NDTiff.index` entries and the header of each `*_NDTiffStack.tif`.

Standard library (and stackio's file rules) only. An index is a sequence of entries, each:
uint32 axes length, axes JSON, uint32 file name length, file name, then eight uint32
(pixel offset, width, height, pixel type, pixel compression, metadata offset,
metadata length, metadata compression), little-endian.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import attrs
from stackio.files import open_regular

INDEX_NAME = "NDTiff.index"
FULL_RESOLUTION = "Full resolution"

#: Pixel types of the index, and what each is in memory: (numpy dtype, samples per pixel).
PIXEL_TYPES: dict[int, tuple[str, int]] = {
    0: ("uint8", 1),  # 8-bit
    1: ("uint16", 1),  # 16-bit
    2: ("uint8", 3),  # 8-bit RGB, stored R, G, B
    3: ("uint16", 1),  # 10-bit
    4: ("uint16", 1),  # 12-bit
    5: ("uint16", 1),  # 14-bit
    6: ("uint16", 1),  # 11-bit
}

_NDTIFF_MAGIC = 483729
_SUMMARY_MAGIC = 2355492
_FIXED = struct.Struct("<8I")


class IndexFormatError(ValueError):
    """An index entry that is complete but not valid (bad UTF-8 or JSON)."""


@attrs.frozen
class IndexEntry:
    """One image of an NDTiff dataset, as its index describes it."""

    axes: dict[str, Any]
    filename: str
    pixel_offset: int
    width: int
    height: int
    pixel_type: int
    pixel_compression: int
    metadata_offset: int
    metadata_length: int


@attrs.frozen
class Index:
    """The complete entries of an index, and the bytes of a partly written last entry, if any."""

    entries: tuple[IndexEntry, ...]
    size: int
    partial_bytes: int


def parse_index(data: bytes) -> Index:
    """Parse an index; a last entry cut short (an acquisition still writing) is left out.

    A zero axes length ends the index (a writer's zero padding). An entry whose bytes
    are all present but do not decode raises `IndexFormatError`.
    """
    entries: list[IndexEntry] = []
    position, size = 0, len(data)
    while position < size:
        start = position
        if size - position < 4:
            break
        (axes_length,) = struct.unpack_from("<I", data, position)
        if axes_length == 0:
            return Index(tuple(entries), size, 0)
        position += 4
        if size - position < axes_length + 4:
            position = start
            break
        axes_bytes = data[position : position + axes_length]
        position += axes_length
        (name_length,) = struct.unpack_from("<I", data, position)
        position += 4
        if size - position < name_length + _FIXED.size:
            position = start
            break
        name_bytes = data[position : position + name_length]
        position += name_length
        fields = _FIXED.unpack_from(data, position)
        position += _FIXED.size
        try:
            axes = json.loads(axes_bytes.decode("utf-8"))
            filename = name_bytes.decode("utf-8")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IndexFormatError(f"entry {len(entries)} at byte {start} does not decode ({exc})") from exc
        if not isinstance(axes, dict):
            raise IndexFormatError(f"entry {len(entries)} at byte {start} has axes {axes!r}, not a JSON object")
        entries.append(
            IndexEntry(axes, filename, fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], fields[6])
        )
    else:
        return Index(tuple(entries), size, 0)
    return Index(tuple(entries), size, size - position)


def read_index(folder: Path) -> Index:
    with open_regular(folder / INDEX_NAME, what=f"the dataset's {INDEX_NAME}") as f:
        return parse_index(f.read())


@attrs.frozen
class StackHeader:
    """What the start of an NDTiff stack file says: format version and summary metadata."""

    major_version: int
    minor_version: int
    summary: dict[str, Any]


def read_stack_header(path: Path) -> StackHeader:
    """Read the version and summary metadata at the start of a `*_NDTiffStack.tif`.

    Raises ValueError when the file is not a little-endian NDTiff stack.
    """
    with open(path, "rb") as f:
        head = f.read(28)
        if len(head) < 28:
            raise ValueError(f"{path.name} is {len(head)} bytes long, too short for an NDTiff stack header")
        if head[:2] == b"MM":
            raise ValueError(f"{path.name} is big-endian; only little-endian NDTiff stacks are supported")
        if head[:4] != b"II*\x00":
            raise ValueError(f"{path.name} does not start like a TIFF file")
        magic, major, minor, third, fourth = struct.unpack_from("<5I", head, 8)
        if magic != _NDTIFF_MAGIC:
            raise ValueError(f"{path.name} is a TIFF but not an NDTiff stack (no NDTiff identifier)")
        # v3 puts the minor version at byte 16 and the summary header at 20; v2 has no minor version.
        if major >= 3:
            header, length, start = third, fourth, 28
        else:
            minor, header, length, start = 0, minor, third, 24
        if header != _SUMMARY_MAGIC:
            raise ValueError(f"{path.name}: the summary metadata header is missing")
        f.seek(start)
        text = f.read(length)
    if len(text) < length:
        raise ValueError(f"{path.name} ends inside its summary metadata")
    summary = json.loads(text.decode("utf-8"))
    return StackHeader(major, minor, summary if isinstance(summary, dict) else {})


def read_image_metadata(folder: Path, entry: IndexEntry) -> dict[str, Any]:
    """One image's own metadata (a JSON object stored after its pixels)."""
    with open(folder / entry.filename, "rb") as f:
        f.seek(entry.metadata_offset)
        value = json.loads(f.read(entry.metadata_length).decode("utf-8"))
    return value if isinstance(value, dict) else {}
