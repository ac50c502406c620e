"""Writing segmentation training sets in the DaCapo layout `{train,test}/crop_*/{raw,labels,mask}`.

Each role is a plain zarr array with the funlib attributes (voxel_size, offset, axis_names with 'c^'
for channels, units), the layout `load_crops` reads back.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
from stackio import ArrayStack, ValidationError
from stackio.destination import Destination
from stackio.saving import copy_stack
from stackio.writing import ImageSpec, spec_for_stack

from .crops import ROLES, SPLITS
from .store import ZarrFormat
from .writer import ZarrImage, _codecs, default_chunks


@attrs.frozen
class CropData:
    """One crop to write: its split ('train' or 'test'), name, and raw / labels / optional mask.

    Each of raw, labels and mask is an ImageStack, or an array with `axes` (e.g. "ZYX" or "CZYX").
    """

    split: str
    name: str
    raw: Any
    labels: Any
    mask: Any = None
    axes: str | None = None


def _stack(value: Any, axes: str | None, what: str) -> Any:
    if hasattr(value, "extract_patch"):
        return value
    array = np.asarray(value)
    if axes is None:
        raise ValidationError(f"write_crops: {what} is an array; pass CropData(axes=...) to say its axes")
    letters = axes if len(axes) == array.ndim else axes.replace("C", "")
    return ArrayStack.from_axes(array, letters, source=f"<{what}>")


def _funlib(spec: ImageSpec) -> dict[str, Any]:
    spatial = spec.axes[2:]
    meta = spec.metadata
    voxel, offset, units = meta.voxel_size or {}, meta.offset or {}, meta.units or {}
    names = (["c^"] if "C" in spec.disk_axes else []) + [a.lower() for a in spatial]
    attributes: dict[str, Any] = {"axis_names": names}
    attributes["voxel_size"] = [float(voxel.get(a, 1.0)) for a in spatial]
    attributes["offset"] = [float(offset.get(a, 0.0)) for a in spatial]
    attributes["units"] = [str(units.get(a, "")) for a in spatial]
    return attributes


def _write_array(root: Path, path: str, stack: Any, role: str, zarr_format: ZarrFormat, compression: str) -> None:
    import zarr
    from zarr.storage import LocalStore

    spec = spec_for_stack(stack)
    where = f"{root}/{path}"
    if spec.shape[0] != 1:
        raise ValidationError(f"write_crops: {where} has {spec.shape[0]} samples; a crop's {role} has one")
    if role != "raw" and spec.shape[1] != 1:
        raise ValidationError(f"write_crops: {where} has {spec.shape[1]} channels; {role} have one")
    if role == "labels" and spec.dtype.kind != "u":
        raise ValidationError(f"write_crops: labels must be unsigned integers (e.g. uint32), not {spec.dtype}")
    if role == "mask" and spec.dtype.kind not in "bu":
        raise ValidationError(f"write_crops: a mask must be bool or unsigned integers, not {spec.dtype}")
    # funlib has no time axis: C ('c^') when the raw has channels, then the spatial axes
    disk = ("C" if spec.shape[1] > 1 or "C" in str(getattr(stack, "original_axes", "")) else "") + spec.axes[2:]
    spec = attrs.evolve(spec, disk_axes=disk)
    chunks = default_chunks(spec.shape)
    disk_chunks = tuple(n for n, a in zip(chunks, "TC" + spec.axes[2:], strict=True) if a in disk)
    kwargs: dict[str, Any] = {}
    if zarr_format == 2:
        kwargs["chunk_key_encoding"] = {"name": "v2", "separator": "/"}
    zarr.create_array(
        store=LocalStore(str(root)),
        name=path,
        shape=spec.disk_shape,
        dtype=spec.dtype,
        chunks=disk_chunks,
        compressors=_codecs(compression, zarr_format),
        fill_value=0,
        zarr_format=zarr_format,
        attributes=_funlib(spec),
        **kwargs,
    )
    image = ZarrImage(str(root), path, zarr_format, spec, chunks)
    copy_stack(stack, spec, image)


def write_crops(
    store: str | os.PathLike[str],
    crops: Sequence[CropData],
    *,
    zarr_format: ZarrFormat = 2,
    compression: str = "zstd",
    overwrite: bool = False,
) -> Path:
    """Write `crops` as `{train,test}/crop_*/{raw,labels,mask}` zarr arrays with funlib attributes.

    zarr v2 by default (what funlib and DaCapo open); `zarr_format=3` for v3. Labels must be unsigned
    ids (0 = background), masks bool or unsigned (0 = unknown), and each crop's labels and mask match
    its raw in spatial shape. The store appears only once complete; returns its path.
    """
    import zarr
    from zarr.storage import LocalStore

    if zarr_format not in (2, 3):
        raise ValidationError(f"write_crops: zarr_format must be 2 or 3, not {zarr_format!r}")
    if not crops:
        raise ValidationError("write_crops: no crops given")
    seen = set()
    for crop in crops:
        if crop.split not in SPLITS:
            raise ValidationError(f"write_crops: split {crop.split!r} must be one of {', '.join(SPLITS)}")
        if not crop.name.startswith("crop") or "/" in crop.name:
            raise ValidationError(f"write_crops: crop name {crop.name!r} must start with 'crop' (e.g. 'crop_1')")
        if (crop.split, crop.name) in seen:
            raise ValidationError(f"write_crops: {crop.split}/{crop.name} is given twice")
        seen.add((crop.split, crop.name))
    target = Destination(store, overwrite=overwrite)
    try:
        root = target.partial
        zarr.open_group(store=LocalStore(str(root)), mode="w", zarr_format=zarr_format)
        for crop in crops:
            raw = _stack(crop.raw, crop.axes, f"{crop.split}/{crop.name}/raw")
            stacks = {"raw": raw, "labels": _stack(crop.labels, crop.axes, f"{crop.split}/{crop.name}/labels")}
            if crop.mask is not None:
                stacks["mask"] = _stack(crop.mask, crop.axes, f"{crop.split}/{crop.name}/mask")
            for role in ROLES:
                if role in stacks and tuple(stacks[role].data_shape[2:]) != tuple(raw.data_shape[2:]):
                    raise ValidationError(
                        f"write_crops: {crop.split}/{crop.name}: {role} has spatial shape "
                        f"{tuple(stacks[role].data_shape[2:])} but raw has {tuple(raw.data_shape[2:])}"
                    )
            zarr.open_group(
                store=LocalStore(str(root)), path=f"{crop.split}/{crop.name}", mode="a", zarr_format=zarr_format
            )
            for role, stack in stacks.items():
                _write_array(root, f"{crop.split}/{crop.name}/{role}", stack, role, zarr_format, compression)
        target.commit()
    except BaseException:
        target.discard()
        raise
    return target.path
