"""Batched reads of a CZI scene (`CziArray.read_into`, see `stackio.batch`).

The regions a batch asks of one plane (one Z/T/... position and one CZI channel) are read with as few
pylibCZIrw ROI reads as pays: one read of their bounding box when it costs less than separate reads
(each read has a fixed cost, about that of composing `READ_COST_PIXELS` pixels, and decodes the
subblocks it touches once), else one read per region.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .array import CziArray

#: The fixed cost of one ROI read (call, subblock lookup and decode, composition), in pixels composed.
READ_COST_PIXELS = 256 * 1024
#: Never compose a bounding box larger than this many pixels.
MAX_BOX_PIXELS = 64 * 2**20

Region = tuple[int, int, int, int]  # y0, y1, x0, x1 within the scene


def read_into(array: CziArray, keys: Sequence[tuple[Any, ...]], outs: Sequence[np.ndarray]) -> None:
    plan = array.plan
    per = 3 if plan.rgb else 1
    dims = plan.plane_dims
    # (plane position, CZI channel) -> [(region, [(output view, component)])]
    groups: dict[tuple[tuple[int, ...], int], list[tuple[Region, list[tuple[np.ndarray, int]]]]] = {}
    for key, out in zip(keys, outs, strict=True):
        *plane_keys, kc, ky, kx = key
        region = (ky.start, ky.stop, kx.start, kx.stop)
        picks = [range(k.start, k.stop) if isinstance(k, slice) else range(k, k + 1) for k in plane_keys]
        kept = [isinstance(k, slice) for k in plane_keys]
        channels = range(kc.start, kc.stop)
        for combo in itertools.product(*(enumerate(r) for r in picks)):
            where = tuple(i for (i, _), keep in zip(combo, kept, strict=True) if keep)
            position = tuple(value for _, value in combo)
            view = out[where]  # C, Y, X
            by_channel: dict[int, list[tuple[np.ndarray, int]]] = {}
            for k, channel in enumerate(channels):
                by_channel.setdefault(channel // per, []).append((view[k], channel % per))
            for czi_channel, targets in by_channel.items():
                groups.setdefault((position, czi_channel), []).append((region, targets))
    x_origin, y_origin, _, _ = plan.rect
    for (position, czi_channel), wanted in groups.items():
        plane = {dim: start + value for (dim, start, _), value in zip(dims, position, strict=True)}
        plane["C"] = plan.channel_start + czi_channel
        for box, members in _reads(wanted):
            y0, y1, x0, x1 = box
            tile = array._read((x_origin + x0, y_origin + y0, x1 - x0, y1 - y0), plane)
            for (ry0, ry1, rx0, rx1), targets in members:
                part = tile[ry0 - y0 : ry1 - y0, rx0 - x0 : rx1 - x0]
                for view, component in targets:
                    # pylibCZIrw returns colour as B, G, R; component 0 is R.
                    view[...] = part[..., per - 1 - component]


def _reads(wanted: list[tuple[Region, Any]]) -> list[tuple[Region, list[tuple[Region, Any]]]]:
    """The ROI reads for one plane's regions: their bounding box once, or each region alone."""
    if len(wanted) == 1:
        return [(wanted[0][0], wanted)]
    y0 = min(r[0] for r, _ in wanted)
    y1 = max(r[1] for r, _ in wanted)
    x0 = min(r[2] for r, _ in wanted)
    x1 = max(r[3] for r, _ in wanted)
    box_area = (y1 - y0) * (x1 - x0)
    separate = sum((r[1] - r[0]) * (r[3] - r[2]) + READ_COST_PIXELS for r, _ in wanted)
    if box_area <= MAX_BOX_PIXELS and box_area + READ_COST_PIXELS <= separate:
        return [((y0, y1, x0, x1), wanted)]
    return [(region, [(region, targets)]) for region, targets in wanted]
