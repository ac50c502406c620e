"""Reading MyFormat files: the magic, a little-endian uint32 header length, a JSON header, raw pixels.

The header is `{"shape": [...], "dtype": "uint16", "axes": "CZYX", "voxel_size": {"X": 0.5}}`
(`axes` and `voxel_size`, in micrometres, are optional); the pixels follow in C order, little-endian.
`load` has the shape of every plugin's reader: locate (find the file, read and check its header
once) -> plan (the axes, and the layout that maps them onto SC(Z)YX) -> build (the lazy stacks).
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from functools import partial
from typing import Any

import attrs
import numpy as np
from stackio import (
    AxesError,
    ImageStack,
    Layout,
    LazyStack,
    Metadata,
    ReadError,
    Source,
    ValidationError,
    require_axes,
)
from stackio.axes import contradictions
from stackio.openfiles import FileKey, RawArray

from . import MAGIC

#: The header length follows the magic.
LENGTH = struct.Struct("<I")
#: A header longer than this is corrupt, not a header.
MAX_HEADER_BYTES = 1 << 20
#: The pixel types a file may hold; pixels are always little-endian.
DTYPES = ("bool", "uint8", "uint16", "uint32", "int8", "int16", "int32", "float32", "float64")


@attrs.frozen
class Header:
    """What a file's header says, checked against the file's size."""

    path: str
    shape: tuple[int, ...]
    dtype: np.dtype
    axes: str | None
    voxel_size: dict[str, float] | None
    #: Byte offset of the first pixel.
    offset: int


def load(source: Source, axes: str | None, options: Mapping[str, Any]) -> list[ImageStack]:
    """The one lazy stack a MyFormat file holds (the format declares no options)."""
    header = locate(source)
    layout = plan(source, header, axes)
    return [build(header, layout)]


def read_header(path: str) -> tuple[dict[str, Any], int]:
    """The file's JSON header as written, and the offset of its first pixel; ReadError if it has none."""

    def corrupt(what: str) -> ReadError:
        return ReadError(f"{path}: not a readable MyFormat file: {what}; check the file or its suffix", source=path)

    with open(path, "rb") as f:
        start = f.read(len(MAGIC) + LENGTH.size)
        if not start.startswith(MAGIC):
            raise corrupt("it is empty" if not start else f"it does not start with the magic {MAGIC!r}")
        if len(start) < len(MAGIC) + LENGTH.size:
            raise corrupt("it ends inside its header")
        (length,) = LENGTH.unpack_from(start, len(MAGIC))
        if length > MAX_HEADER_BYTES:
            raise corrupt(f"it declares a header of {length} bytes")
        text = f.read(length)
    if len(text) < length:
        raise corrupt("it ends inside its header")
    try:
        fields = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise corrupt(f"its header is not JSON ({exc})") from exc
    if not isinstance(fields, dict):
        raise corrupt("its header is not a JSON object")
    return fields, len(MAGIC) + LENGTH.size + length


def locate(source: Source) -> Header:
    """Check that `source` is a MyFormat file and read its header once."""
    if source.path is None or not source.path.is_file():
        raise ValidationError(f"{source}: MyFormat sources are single local files", source=str(source))
    path = str(source.path.resolve())
    fields, offset = read_header(path)

    def bad(what: str) -> ReadError:
        return ReadError(f"{path}: the MyFormat header is invalid: {what}", source=path)

    shape = fields.get("shape")
    if not (isinstance(shape, list) and 2 <= len(shape) <= 6):
        raise bad(f"shape must be a list of 2 to 6 sizes, not {shape!r}")
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in shape):
        raise bad(f"shape must hold positive integers, not {shape!r}")
    dtype = fields.get("dtype")
    if dtype not in DTYPES:
        raise bad(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    axes = fields.get("axes")
    if axes is not None and not isinstance(axes, str):
        raise bad(f"axes must be a string such as 'ZYX', not {axes!r}")
    voxel = fields.get("voxel_size")
    if voxel is not None and not (
        isinstance(voxel, dict) and all(isinstance(v, (int, float)) and v > 0 for v in voxel.values())
    ):
        raise bad(f"voxel_size must map axis letters to positive sizes in micrometres, not {voxel!r}")
    pixel_type = np.dtype(dtype).newbyteorder("<")
    expected = offset + math.prod(shape) * pixel_type.itemsize
    size = source.path.stat().st_size
    if size != expected:
        state = "is truncated" if size < expected else "has bytes after its pixels"
        raise ReadError(
            f"{path}: the file {state}: its header declares {shape} {dtype} pixels, {expected} bytes in all, "
            f"but the file has {size}; it may be damaged or still being written",
            source=path,
        )
    return Header(path, tuple(shape), pixel_type, axes, voxel, offset)


def plan(source: Source, header: Header, axes: str | None) -> Layout:
    """The layout of the file's pixels: the user's axes, else the header's (AxesError if neither says).

    The axes rule: axes given must agree with the header's, except that a Z or T may be named S.
    """
    declared = header.axes.upper() if header.axes else None
    if axes is not None and declared is not None and len(axes) == len(declared) == len(header.shape):
        if contradictions(axes.upper(), declared):
            raise AxesError(
                f"{source}: axes {axes!r} contradict the file: its header declares {declared!r} for shape "
                f"{header.shape}; pass axes={declared!r} or axes=None (a declared Z or T may be named S)",
                source=str(source),
            )
    given = axes or header.axes or require_axes(None, header.shape, source, " (the file's header names none)")
    return Layout.from_axes(given, header.shape, source=str(source))


def build(header: Header, layout: Layout) -> ImageStack:
    """A lazy stack over the file's raw pixels, with the header's voxel size as metadata.

    The pixels are read through the core's pool of open files (`stackio.openfiles.RawArray`): no
    descriptor held per stack, and a file changed under an open stack is an error, never a SIGBUS."""
    voxel = {a: float(v) for a, v in (header.voxel_size or {}).items() if a.upper() in layout.spatial_axes}
    metadata = Metadata(
        voxel_size=voxel or None,
        units={a: "micrometer" for a in voxel} or None,
        axis_names=tuple(layout.original_axes),
        raw=partial(_raw_header, header.path),
    )
    opener = RawArray(FileKey.of(header.path), header.offset, header.shape, header.dtype.str)
    return LazyStack(header.path, layout, header.dtype, opener, metadata=metadata)


def _raw_header(path: str) -> dict[str, Any]:
    return read_header(path)[0]
