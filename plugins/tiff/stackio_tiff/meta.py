"""Physical metadata a TIFF declares: OME-XML (PhysicalSize*, channels, plane positions) or ImageJ.

Values the file does not declare stay None; nothing is guessed. A size of 0
(how several writers say "unknown") counts as not declared.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
from stackio.units import calibrated
from stackio.units import unit_name as _long_name

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET


def unit_name(unit: str) -> str:
    """A unit spelled as the file spells it, in stackio's long form ('µm', '\\xb5m' -> 'micrometer')."""
    return _long_name(unit) or ""


def _positive(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


@attrs.frozen
class Physical:
    """What an image declares, per stack axis letter."""

    voxel_size: dict[str, float] = attrs.field(factory=dict)
    units: dict[str, str] = attrs.field(factory=dict)
    offset: dict[str, float] = attrs.field(factory=dict)
    channel_names: tuple[str, ...] | None = None

    def for_axes(self, axes: str) -> dict[str, Any]:
        """Metadata fields restricted to the axes the stack has (Y and X always)."""
        keep = set(axes) | {"Y", "X"}
        voxel = {a: v for a, v in self.voxel_size.items() if a in keep}
        offset = {a: v for a, v in self.offset.items() if a in keep}
        units = {a: u for a, u in self.units.items() if a in voxel or a in offset}
        return {
            "voxel_size": voxel or None,
            "units": units or None,
            "offset": offset or None,
        }


# -- OME ------------------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


@attrs.frozen
class OmeImage:
    name: str
    size_x: int
    size_y: int
    physical: Physical


def ome_images(xml: str) -> list[OmeImage]:
    """Every Image of an OME-XML document that has pixel data, in document order."""
    import xml.etree.ElementTree as ET  # imported by OME files only

    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return []
    out = []
    for image in root:
        if _local(image.tag) != "Image":
            continue
        pixels = next((p for p in image if _local(p.tag) == "Pixels"), None)
        if pixels is None:
            continue
        if not any(_local(c.tag) in ("TiffData", "BinData", "MetadataOnly") for c in pixels):
            continue
        out.append(
            OmeImage(
                image.attrib.get("Name", ""),
                int(pixels.attrib.get("SizeX", 0)),
                int(pixels.attrib.get("SizeY", 0)),
                _ome_physical(pixels),
            )
        )
    return out


def _ome_physical(pixels: ET.Element) -> Physical:
    attrib = pixels.attrib
    voxel, units, offset = {}, {}, {}
    for axis in "XYZ":
        size = _positive(attrib.get(f"PhysicalSize{axis}"))
        if size is not None:
            voxel[axis] = size
            units[axis] = unit_name(attrib.get(f"PhysicalSize{axis}Unit", "µm"))
    step = _positive(attrib.get("TimeIncrement"))
    if step is not None:
        voxel["T"] = step
        units["T"] = unit_name(attrib.get("TimeIncrementUnit", "s"))
    planes = [p for p in pixels if _local(p.tag) == "Plane"]
    first = next((p for p in planes if all(p.attrib.get(f"The{a}", "0") == "0" for a in "CZT")), None)
    if first is not None:
        for axis in "XYZ":
            value, unit = first.attrib.get(f"Position{axis}"), first.attrib.get(f"Position{axis}Unit")
            # positions count only in the unit of the voxel size (the default unit is a stage frame)
            if value is not None and unit is not None and axis in units and unit_name(unit) == units[axis]:
                try:
                    offset[axis] = float(value)
                except ValueError:
                    pass
    channels = [c for c in pixels if _local(c.tag) == "Channel"]
    names = tuple(c.attrib.get("Name", "") for c in channels)
    channel_names = names if names and all(names) else None
    return Physical(voxel, units, offset, channel_names)


@attrs.frozen
class OmeMatch:
    """The OME Image declaring a series: its number among the Images with pixel data, and what it says."""

    number: int
    physical: Physical


def match_ome(series_list: list[Any], xml: str | None) -> list[OmeMatch | None]:
    """The OME Image declaring each tifffile series (matched in order by name and XY size).

    The XML is parsed once for every series of the file: call this once per file, not once per series.
    """
    images = ome_images(xml) if xml else []
    out: list[OmeMatch | None] = []
    start = 0
    for series in series_list:
        found = None
        shape = dict(zip(series.axes, series.shape, strict=True))
        for k in range(start, len(images)):
            image = images[k]
            if image.name == (series.name or image.name) and (
                image.size_x == shape.get("X") and image.size_y == shape.get("Y")
            ):
                found, start = OmeMatch(k, image.physical), k + 1
                break
        out.append(found)
    return out


# -- ImageJ ---------------------------------------------------------------------------------


def imagej_physical(ij: dict[str, Any], page: Any) -> Physical:
    """ImageJ calibration: X/Y from the resolution tags, Z from `spacing`, T from `finterval`."""
    voxel, units = {}, {}
    unit = str(ij.get("unit", "") or "")
    if calibrated(unit):
        for axis, tag in (("X", "XResolution"), ("Y", "YResolution")):
            if tag not in page.tags:
                continue
            value = page.tags[tag].value
            try:
                pixels_per_unit = value[0] / value[1] if isinstance(value, tuple) else float(value)
            except (TypeError, ZeroDivisionError, IndexError):
                continue
            if pixels_per_unit > 0:
                voxel[axis] = 1.0 / pixels_per_unit
                units[axis] = unit_name(str(ij.get(f"{axis.lower()}unit", unit)))
        spacing = _positive(ij.get("spacing"))
        if spacing is not None:
            voxel["Z"] = spacing
            units["Z"] = unit_name(str(ij.get("zunit", unit)))
    interval = _positive(ij.get("finterval"))
    if interval is not None:
        voxel["T"] = interval
        units["T"] = unit_name(str(ij.get("tunit", "sec")))
    return Physical(voxel, units)


# -- raw ------------------------------------------------------------------------------------


def raw_metadata(path: str, kind: str) -> Any:
    """The file's own metadata, read when asked: OME-XML text, ImageJ dict, or a flavour's metadata."""
    import tifffile

    from .images import companion_of

    with tifffile.TiffFile(path) as tif:
        if kind == "ome" or tif.is_ome:
            linked = companion_of(Path(path), tif.ome_metadata)
            if linked is not None and linked.is_file():
                return linked.read_text(encoding="utf-8", errors="replace")
            return tif.ome_metadata
        if kind == "imagej" or tif.is_imagej:
            return tif.imagej_metadata
        if kind == "mmstack":
            return tif.micromanager_metadata
        flavour = getattr(tif, f"{kind}_metadata", None) if kind else None
        if flavour is not None:
            return flavour
        return tif.pages.first.description or None


def raw_companion(path: str) -> str:
    """The OME-XML of a companion file."""
    return Path(path).read_text(encoding="utf-8", errors="replace")
