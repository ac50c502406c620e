"""napari's writer contribution: image layers (and labels layers) to OME-Zarr through `stackio.save`.

Image layers of one shape and scale become the channels of one image (napari splits a file's channels into
layers; saving them puts them back together); labels layers go into its `labels/` group. Layer data is
read plane by plane as the writer asks for it, so a lazy layer is not loaded whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import stackio
from stackio.units import calibrated, unit_name

FullLayerData = tuple[Any, dict[str, Any], str]

_LETTERS = frozenset("STCZYX")
#: Axes of layer data whose axis labels are not stackio's letters, by number of dimensions.
_DEFAULT_AXES = {2: "YX", 3: "ZYX", 4: "TZYX", 5: "STZYX"}


class LayerStack:
    """An SC(Z)YX ImageStack over a layer's (possibly lazy) array; each patch is one slice of it."""

    def __init__(self, array: Any, axes: str, metadata: stackio.Metadata, source: str) -> None:
        self._array = array
        self._source = source
        self._metadata = metadata
        self.axes = axes
        self.original_axes = axes
        self.data_shape = tuple(int(n) for n in array.shape)
        self.original_data_shape = self.data_shape
        self.data_dtype = np.dtype(array.dtype)
        self.load_options: dict[str, Any] = {}

    @property
    def source(self) -> str:
        return self._source

    @property
    def metadata(self) -> stackio.Metadata:
        return self._metadata

    def extract_patch(
        self, sample_idx: int, channels: Sequence[int] | None, coords: Sequence[int], patch_size: Sequence[int]
    ) -> np.ndarray:
        sample, chosen, ranges = stackio.check_patch_request(
            self._source, self.data_shape, sample_idx, channels, coords, patch_size
        )
        picked = list(range(self.data_shape[1])) if chosen is None else chosen
        out = np.zeros((len(picked), *patch_size), dtype=self.data_dtype)
        inside = tuple(slice(a, b) for a, b in ranges)
        where = tuple(slice(a - c, b - c) for (a, b), c in zip(ranges, coords, strict=True))
        for i, channel in enumerate(picked):
            index: tuple[int | slice, ...] = (i, *where)
            out[index] = np.asarray(self._array[(sample, channel, *inside)])
        return out


def _layer_axes(data: Any, attributes: dict[str, Any]) -> str:
    labels = [str(a).upper() for a in attributes.get("axis_labels") or ()]
    if len(labels) == data.ndim and set(labels) <= _LETTERS and len(set(labels)) == len(labels):
        return "".join(labels)
    if data.ndim not in _DEFAULT_AXES:
        raise stackio.ValidationError(
            f"layer {attributes.get('name')!r}: {data.ndim}-D data without stackio axis labels; set "
            "layer.axis_labels to letters of STCZYX (e.g. ('T', 'Z', 'Y', 'X')) to save it",
            source=attributes.get("name"),
        )
    return _DEFAULT_AXES[data.ndim]


def _to_scyx(data: Any, axes: str) -> tuple[Any, str]:
    """`data` (numpy or dask) rearranged as S C (Z) Y X; S merges S and T, a missing C has size 1."""
    import dask.array as da

    array = data if isinstance(data, np.ndarray) else da.asarray(data)
    module = np if isinstance(array, np.ndarray) else da
    if "C" not in axes:
        array, axes = module.expand_dims(array, 0), "C" + axes
    samples = [a for a in "ST" if a in axes]
    depth = ["Z"] if "Z" in axes else []
    array = module.transpose(array, [axes.index(a) for a in (*samples, "C", *depth, "Y", "X")])
    if len(samples) == 2:
        array = array.reshape((array.shape[0] * array.shape[1], *array.shape[2:]))
    elif not samples:
        array = module.expand_dims(array, 0)
    return array, "SC" + "".join(depth) + "YX"


def _units(attributes: dict[str, Any], axes: str) -> dict[str, str]:
    units = attributes.get("units") or ()
    out = {}
    for axis, unit in zip(axes, units, strict=False):
        name = unit_name(str(unit))
        if name and calibrated(name):
            out[axis] = name
    return out


