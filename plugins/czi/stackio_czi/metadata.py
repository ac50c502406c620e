"""A CZI scene's metadata: voxel size and channel names from the file's XML."""

from __future__ import annotations

import functools
import math
import xml.etree.ElementTree as ET

from stackio import Layout, Metadata

from .array import CziPlan
from .files import FileInfo, open_reader


def _parse_xml(xml: str) -> ET.Element | None:
    try:
        return ET.fromstring(xml)
    except ET.ParseError:
        return None


def voxel_size_um(root: ET.Element | None) -> dict[str, float]:
    """Scaling/Items/Distance values in micrometres (values of 0 mean 'not declared')."""
    out: dict[str, float] = {}
    if root is None:
        return out
    for distance in root.findall("./Metadata/Scaling/Items/Distance"):
        axis, value = distance.get("Id"), distance.findtext("Value")
        try:
            metres = float(value) if value is not None else 0.0
        except ValueError:
            continue
        if axis and metres > 0 and math.isfinite(metres):
            out[axis.upper()] = metres * 1e6
    return out


def channel_names(root: ET.Element | None, start: int, count: int) -> tuple[str, ...] | None:
    """Names of channels start..start+count-1: Information's Channel names, else DisplaySetting's."""
    if root is None:
        return None
    for where in (
        "./Metadata/Information/Image/Dimensions/Channels/Channel",
        "./Metadata/DisplaySetting/Channels/Channel",
    ):
        names = [c.get("Name") for c in root.findall(where)]
        chosen = names[start : start + count]
        if len(chosen) == count and all(chosen):
            return tuple(chosen)  # type: ignore[arg-type]
    return None


def read_raw_metadata(path: str) -> str:
    """The file's XML metadata, read anew (so `Metadata.raw` stays picklable)."""
    reader = open_reader(path)
    try:
        return reader.raw_metadata
    finally:
        reader.close()


def build_metadata(info: FileInfo, plan: CziPlan, layout: Layout) -> Metadata:
    root = _parse_xml(info.xml)
    declared = voxel_size_um(root)
    voxel = {a: declared[a] for a in layout.spatial_axes if a in declared and a in "ZYX"}
    names = channel_names(root, plan.channel_start, plan.n_czi_channels)
    if names is not None and plan.rgb:
        names = tuple(f"{n} {rgb}" for n in names for rgb in "RGB")
    return Metadata(
        voxel_size=voxel or None,
        units={a: "micrometer" for a in voxel} or None,
        axis_names=tuple(layout.original_axes),
        channel_names=names,
        raw=functools.partial(read_raw_metadata, info.path),
    )
