"""napari layer data for stackio stacks: lazy dask arrays with scale, translate, units and names.

A stack is SC(Z)YX. Its layer keeps S when it has more than one sample (time points, tiles), splits C
with napari's `channel_axis` when there are several channels, and keeps the spatial axes. Label arrays
(OME-Zarr `labels/` images, DaCapo `labels` and `mask` arrays) become labels layers with C kept as an
axis, since napari cannot split a labels layer by channel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from importlib import metadata as importlib_metadata
from pathlib import PurePosixPath
from typing import Any

import numpy as np

#: Array names that hold annotations in DaCapo-style training stores (`crop/{raw,labels,mask}`).
LABEL_ARRAY_NAMES = frozenset({"labels", "mask"})
#: The largest plane napari reads as one chunk; larger planes are read in tiles of TILE (only the
#: tiles in view are read when the data is multiscale).
PLANE_CHUNK_BYTES = 64 * 2**20
TILE = 1024
#: Above this many voxels (napari's own threshold) the display range comes from a central patch.
LARGE_VOXELS = 10**7
CONTRAST_PATCH = 256


def source_parts(source: str) -> tuple[str, ...]:
    """The path components of a stack's source (URI scheme and `@N` scene suffix dropped)."""
    path = PurePosixPath(source.split("://", 1)[-1])
    return path.with_name(path.name.rsplit("@", 1)[0]).parts if "@" in path.name else path.parts


def is_labels(stack: Any, role_hint: str | None = None) -> bool:
    """Whether a stack holds label ids: integer data named as labels by its store's layout."""
    if np.dtype(stack.data_dtype).kind not in "iub":
        return False
    if role_hint == "labels":
        return True
    parts = source_parts(stack.source)
    if not parts:
        return False
    # DaCapo's crop arrays by name; OME-Zarr's labels/<name>[/<level>] inside a store
    in_store = any(p.endswith(".zarr") for p in parts[:-1])
    return parts[-1] in LABEL_ARRAY_NAMES or (in_store and "labels" in parts[-3:-1])


def plane_chunks(stack: Any, *, all_channels: bool = False) -> tuple[int, ...]:
    """Chunks of one sample, one channel (or all), one plane; tiled when the plane is large."""
    shape = tuple(stack.data_shape)
    y, x = shape[-2:]
    channels = shape[1] if all_channels else 1
    if y * x * channels * np.dtype(stack.data_dtype).itemsize > PLANE_CHUNK_BYTES:
        y, x = min(y, TILE), min(x, TILE)
    return (1, channels) + (1,) * (len(shape) - 4) + (y, x)


