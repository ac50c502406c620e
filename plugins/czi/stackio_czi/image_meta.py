"""Per-image metadata of a CZI scene: each subblock's own XML (acquisition time, stage and focus position).

pylibCZIrw does not expose subblock metadata, so the subblock directory is read here (standard library
only) the first time an image's metadata is asked for, and each request then reads one subblock's
metadata segment. Stage positions are `StageXPosition`/`StageYPosition` and `FocusPosition` (Z), in
micrometres as the CZI specification defines them; the time is `AcquisitionTime` minus the earliest
acquisition time of the file's subblocks. The camera exposure sits, without a declared unit, inside
`DetectorState`: it is left in `raw` and `exposure` is `None`.
"""

from __future__ import annotations

import os
import re
import struct
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

import attrs
from stackio import ImageMetadata
from stackio.image_metadata import finite
from stackio.openfiles import FileKey, Leased

from .array import CziArray, CziPlan
from .integrity import _ENTRY, _SEGMENT, _SUBBLOCK

_DIMENSION = struct.Struct("<4siifi")  # name, start, size, start coordinate, stored size
_TIME = re.compile(rb"<AcquisitionTime>([^<]*)</AcquisitionTime>")
_STAGE = (("X", "StageXPosition"), ("Y", "StageYPosition"), ("Z", "FocusPosition"))


@attrs.frozen
class Subblock:
    """One layer-0 subblock of the directory: where its segment is and its coordinates."""

    position: int
    entry_size: int
    coords: dict[str, int]


def read_directory(fd: int, path: str) -> list[Subblock]:
    """The layer-0 subblocks of the file, in directory order (pyramid subblocks are left out)."""
    header = os.pread(fd, _SEGMENT.size + 60, 0)
    (position,) = struct.unpack_from("<q", header, _SEGMENT.size + 52)
    segment = os.pread(fd, _SEGMENT.size + 128, position)
    _ident, _allocated, used = _SEGMENT.unpack_from(segment)
    (count,) = struct.unpack_from("<i", segment, _SEGMENT.size)
    data = os.pread(fd, max(used, 0) - 128, position + _SEGMENT.size + 128)
    out: list[Subblock] = []
    offset = 0
    for _ in range(max(count, 0)):
        if offset + _ENTRY.size > len(data):
            break
        schema, _pixel, file_position, *_rest, n_dims = _ENTRY.unpack_from(data, offset)
        if schema != b"DV":
            break
        coords: dict[str, int] = {}
        layer0 = True
        for k in range(n_dims):
            name, start, size, _coordinate, stored = _DIMENSION.unpack_from(data, offset + _ENTRY.size + 20 * k)
            letter = name.rstrip(b"\0").decode("ascii", "replace")
            if letter in ("X", "Y"):
                layer0 = layer0 and size == stored
            else:
                coords[letter] = start
        size = _ENTRY.size + 20 * n_dims
        offset += size
        if layer0:
            out.append(Subblock(file_position, size, coords))
    return out


def _metadata_bytes(fd: int, block: Subblock) -> bytes:
    head = os.pread(fd, _SUBBLOCK.size, block.position)
    *_, metadata_size, _attachment, _data = _SUBBLOCK.unpack_from(head)
    # the subblock's fixed part (sizes and its directory entry) is at least 256 bytes
    start = block.position + _SEGMENT.size + max(256, 16 + block.entry_size)
    return os.pread(fd, max(metadata_size, 0), start) if metadata_size > 0 else b""


def _timestamp(text: bytes | str | None) -> float | None:
    if not text:
        return None
    value = text.decode("ascii", "replace") if isinstance(text, bytes) else text
    try:
        return datetime.fromisoformat(value.strip()).timestamp()
    except ValueError:
        return None


class CziImages:
    """The stack's `ImageMetadataReader`: an image's subblock (the first mosaic tile of a composed plane)."""

    def __init__(self, plan: CziPlan) -> None:
        self.plan = plan

    def _state(self, reader: CziArray) -> dict[str, Any]:
        """The open file and the directory by coordinates, kept on the stack's reader until it closes."""
        cache = reader.cache
        if "file" not in cache:
            # the file is leased from the core's pool for each read, not held per stack
            key = FileKey.of(self.plan.path)
            with Leased(key) as file:
                blocks: dict[tuple[Any, ...], list[Subblock]] = {}
                for block in read_directory(file.fd, self.plan.path):
                    blocks.setdefault(self._key(block.coords), []).append(block)
            for found in blocks.values():
                found.sort(key=lambda b: b.coords.get("M", 0))
            cache["blocks"] = blocks
            cache["file"] = key
        return cache

    def _key(self, coords: dict[str, int]) -> tuple[Any, ...]:
        dims = [d for d, _, _ in self.plan.plane_dims]
        return (coords.get("S"), coords.get("C", 0), *(coords.get(d, 0) for d in dims))

    def __call__(self, reader: CziArray, plane: dict[str, int]) -> ImageMetadata | None:
        plan = self.plan
        per = 3 if plan.rgb else 1
        coords = {d: start + plane.get(d, 0) for d, start, _ in plan.plane_dims}
        coords["C"] = plan.channel_start + plane.get("C", 0) // per
        state = self._state(reader)
        key = (plan.scene, coords["C"], *(coords[d] for d, _, _ in plan.plane_dims))
        found = state["blocks"].get(key)
        if not found:
            return None  # no subblock there (a sparse file)
        block = found[0]
        file_coords: dict[str, Any] = {} if plan.scene is None else {"scene": plan.scene}
        file_coords.update({d: v for d, v in block.coords.items() if d != "S"})
        with Leased(state["file"]) as file:
            data = _metadata_bytes(file.fd, block)
        text = data.rstrip(b"\0").decode("utf-8", "replace") or None
        if text is None:
            return ImageMetadata(file_coords=file_coords)
        tags = _tags(text)
        stage = {axis: v for axis, tag in _STAGE if (v := finite(tags.get(tag))) is not None}
        return ImageMetadata(
            file_coords=file_coords,
            time=self._time(state, tags.get("AcquisitionTime")),
            stage_position=stage or None,
            stage_units=dict.fromkeys(stage, "micrometer") or None,
            raw=text,
        )

    def _time(self, state: dict[str, Any], text: str | None) -> float | None:
        stamp = _timestamp(text)
        if stamp is None:
            return None
        if "first_time" not in state:
            stamps = []
            with Leased(state["file"]) as file:
                for blocks in state["blocks"].values():
                    for block in blocks:
                        match = _TIME.search(_metadata_bytes(file.fd, block))
                        value = _timestamp(match[1]) if match else None
                        if value is not None:
                            stamps.append(value)
            state["first_time"] = min(stamps, default=None)
        first = state["first_time"]
        return None if first is None else stamp - first


def _tags(text: str) -> dict[str, str]:
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return {}
    tags = root.find("Tags")
    return {} if tags is None else {child.tag: (child.text or "") for child in tags}


def close_state(cache: dict[str, Any]) -> None:
    """Forget what `CziImages` kept on a reader (called when the reader closes)."""
    cache.clear()
