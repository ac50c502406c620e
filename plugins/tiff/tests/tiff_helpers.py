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
    parts = [f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{NS}"' + (f' UUID="{uuid}"' if uuid else "")
             + ">"]
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
            tif.write(page, photometric="minisblack", description=description if i == 0 else None,
                      metadata=None)