class _PatchArray:
    """An SC(Z)YX array-like over a stack that offers no `to_dask`: each chunk is one `extract_patch`."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.shape = tuple(stack.data_shape)
        self.dtype = np.dtype(stack.data_dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, key: tuple[slice, ...]) -> np.ndarray:
        ranges = [range(*k.indices(n)) for k, n in zip(key, self.shape, strict=True)]
        samples, channels, *spatial = ranges
        out = np.empty([len(r) for r in ranges], dtype=self.dtype)
        for i, sample in enumerate(samples):
            out[i] = self.stack.extract_patch(
                sample, list(channels), [r.start for r in spatial], [len(r) for r in spatial]
            )
        return out


def to_dask(stack: Any, *, all_channels: bool = False) -> Any:
    """The stack as a lazy SC(Z)YX dask array chunked plane by plane (and channel by channel)."""
    chunks = plane_chunks(stack, all_channels=all_channels)
    own = getattr(stack, "to_dask", None)
    if callable(own):
        return own(chunks)
    import dask.array as da

    return da.from_array(_PatchArray(stack), chunks=chunks, asarray=False, fancy=False, lock=False)


def _napari_version() -> tuple[int, ...] | None:
    try:
        version = importlib_metadata.version("napari")
    except importlib_metadata.PackageNotFoundError:
        return None
    return tuple(int(p) for p in version.split(".")[:2] if p.isdecimal())


def napari_has_units() -> bool:
    """Whether the napari that will take the layers understands `units` and `axis_labels` (0.6 on)."""
    version = _napari_version()
    return version is None or version >= (0, 6)


def _unit(name: str | None) -> str | None:
    """`name` if pint (napari's unit library) knows it, else None (napari then shows pixels)."""
    if name is None:
        return None
    try:
        import pint
    except ImportError:
        return name
    try:
        pint.get_application_registry().parse_expression(name)
    except Exception:  # pint raises several kinds for a name it cannot parse
        return None
    return name


def contrast_limits(stack: Any) -> list[float]:
    """Display range from a central patch of the middle plane (of the smallest level), which napari shows first.

    Without it napari computes the range of large data from its first, middle and last planes, reading
    two whole planes more than it shows.
    """
    shape = tuple(stack.data_shape)
    spatial = shape[2:]
    size = [1] * (len(spatial) - 2) + [min(n, CONTRAST_PATCH) for n in spatial[-2:]]
    coords = [n // 2 for n in spatial[:-2]] + [(n - p) // 2 for n, p in zip(spatial[-2:], size[-2:], strict=True)]
    patch = stack.extract_patch(shape[0] // 2, None, coords, size)
    finite = patch[np.isfinite(patch)] if patch.dtype.kind == "f" else patch
    if finite.size == 0:
        return [0.0, 1.0]
    low, high = float(finite.min()), float(finite.max())
    return [low, high] if high > low else [min(low, 0.0), max(high, low + 1.0)]


def is_rgb(stack: Any) -> bool:
    """Whether a stack is colour samples of one picture (8-bit RGB/RGBA stored per pixel), not channels."""
    shape, original = tuple(stack.data_shape), getattr(stack, "original_axes", "") or ""
    names = tuple(c.upper() for c in stack.metadata.channel_names or ())
    per_pixel = original.endswith("C") or names in (("R", "G", "B"), ("R", "G", "B", "A"))
    return np.dtype(stack.data_dtype) == np.uint8 and shape[1] in (3, 4) and per_pixel


def _sample_label(stack: Any) -> str:
    """What the S axis of a stack counts: time when T alone was merged into it, else samples."""
    original = getattr(stack, "original_axes", "") or ""
    return "T" if "T" in original and "S" not in original and stack.axes[2] != "T" else "S"


def layer_data(
    levels: Sequence[Any], name: str, *, labels: bool, extra_metadata: dict[str, Any] | None = None
) -> tuple[Any, dict[str, Any], str]:
    """One napari LayerData tuple (data, kwargs, layer type) for a stack and its pyramid levels."""
    stack = levels[0]
    shape = tuple(stack.data_shape)
    meta = stack.metadata
    voxel, offset, units = meta.voxel_size or {}, meta.offset or {}, meta.units or {}
    rgb = not labels and is_rgb(stack)
    arrays = [to_dask(level, all_channels=rgb) for level in levels]
    names = [_sample_label(stack), "C", *stack.axes[2:]]

    keep = [True] * len(shape)
    keep[0] = shape[0] > 1
    channel_axis: int | None = None
    if shape[1] == 1:
        keep[1] = False
    elif not labels and not rgb:
        channel_axis = sum(keep[:1])
    if not all(keep):
        index = tuple(slice(None) if k else 0 for k in keep)
        arrays = [a[index] for a in arrays]
    axes = [n for n, k in zip(names, keep, strict=True) if k]
    if rgb:  # napari wants colour samples last
        arrays = [a.transpose(*[i for i in range(a.ndim) if axes[i] != "C"], axes.index("C")) for a in arrays]
        axes = [a for a in axes if a != "C"]
    shown = [a for a in axes if not (channel_axis is not None and a == "C")]

    def per_axis(values: dict[str, Any], default: Any) -> list[Any]:
        return [values.get(a, default) if a != "S" else default for a in shown]

    kwargs: dict[str, Any] = {
        "scale": [float(v) for v in per_axis(voxel, 1.0)],
        "translate": [float(v) for v in per_axis(offset, 0.0)],
        "multiscale": len(arrays) > 1,
        "metadata": {
            "stackio": {
                "source": stack.source,
                "load_options": dict(getattr(stack, "load_options", {}) or {}),
                "axes": stack.axes,
                "original_axes": stack.original_axes,
                "original_data_shape": tuple(stack.original_data_shape),
                "levels": [tuple(level.data_shape) for level in levels],
                **meta.to_dict(),
                **(extra_metadata or {}),
            }
        },
    }
    if rgb:
        kwargs["rgb"] = True
    if napari_has_units():
        kwargs["axis_labels"] = shown
        declared = [_unit(units.get(a)) if a in voxel or a in offset else None for a in shown]
        if any(u is not None for u in declared):
            kwargs["units"] = [u or "pixel" for u in declared]
    channels = meta.channel_names
    if channel_axis is not None:
        kwargs["channel_axis"] = channel_axis
        labels_of = channels if channels is not None and len(channels) == shape[1] else range(shape[1])
        kwargs["name"] = [f"{name} {c}" for c in labels_of]
    else:
        kwargs["name"] = name if channels is None or shape[1] != 1 or labels else f"{name} {channels[0]}"
    if not labels and not rgb and math.prod(shape) > LARGE_VOXELS:
        kwargs["contrast_limits"] = contrast_limits(levels[-1])
    data = arrays if len(arrays) > 1 else arrays[0]
    return data, kwargs, "labels" if labels else "image"
