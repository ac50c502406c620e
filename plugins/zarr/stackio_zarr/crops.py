"""Segmentation training sets laid out as `{train,test}/[crop_*/]{raw,labels,mask}` (DaCapo style).

Imports zarr only when `load_crops` opens arrays.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np
from stackio import ImageStack, ReadError, Source, ValidationError, natural_key

SPLITS = ("train", "test")
ROLES = ("raw", "labels", "mask")


@attrs.frozen
class Crop:
    """One annotated crop: its split, its name and its raw / labels / (optional) mask stacks.

    `labels` hold unsigned integer ids, 0 = background; `mask` (when present) is 0 where the
    labels are unknown. `shared` is True when the store has no train/test groups and the
    same crop serves both splits.
    """

    split: str
    name: str
    raw: ImageStack
    labels: ImageStack
    mask: ImageStack | None = None
    shared: bool = False
    #: file:// URI of the crop's group.
    uri: str = ""


def normalize_raw(array: Any) -> np.ndarray:
    """Raw intensities as funlib/DaCapo feed them to a network.

    uint8 / 255 and uint16 / 65535 become float32 in [0, 1]; float arrays are returned as
    they are; any other dtype is an error (there is no agreed range to divide by).
    """
    data = np.asarray(array)
    if data.dtype == np.uint8:
        return data.astype(np.float32) / np.float32(255)
    if data.dtype == np.uint16:
        return data.astype(np.float32) / np.float32(65535)
    if data.dtype.kind == "f":
        return data
    raise ValidationError(
        f"normalize_raw: raw data of dtype {data.dtype} has no defined range; only uint8 (/ 255), "
        "uint16 (/ 65535) and float data (unchanged) are normalised. Convert it yourself first",
        source=None,
    )


def _axes_for(axes: str | Mapping[str, str] | None, role: str) -> str | None:
    if axes is None or isinstance(axes, str):
        return axes
    unknown = set(axes) - set(ROLES)
    if unknown:
        raise ValidationError(
            f"load_crops: axes keys {sorted(unknown)} are not roles; use 'raw', 'labels' and 'mask'",
            source=None,
        )
    return axes.get(role)


def _is_node(path: Path) -> bool:
    return path.is_dir() and any((path / m).is_file() for m in ("zarr.json", ".zgroup", ".zarray"))


def _groups(directory: Path) -> list[str]:
    from .remote import is_remote_path

    if is_remote_path(directory):
        # no listing over the network: the group's consolidated metadata names its members
        from .store import child_names, read_node

        node = read_node(directory)
        return child_names(node) if node is not None else []
    return sorted((p.name for p in directory.iterdir() if _is_node(p) and not p.name.startswith(".")), key=natural_key)


def _one_stack(path: Path, role: str, axes: str | None, level: int | None) -> ImageStack:
    from .reader import load_path

    stacks = load_path(path, axes, level)
    if len(stacks) != 1:
        raise ReadError(
            f"{path}: the crop's {role} should be one array or one OME-Zarr image, but it gives {len(stacks)} stacks",
            source=str(path),
        )
    return stacks[0]


def _crop(directory: Path, split: str, name: str, axes: Any, level: int | None, shared: bool) -> Crop:
    present = {r for r in ROLES if _is_node(directory / r)}
    missing = [r for r in ("raw", "labels") if r not in present]
    if missing:
        raise ReadError(
            f"{directory}: the crop has no {' and no '.join(missing)}; a crop holds raw, labels and "
            f"optionally mask (it has: {', '.join(_groups(directory)) or 'nothing'})",
            source=str(directory),
        )
    raw = _one_stack(directory / "raw", "raw", _axes_for(axes, "raw"), level)
    labels = _one_stack(directory / "labels", "labels", _axes_for(axes, "labels"), level)
    if labels.data_dtype.kind != "u":
        raise ReadError(
            f"{labels.source}: labels must be unsigned integers (0 = background, other values = ids), "
            f"not {labels.data_dtype}; convert them (e.g. to uint32) before training",
            source=labels.source,
        )
    mask = None
    if "mask" in present:
        mask = _one_stack(directory / "mask", "mask", _axes_for(axes, "mask"), level)
        if mask.data_dtype.kind not in "bu":
            raise ReadError(
                f"{mask.source}: a mask must be bool or unsigned integers (0 = unknown), not {mask.data_dtype}",
                source=mask.source,
            )
        if mask.data_shape[0] != labels.data_shape[0] or mask.data_shape[2:] != labels.data_shape[2:]:
            raise ReadError(
                f"{mask.source}: the mask has shape {mask.data_shape} but the labels have "
                f"{labels.data_shape}; samples and spatial sizes must agree",
                source=mask.source,
            )
    return Crop(split, name, raw, labels, mask, shared, directory.as_uri())


def _split_crops(directory: Path, split: str, axes: Any, level: int | None, shared: bool) -> list[Crop]:
    if _is_node(directory / "raw") or _is_node(directory / "labels"):
        return [_crop(directory, split, directory.name, axes, level, shared)]
    names = [n for n in _groups(directory) if n.startswith("crop")]
    if not names:
        raise ReadError(
            f"{directory}: holds neither raw/labels nor crop_* groups (it has: "
            f"{', '.join(_groups(directory)) or 'nothing'}); expected {{train,test}}/[crop_*/]{{raw,labels,mask}}",
            source=str(directory),
        )
    return [_crop(directory / n, split, n, axes, level, shared) for n in names]


def load_crops(
    store: str | os.PathLike[str],
    axes: str | Mapping[str, str] | None = None,
    *,
    level: int | None = None,
    storage_options: dict[str, Any] | None = None,
) -> list[Crop]:
    """Every crop of a training store laid out as `{train,test}/[crop_*/]{raw,labels,mask}`.

    `store` is a path, a file:// URI or a URL (https://, s3://, ...; `storage_options` are then
    fsspec's options) of the store or of a group in it. Over the network the crops are found from
    metadata: the train/test and raw/labels/mask groups by name, crop_* groups from the consolidated
    metadata. `axes` applies to
    every array, or maps 'raw'/'labels'/'mask' to axes; None takes them from the metadata
    (OME-Zarr or funlib axis_names). `level` picks the level of OME-Zarr multiscales arrays.
    A store without train/ and test/ gives its crops for both splits (with `shared=True`)
    and warns that it does.
    """
    from stackio.remote import StorageOptions

    from .reader import local_path, remote_path
    from .store import locate

    for role in ROLES:
        _axes_for(axes, role)  # refuse a bad axes mapping before reading anything
    source = Source.parse(store)
    if source.path is None and source.uri is not None:
        path: Any = remote_path(source, StorageOptions.of(storage_options, source))
    else:
        path = local_path(source)
    location = locate(path, source)
    if location.node.kind != "group":
        raise ReadError(f"{source}: a crop layout is a group, but this is an array", source=str(source))
    root = location.node.directory
    splits = [s for s in SPLITS if _is_node(root / s)]
    if not splits:
        warnings.warn(
            f"{source}: has no train/ or test/ group; the same crops are used for both train and test",
            UserWarning,
            stacklevel=2,
        )
        crops = _split_crops(root, "train", axes, level, shared=True)
        return crops + [attrs.evolve(c, split="test") for c in crops]
    for missing in set(SPLITS) - set(splits):
        warnings.warn(
            f"{source}: has no {missing}/ group; only {splits[0]} crops are returned", UserWarning, stacklevel=2
        )
    return [c for s in splits for c in _split_crops(root / s, s, axes, level, shared=False)]
