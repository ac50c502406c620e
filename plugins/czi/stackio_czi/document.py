"""What loading needs from a CZI's metadata XML (voxel size, channel names), read cheaply and bounded.

The XML is read straight from the file's metadata segment and streamed through expat: no tree is built
and libCZI is not asked for it (libCZI parses the whole document and re-serialises it indented, which
for a deeply nested document of a few hundred KiB takes GiBs and many seconds on every load). A document
nested deeper than `MAX_DEPTH` is not read at all: its stacks load without voxel size or channel names.
The whole XML, as libCZI gives it, is read only when `metadata.raw()` asks for it.
"""

from __future__ import annotations

import struct
from typing import Any
from xml.parsers import expat

import attrs

from .integrity import Bytes, _LocalBytes

#: Deepest element nesting read; real CZI metadata is a few dozen levels deep.
MAX_DEPTH = 256
#: Largest metadata XML read at load (real files hold a few MiB at most).
MAX_XML_BYTES = 256 * 2**20
_SEGMENT = struct.Struct("<16sqq")  # id, allocated size, used size
_METADATA_POSITION = _SEGMENT.size + 60  # in the file header segment's data
_DISTANCE = ("ImageDocument", "Metadata", "Scaling", "Items", "Distance")
_INFORMATION_CHANNEL = ("ImageDocument", "Metadata", "Information", "Image", "Dimensions", "Channels", "Channel")
_DISPLAY_CHANNEL = ("ImageDocument", "Metadata", "DisplaySetting", "Channels", "Channel")


@attrs.frozen
class Described:
    """The facts of the XML that stacks carry: Scaling distances (metres, by axis id) and channel names."""

    #: Each Scaling/Items/Distance's Id and Value text, in document order.
    distances: tuple[tuple[str | None, str | None], ...] = ()
    #: Information/Image/Dimensions/Channels/Channel Name attributes, then DisplaySetting's, in order.
    information_channels: tuple[str | None, ...] = ()
    display_channels: tuple[str | None, ...] = ()


class _Refused(Exception):
    """The document is not read: nested too deep, or it declares a DTD (real CZI metadata has none)."""


def read_xml(path: str, data_source: Bytes | None = None) -> bytes | None:
    """The metadata segment's XML bytes as stored in the file; None where the file has none or it is damaged."""
    file = data_source if data_source is not None else _LocalBytes(path)
    (header,) = file.read([(0, _METADATA_POSITION + 8)])
    if len(header) < _METADATA_POSITION + 8:
        return None
    (position,) = struct.unpack_from("<q", header, _METADATA_POSITION)
    if not 0 < position <= file.size - _SEGMENT.size - 256:
        return None
    (segment,) = file.read([(position, _SEGMENT.size + 8)])
    ident, _allocated, _used = _SEGMENT.unpack_from(segment)
    if not ident.startswith(b"ZISRAWMETADATA"):
        return None
    (size,) = struct.unpack_from("<i", segment, _SEGMENT.size)
    start = position + _SEGMENT.size + 256
    if not 0 < size <= min(MAX_XML_BYTES, file.size - start):
        return None
    (xml,) = file.read([(start, size)])
    return xml.rstrip(b"\0")


def _refuse_doctype(*_args: Any) -> None:
    raise _Refused


def describe(xml: bytes | None) -> Described:
    """The voxel distances and channel names of the XML, by one streaming pass; empty where it is
    missing, malformed or nested deeper than `MAX_DEPTH`."""
    if not xml:
        return Described()
    path: list[str] = []
    distances: list[list[str | None]] = []
    information: list[str | None] = []
    display: list[str | None] = []
    text: list[str] | None = None

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal text
        path.append(name)
        if len(path) > MAX_DEPTH:
            raise _Refused
        where = tuple(path)
        if where == _DISTANCE:
            distances.append([attributes.get("Id"), None])
        elif where == (*_DISTANCE, "Value") and distances:
            text = []
        elif where == _INFORMATION_CHANNEL:
            information.append(attributes.get("Name"))
        elif where == _DISPLAY_CHANNEL:
            display.append(attributes.get("Name"))

    def end(name: str) -> None:
        nonlocal text
        if text is not None and tuple(path) == (*_DISTANCE, "Value"):
            distances[-1][1] = "".join(text)
            text = None
        path.pop()

    def characters(data: str) -> None:
        if text is not None:
            text.append(data)

    parser: Any = expat.ParserCreate()
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    parser.StartDoctypeDeclHandler = _refuse_doctype  # no DTD: no entity can expand (no entity bomb)
    try:
        parser.Parse(xml, True)
    except (_Refused, expat.ExpatError, ValueError):
        return Described()
    return Described(
        tuple((d[0], d[1]) for d in distances),
        tuple(information),
        tuple(display),
    )
