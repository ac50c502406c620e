"""Helpers for the tiff plugin's tests: whole-stack reads, tifffile references, OME-XML sets."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import stackio
import tifffile

NS = "http://www.openmicroscopy.org/Schemas/OME/2016-06"


def whole(stack: stackio.ImageStack, sample: int = 0, channels: Sequence[int] | None = None) -> np.ndarray:
    """One sample of a stack, C(Z)YX."""
    spatial = tuple(stack.data_shape[2:])
    return stack.extract_patch(sample, channels, (0,) * len(spatial), spatial)


def every_sample(stack: stackio.ImageStack) -> np.ndarray:
    """The whole stack, SC(Z)YX, read through extract_patch."""
    return np.stack([whole(stack, s) for s in range(stack.data_shape[0])])


def arranged(reference: np.ndarray, axes: str) -> np.ndarray:
    """tifffile's array (axes in STCZYX letters) rearranged as the stack's SC(Z)YX."""
    return np.asarray(stackio.Layout.from_axes(axes, reference.shape).to_stack_order(reference))


def same_as_tifffile(stack: stackio.ImageStack, path: Path | str, axes: str, **imread: Any) -> None:
    """Every pixel of `stack` equals tifffile's reading of `path` (with `axes` naming its dimensions)."""
    reference = tifffile.imread(path, **imread)
    expected = arranged(reference, axes)
    got = every_sample(stack)
    assert got.dtype == expected.dtype.newbyteorder("=")
    np.testing.assert_array_equal(got, expected)


def ome_xml(images: list[dict[str, Any]], uuid: str | None = None) -> str:
    """A minimal OME-XML document; each image: name, size (z, c, t, y, x), type, planes [(file, ifd, count)]."""
    parts = [f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{NS}"' + (f' UUID="{uuid}"' if uuid else "") + ">"]
    for i, image in enumerate(images):
        z, c, t, y, x = image["size"]
        extra = "".join(f' {k}="{v}"' for k, v in image.get("pixels", {}).items())
        parts.append(
            f'<Image ID="Image:{i}" Name="{image["name"]}"><Pixels ID="Pixels:{i}" DimensionOrder="XYZCT" '
            f'Type="{image["type"]}" SizeX="{x}" SizeY="{y}" SizeZ="{z}" SizeC="{c}" SizeT="{t}"{extra}>'
        )
        for k, name in enumerate(image.get("channels", [None] * c)):
            label = f' Name="{name}"' if name else ""
            parts.append(f'<Channel ID="Channel:{i}:{k}" SamplesPerPixel="1"{label}/>')
        first = 0
        for file, ifd, count in image["planes"]:
            parts.append(
                f'<TiffData IFD="{ifd}" PlaneCount="{count}" FirstZ="{first % z}" FirstC="{first // z % c}" '
                f'FirstT="{first // (z * c)}"><UUID FileName="{file}">urn:uuid:{file}</UUID></TiffData>'
            )
            first += count
        parts.append("</Pixels></Image>")
    parts.append("</OME>")
    return "".join(parts)


def write_pages(path: Path, pages: np.ndarray, description: str) -> None:
    """Write YX pages with `description` in the first page only (no tifffile metadata of its own)."""
    with tifffile.TiffWriter(path) as tif:
        for i, page in enumerate(pages):
            tif.write(page, photometric="minisblack", description=description if i == 0 else None, metadata=None)


# -- Micro-Manager stacks ---------------------------------------------------------------------

MM_IFD_BYTES = 162  # 13 tags: Micro-Manager's pages start their pixels right after the IFD


def _mm_ifd(offset: int, height: int, width: int, page_json: bytes) -> tuple[bytes, bytes]:
    """One uint16 page in Micro-Manager's layout: IFD at `offset`, pixels at offset + 162, then extras."""
    import struct

    pixels_at = offset + MM_IFD_BYTES
    extras_at = pixels_at + height * width * 2
    rational_at, json_at = extras_at, extras_at + 8
    tags = [
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 1, 16),
        (259, 3, 1, 1),
        (262, 3, 1, 1),
        (273, 4, 1, pixels_at),
        (277, 3, 1, 1),
        (278, 4, 1, height),
        (279, 4, 1, height * width * 2),
        (282, 5, 1, rational_at),
        (283, 5, 1, rational_at),
        (296, 3, 1, 1),
        (51123, 2, len(page_json), json_at),
    ]
    ifd = struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHII", *t) for t in tags)
    extras = struct.pack("<II", 1, 1) + page_json
    return ifd, extras


def write_mmstack(path: Path, planes: dict[tuple[int, int, int, int], np.ndarray], summary: dict[str, Any]) -> None:
    """A Micro-Manager multipage TIFF holding `planes` keyed by (channel, slice, frame, position)."""
    import json
    import struct

    summary_bytes = json.dumps(summary).encode()
    out = bytearray(b"II*\x00" + bytes(4) + bytes(32) + summary_bytes)
    if len(out) % 2:
        out += b"\x00"
    first_ifd = len(out)
    index = []
    items = list(planes.items())
    for k, ((c, z, t, p), plane) in enumerate(items):
        offset = len(out)
        page_json = json.dumps({"ChannelIndex": c, "SliceIndex": z, "FrameIndex": t, "PositionIndex": p}).encode()
        ifd, extras = _mm_ifd(offset, plane.shape[0], plane.shape[1], page_json)
        body = plane.astype("<u2").tobytes()
        next_ifd = 0 if k == len(items) - 1 else offset + len(ifd) + 4 + len(body) + len(extras)
        next_ifd += next_ifd % 2
        out += ifd + struct.pack("<I", next_ifd) + body + extras
        if len(out) % 2:
            out += b"\x00"
        index.append((c, z, t, p, offset))
    index_at = len(out)
    out += struct.pack("<II", 3453623, len(index)) + b"".join(struct.pack("<5I", *e) for e in index)
    display_at = len(out)
    out += struct.pack("<II", 347834724, 2) + b"{}"
    struct.pack_into("<I", out, 4, first_ifd)
    struct.pack_into("<8I", out, 8, 54773648, index_at, 483765892, display_at, 0, 0, 2355492, len(summary_bytes))
    path.write_bytes(bytes(out))
