"""Per-image metadata of a TIFF stack: OME `Plane` elements, or the frame interval an ImageJ file declares.

OME: the Plane of the image's (TheT, TheC, TheZ) gives `DeltaT` (made relative to the image's earliest
plane), `ExposureTime` (both converted to seconds from their declared units, "s" by default) and
`PositionX/Y/Z` in their declared units. The OME-XML is read and parsed on the first request only.
ImageJ: `time` is the frame index times the declared `finterval`; ImageJ records nothing else per image.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stackio import ImageMetadata, Metadata
from stackio.image_metadata import finite, seconds

from .meta import _local, unit_name

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET


def _ome_pixels(xml: str) -> list[ET.Element]:
    """The Pixels element of every OME Image with pixel data, in document order (as `meta.ome_images`)."""
    import xml.etree.ElementTree as ET  # imported by OME files only

    root = ET.fromstring(xml)
    out = []
    for image in root:
        if _local(image.tag) != "Image":
            continue
        pixels = next((p for p in image if _local(p.tag) == "Pixels"), None)
        if pixels is None or not any(_local(c.tag) in ("TiffData", "BinData", "MetadataOnly") for c in pixels):
            continue
        out.append(pixels)
    return out


class OmeDocument:
    """The OME-XML of one file, read and parsed on the first request only, then shared by its stacks."""

    def __init__(self, read_xml: Callable[[], Any]) -> None:
        self.read_xml = read_xml
        self._pixels: list[ET.Element] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_pixels": None}

    def pixels(self) -> list[ET.Element]:
        if self._pixels is None:
            xml = self.read_xml()
            self._pixels = _ome_pixels(xml) if isinstance(xml, str) and xml else []
        return self._pixels


class OmePlanes:
    """The stack's `ImageMetadataReader` for an OME-TIFF image: its Plane elements, parsed on first use.

    `number` is the OME Image (among those with pixel data) the series was matched to at load, or None.
    """

    def __init__(self, document: OmeDocument, number: int | None, index: int) -> None:
        self.document = document
        self.number = number
        self.index = index
        self._parsed: tuple[dict[tuple[int, int, int], dict[str, Any]], float | None] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_parsed": None}

    def _planes(self) -> tuple[int | None, dict[tuple[int, int, int], dict[str, Any]], float | None]:
        if self._parsed is None:
            images = self.document.pixels()
            planes: dict[tuple[int, int, int], dict[str, Any]] = {}
            first = None
            if self.number is not None and self.number < len(images):
                for element in images[self.number]:
                    if _local(element.tag) != "Plane":
                        continue
                    attrib: dict[str, Any] = dict(element.attrib)
                    for child in element:  # AnnotationRef: kept as OME has it, one dict (or a list of them)
                        name, value = _local(child.tag), dict(child.attrib)
                        held = attrib.get(name)
                        attrib[name] = value if held is None else [*(held if isinstance(held, list) else [held]), value]
                    key = tuple(int(attrib.get(f"The{a}", 0)) for a in "TCZ")
                    planes.setdefault(key, attrib)  # type: ignore[arg-type]
                    delta = seconds(attrib.get("DeltaT"), attrib.get("DeltaTUnit", "s"))
                    if delta is not None:
                        first = delta if first is None else min(first, delta)
            self._parsed = (planes, first)
        return (self.number, *self._parsed)

    def __call__(self, reader: Any, plane: dict[str, int]) -> ImageMetadata | None:
        number, planes, first = self._planes()
        t, c, z = (plane.get(a, 0) for a in "TCZ")
        coords: dict[str, Any] = {"image": number if number is not None else self.index, "T": t, "C": c, "Z": z}
        attrib = planes.get((t, c, z))
        if attrib is None:
            return ImageMetadata(file_coords=coords)  # the OME-XML has no Plane for it
        delta = seconds(attrib.get("DeltaT"), attrib.get("DeltaTUnit", "s"))
        position: dict[str, float] = {}
        units: dict[str, str] = {}
        for axis in "XYZ":
            value = finite(attrib.get(f"Position{axis}"))
            if value is not None:
                position[axis] = value
                units[axis] = unit_name(attrib.get(f"Position{axis}Unit", "reference frame"))
        return ImageMetadata(
            file_coords=coords,
            time=None if delta is None or first is None else delta - first,
            stage_position=position or None,
            stage_units=units or None,
            exposure=seconds(attrib.get("ExposureTime"), attrib.get("ExposureTimeUnit", "s")),
            raw=attrib,
        )


class ImagejFrames:
    """The stack's `ImageMetadataReader` for an ImageJ hyperstack with a declared frame interval."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s

    def __call__(self, reader: Any, plane: dict[str, int]) -> ImageMetadata | None:
        coords = {a: plane[a] for a in "TCZ" if a in plane}
        return ImageMetadata(file_coords=coords, time=plane.get("T", 0) * self.interval_s)


def for_image(kind: str, metadata: Metadata) -> ImagejFrames | None:
    """The per-image metadata reader of a non-OME image, or None where its file records none.

    OME images have an `OmePlanes` (made with the file's shared `OmeDocument`); for ImageJ, the frame
    interval is the `T` voxel size `metadata` already holds.
    """
    voxel = metadata.voxel_size
    if kind == "imagej" and voxel and "T" in voxel:
        interval = seconds(voxel["T"], (metadata.units or {}).get("T", "second"))
        return ImagejFrames(interval) if interval is not None else None
    return None
