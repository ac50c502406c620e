"""A CZI scene's metadata: voxel size and channel names from the file's XML (see `document`)."""

from __future__ import annotations

import functools
import math

from stackio import Layout, Metadata

from .array import CziPlan
from .document import Described
from .files import FileInfo, open_reader
from .remote import is_url
from .sigpipe import keep_sigpipe_ignored


def voxel_size_um(described: Described) -> dict[str, float]:
    """Scaling/Items/Distance values in micrometres (values of 0 mean 'not declared')."""
    out: dict[str, float] = {}
    for axis, value in described.distances:
        try:
            metres = float(value) if value is not None else 0.0
        except ValueError:
            continue
        if axis and metres > 0 and math.isfinite(metres):
            out[axis.upper()] = metres * 1e6
    return out


def channel_names(described: Described, start: int, count: int) -> tuple[str, ...] | None:
    """Names of channels start..start+count-1: Information's Channel names, else DisplaySetting's."""
    for names in (described.information_channels, described.display_channels):
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
        if is_url(path):
            keep_sigpipe_ignored()  # libcurl reset it


def build_metadata(info: FileInfo, plan: CziPlan, layout: Layout) -> Metadata:
    declared = voxel_size_um(info.described)
    voxel = {a: declared[a] for a in layout.spatial_axes if a in declared and a in "ZYX"}
    names = channel_names(info.described, plan.channel_start, plan.n_czi_channels)
    if names is not None and plan.rgb:
        names = tuple(f"{n} {rgb}" for n in names for rgb in "RGB")
    return Metadata(
        voxel_size=voxel or None,
        units={a: "micrometer" for a in voxel} or None,
        axis_names=tuple(layout.original_axes),
        channel_names=names,
        raw=functools.partial(read_raw_metadata, info.path),
    )
