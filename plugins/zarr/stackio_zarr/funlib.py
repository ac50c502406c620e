"""DaCapo / funlib attributes on an array: voxel_size, offset, axis_names ('^' = non-spatial), units."""

from __future__ import annotations

from typing import Any

import attrs
from stackio import ReadError

#: funlib axis names stackio maps to letters; a trailing '^' marks a non-spatial axis.
NON_SPATIAL = {
    "c": "C",
    "ch": "C",
    "channel": "C",
    "channels": "C",
    "s": "S",
    "sample": "S",
    "b": "S",
    "batch": "S",
    "t": "T",
    "time": "T",
}
SPATIAL = {"t": "T", "time": "T", "z": "Z", "y": "Y", "x": "X"}
KEYS = ("voxel_size", "offset", "axis_names", "units")


@attrs.frozen
class FunlibAttrs:
    """The funlib attributes of one array, checked for consistency with its dimensions."""

    voxel_size: tuple[float, ...] | None
    offset: tuple[float, ...] | None
    axis_names: tuple[str, ...] | None
    units: tuple[str, ...] | None

    @property
    def letters(self) -> str | None:
        """The axes as STCZYX letters, or None when absent or a name has no letter."""
        if self.axis_names is None:
            return None
        out = []
        for name in self.axis_names:
            table = NON_SPATIAL if name.endswith("^") else SPATIAL
            letter = table.get(name.rstrip("^").lower())
            if letter is None:
                return None
            out.append(letter)
        return "".join(out)

    def spatial_positions(self, ndim: int) -> list[int]:
        """Dimensions the spatial attributes refer to: names without '^', else the trailing ones."""
        if self.axis_names is not None:
            return [i for i, n in enumerate(self.axis_names) if not n.endswith("^")]
        n = next((len(v) for v in (self.voxel_size, self.offset, self.units) if v is not None), 0)
        return list(range(ndim - n, ndim))


def _numbers(value: Any, key: str, where: str) -> tuple[float, ...]:
    if not isinstance(value, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise ReadError(
            f"{where}: the funlib attribute {key!r} should be a list of numbers, not {value!r}", source=where
        )
    return tuple(float(v) for v in value)


def _strings(value: Any, key: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ReadError(
            f"{where}: the funlib attribute {key!r} should be a list of strings, not {value!r}", source=where
        )
    return tuple(value)


def funlib_attrs(attributes: dict[str, Any], ndim: int, where: str) -> FunlibAttrs | None:
    """The funlib attributes of an array with `ndim` dimensions, or None when it has none."""
    if not any(k in attributes for k in KEYS):
        return None
    voxel = _numbers(attributes["voxel_size"], "voxel_size", where) if "voxel_size" in attributes else None
    offset = _numbers(attributes["offset"], "offset", where) if "offset" in attributes else None
    names = _strings(attributes["axis_names"], "axis_names", where) if "axis_names" in attributes else None
    units = _strings(attributes["units"], "units", where) if "units" in attributes else None
    if names is not None and len(names) != ndim:
        raise ReadError(
            f"{where}: axis_names {list(names)} has {len(names)} entries but the array has {ndim} "
            "dimensions; fix the attribute or remove it and pass axes=",
            source=where,
        )
    n_spatial = sum(not n.endswith("^") for n in names) if names is not None else None
    for key, value in (("voxel_size", voxel), ("offset", offset), ("units", units)):
        if value is None:
            continue
        expected = n_spatial if n_spatial is not None else len(value)
        if len(value) != expected or len(value) > ndim:
            raise ReadError(
                f"{where}: {key} {list(value)} has {len(value)} entries but the array has "
                f"{n_spatial if n_spatial is not None else ndim} spatial dimensions"
                + (f" (axis_names {list(names)})" if names is not None else ""),
                source=where,
            )
    lengths = {len(v) for v in (voxel, offset, units) if v is not None}
    if len(lengths) > 1:
        raise ReadError(
            f"{where}: voxel_size, offset and units disagree on the number of spatial dimensions "
            f"({voxel}, {offset}, {units})",
            source=where,
        )
    return FunlibAttrs(voxel, offset, names, units)