def _metadata(attributes: dict[str, Any], axes: str, channel_names: Sequence[str] | None) -> stackio.Metadata:
    scale = list(attributes.get("scale") or [1.0] * len(axes))
    translate = list(attributes.get("translate") or [0.0] * len(axes))
    voxel = {a: float(s) for a, s in zip(axes, scale, strict=False) if a in "TZYX"}
    offset = {a: float(t) for a, t in zip(axes, translate, strict=False) if a in "ZYX"}
    units = {a: u for a, u in _units(attributes, axes).items() if a in "TZYX"}
    return stackio.Metadata(
        voxel_size=voxel or None,
        units=units or None,
        offset=offset if any(offset.values()) else None,
        channel_names=tuple(channel_names) if channel_names else None,
    )


def channel_names(layer_names: Sequence[str]) -> list[str]:
    """Channel names from layer names: the reader names channels `<source> <channel>`, so a shared
    `<source> ` is dropped (`["a.czi DAPI", "a.czi GFP"]` -> `["DAPI", "GFP"]`)."""
    words = [name.split(" ") for name in layer_names]
    shared = 0
    while all(len(w) > shared + 1 for w in words) and len({tuple(w[: shared + 1]) for w in words}) == 1:
        shared += 1
    prefix = " ".join(words[0][:shared]) + " " if shared else ""
    stripped = [name[len(prefix) :] for name in layer_names]
    return stripped if prefix and all(stripped) and len(set(stripped)) == len(stripped) else list(layer_names)


def _level0(data: Any, attributes: dict[str, Any]) -> Any:
    return data[0] if attributes.get("multiscale") else data


def write_ome_zarr(path: str, layer_data: Sequence[FullLayerData]) -> list[str]:
    """Write the layers to the OME-Zarr `path`: image layers as channels of one image, labels beside it."""
    images = [(_level0(d, a), a) for d, a, kind in layer_data if kind == "image"]
    labels = [(_level0(d, a), a) for d, a, kind in layer_data if kind == "labels"]
    if not images:
        raise stackio.ValidationError(
            f"{path}: an OME-Zarr needs an image layer; labels are saved beside one", source=path
        )
    first, first_attrs = images[0]
    for data, attrs in images[1:]:
        if data.shape != first.shape or list(attrs.get("scale", [])) != list(first_attrs.get("scale", [])):
            raise stackio.ValidationError(
                f"{path}: layers {first_attrs.get('name')!r} {first.shape} and {attrs.get('name')!r} {data.shape} "
                "differ in shape or scale; the image layers saved together become the channels of one image, "
                "so save layers of other shapes on their own",
                source=path,
            )
    rgb = bool(first_attrs.get("rgb"))
    # an RGB layer's colour samples are its last dimension, not one of its axes
    layer_axes = _layer_axes(first[..., 0] if rgb else first, first_attrs) + ("C" if rgb else "")
    if len(images) > 1:
        import dask.array as da

        array, axes = _to_scyx(da.stack([da.asarray(d) for d, _ in images]), "C" + layer_axes)
        names: list[str] | None = channel_names([str(a.get("name")) for _, a in images])
    else:
        array, axes = _to_scyx(first, layer_axes)
        names = None
    scale_axes = layer_axes[:-1] if rgb else layer_axes  # the axes napari's scale and translate refer to
    what = names or first_attrs.get("name")
    image = LayerStack(array, axes, _metadata(first_attrs, scale_axes, names), f"<layer {what}>")
    label_stacks = {}
    for data, attrs in labels:
        label_axes = _layer_axes(data, attrs)
        label_array, label_scyx = _to_scyx(data, label_axes)
        label_stacks[str(attrs.get("name"))] = LayerStack(
            label_array, label_scyx, _metadata(attrs, label_axes, None), f"<labels {attrs.get('name')}>"
        )
    source_data, source_attrs = next((d, a) for d, a, kind in layer_data if kind == "image")
    levels = len(source_data) if source_attrs.get("multiscale") else 1
    written = stackio.save(image, path, labels=label_stacks or None, pyramid=levels)
    return [str(written)]
