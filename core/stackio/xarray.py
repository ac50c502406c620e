"""Any stack as a lazy `xarray.DataArray` with physical coordinates (needs xarray and dask: `stackio[xarray]`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ValidationError


def _layout(stack: Any) -> Any:
    return getattr(stack, "layout", None)


def coordinates(stack: Any) -> dict[str, tuple[str, np.ndarray, dict[str, str]]]:
    """Coordinate name -> (dimension, values, attrs) for what the stack's metadata declares.

    Spatial axes (and T as depth): `offset + voxel_size * index`, with units in attrs. C: channel names.
    T merged into S: a "T" coordinate along S when the time step is declared. Nothing is guessed: an
    axis without a declared size has no coordinate.
    """
    meta = stack.metadata
    shape = tuple(stack.data_shape)
    axes = stack.axes
    voxel, units, offset = meta.voxel_size or {}, meta.units or {}, meta.offset or {}
    out: dict[str, tuple[str, np.ndarray, dict[str, str]]] = {}
    for axis, size in zip(axes[2:], shape[2:], strict=True):
        if axis in voxel:
            values = offset.get(axis, 0.0) + voxel[axis] * np.arange(size, dtype=np.float64)
            out[axis] = (axis, values, {"units": units[axis]} if axis in units else {})
    names = meta.channel_names
    if names is not None and len(names) == shape[1]:
        out["C"] = ("C", np.asarray(names, dtype=object), {})
    layout = _layout(stack)
    if layout is not None and "T" in layout.sample_axes and "T" in voxel:
        index = np.array([layout.sample_index(s)["T"] for s in range(shape[0])], dtype=np.float64)
        out["T"] = ("S", offset.get("T", 0.0) + voxel["T"] * index, {"units": units["T"]} if "T" in units else {})
    return out


def to_xarray(stack: Any, chunks: tuple[int, ...] | None = None, *, image_times: bool = False) -> Any:
    """The stack as an `xarray.DataArray` over `stack.to_dask()` (nothing is read until computed).

    Dims are the stack's axes ("S", "C", "Z"/"T", "Y", "X"); coordinates come from `coordinates`.
    With `image_times=True`, a "time" coordinate along S holds each sample's first image's acquisition
    time in seconds (from the per-image metadata: one small read per sample); NaN where not recorded.
    """
    try:
        import xarray as xr
    except ImportError as exc:
        raise ValidationError(
            f"{stack.source}: to_xarray needs xarray; install it with `pip install 'stackio[xarray]'`",
            source=stack.source,
        ) from exc
    from .dask_adapter import stack_to_dask
    from .image_metadata import image_metadata

    to_dask = getattr(stack, "to_dask", None)
    data = to_dask(chunks) if callable(to_dask) else stack_to_dask(stack, chunks)
    coords = {name: xr.Variable(dim, values, attrs) for name, (dim, values, attrs) in coordinates(stack).items()}
    if image_times:
        times = []
        for sample in range(stack.data_shape[0]):
            record = image_metadata(stack, sample, 0, 0)
            times.append(np.nan if record is None or record.time is None else record.time)
        coords["time"] = xr.Variable("S", np.asarray(times, dtype=np.float64), {"units": "second"})
    meta = stack.metadata
    attrs = {
        "source": stack.source,
        "original_axes": stack.original_axes,
        "units": dict(meta.units or {}),
        "voxel_size": dict(meta.voxel_size or {}),
    }
    return xr.DataArray(data, dims=tuple(stack.axes), coords=coords, attrs=attrs)
