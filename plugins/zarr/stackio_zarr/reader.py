"""Opening zarr stores, groups and arrays as lazy stacks (imports zarr inside functions)."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np
from stackio import (
    AxesError,
    ImageStack,
    Layout,
    LazyStack,
    Metadata,
    ReadError,
    Source,
    ValidationError,
)
from stackio.axes import FREE, contradictions
from stackio.forksafe import track_library
from stackio.protocol import pixel_type
from stackio.remote import StorageOptions
from stackio.units import unit_name

from . import ome, settle
from .budget import budgeted
from .funlib import funlib_attrs
from .grid import check_grid
from .remote import RemoteArrayOpener, RemoteTree, is_remote_path
from .store import MARKERS, Location, Node, ZarrFormat, ancestors, check_internal, child_names, locate, read_node

track_library("zarr")  # its codecs and metadata are cached properties

# -- opening arrays -------------------------------------------------------------------


def local_store(root: str) -> Any:
    """The zarr store every read goes through (a read-only LocalStore on the store root that opens
    regular files only)."""
    from .local import RegularFileStore

    return RegularFileStore(root, read_only=True)


class _NativeOrder:
    """Reads from a big-endian array returned in the machine's byte order (as torch needs)."""

    def __init__(self, array: Any) -> None:
        self._array = array
        self.dtype = np.dtype(array.dtype).newbyteorder("=")

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.asarray(settle.read(self._array, key)).astype(self.dtype, copy=False)


@attrs.frozen
class ArrayOpener:
    """Opens one array of a local store for a LazyStack (picklable; zarr parses metadata once per open)."""

    root: str
    path: str
    zarr_format: ZarrFormat

    def __call__(self) -> Any:
        array = open_array(self.root, self.path, self.zarr_format)
        settle.mark_reads()
        reader = settle.Settled(array) if np.dtype(array.dtype).isnative else _NativeOrder(array)
        return budgeted(reader, array, Path(self.root, self.path).as_uri())


def open_array(root: str, path: str, zarr_format: ZarrFormat) -> Any:
    import zarr

    try:
        return zarr.open_array(store=local_store(root), path=path, mode="r", zarr_format=zarr_format)
    except Exception as exc:
        where = Path(root, path).as_uri()
        raise ReadError(
            f"{where}: zarr could not open the array ({type(exc).__name__}: {exc}); its metadata may be "
            "corrupt or use a data type or codec this zarr version does not read",
            source=where,
        ) from exc


# -- what a source names ----------------------------------------------------------------


@attrs.frozen
class Target:
    """One array to turn into a stack, and the OME-Zarr image level it is, if any."""

    location: Location
    multiscale: ome.Multiscale | None = None
    level: int | None = None


def remote_path(source: Source, options: StorageOptions) -> Any:
    """The remote location a URL source names (a node's own document given: its directory)."""
    assert source.uri is not None
    url = source.uri.rstrip("/")
    if ".." in url.split("/"):
        raise ValidationError(
            f"{source}: the URL contains '..'; name a store, a group or an array by its own URL",
            source=str(source),
        )
    path = RemoteTree(url, options).path()
    return path.parent if path.name in MARKERS else path


def local_path(source: Source) -> Path:
    if source.path is None:
        raise ValidationError(f"{source}: the zarr plugin reads local stores and URLs only", source=str(source))
    if source.kind == "uri" and ".." in source.path.parts:
        raise ValidationError(
            f"{source}: the URI contains '..'; a URI names a store, a group or an array by its "
            "absolute path and may not step out of the store",
            source=str(source),
        )
    path = source.path.resolve()
    if path.name in MARKERS and path.is_file():
        return path.parent  # zarr.json / .zarray / .zgroup given: the node is its directory
    return path


def _join(*parts: str) -> str:
    return "/".join(p for p in parts if p)


def _node_at(location: Location, internal: str, what: str, source: object) -> Location:
    directory = location.root.joinpath(*internal.split("/")) if internal else location.root
    node = read_node(directory, location.node.zarr_format)
    if node is None:
        raise ReadError(
            f"{source}: the metadata names {what} {internal!r}, but the store {location.root} has no "
            "group or array there; the store is incomplete",
            source=str(source),
        )
    return Location(location.root, internal, node)


def find_level(location: Location) -> tuple[ome.Multiscale | None, int | None]:
    """The multiscales image and level an array belongs to (searching the groups above it)."""
    for group, relative in ancestors(location):
        group_path = location.internal[: len(location.internal) - len(relative)].rstrip("/")
        ms = ome.multiscale(group, group_path, group.directory.as_uri())
        if ms is not None and relative in ms.dataset_paths:
            return ms, ms.dataset_paths.index(relative)
    return None, None


def _image_target(location: Location, ms: ome.Multiscale, level: int | None, source: object) -> Target:
    chosen = 0 if level is None else level
    if chosen >= len(ms.dataset_paths):
        where = location.root.joinpath(ms.group_path).as_uri() if ms.group_path else location.root.as_uri()
        raise ValidationError(
            f"{source}: level {level} does not exist; the OME-Zarr image {where} has "
            f"{len(ms.dataset_paths)} level(s), 0 to {len(ms.dataset_paths) - 1}: {ome.describe_levels(ms)}",
            source=str(source),
        )
    target = _node_at(location, ms.level_path(chosen), f"multiscales level {chosen} at", source)
    if target.node.kind != "array":
        raise ReadError(
            f"{source}: multiscales level {chosen} ({ms.level_path(chosen)!r}) is a group, not an array",
            source=str(source),
        )
    return Target(target, ms, chosen)


def plan(location: Location, level: int | None, source: object) -> list[Target]:
    """The arrays a store, group or array source gives, in order."""
    node = location.node
    if node.kind == "array":
        ms, own = find_level(location)
        if level is not None and (ms is None or own != level):
            if ms is None:
                raise ValidationError(
                    f"{source}: level={level} selects a level of an OME-Zarr multiscales image, but this "
                    "array is not part of one; drop level=",
                    source=str(source),
                )
            image = location.root.joinpath(ms.group_path).as_uri() if ms.group_path else location.root.as_uri()
            raise ValidationError(
                f"{source}: this array is level {own} of the OME-Zarr image {image}; level={level} "
                f"contradicts it: load the image ({image}) with level={level} instead",
                source=str(source),
            )
        return [Target(location, ms, own)]
    where = location.uri
    ms = ome.multiscale(node, location.internal, where)
    if ms is not None:
        return [_image_target(location, ms, level, source)]
    images = _collection_images(location, where, source)
    if images is None:
        if level is not None:
            raise ValidationError(
                f"{source}: level={level} selects a level of an OME-Zarr multiscales image, but this group "
                "has no multiscales metadata; drop level=",
                source=str(source),
            )
        return _plain_group(location, source)
    targets = []
    for image in images:
        image_location = _node_at(location, image, "the image", source)
        image_ms = ome.multiscale(image_location.node, image, image_location.uri)
        if image_ms is None:
            raise ReadError(
                f"{source}: the image group {image!r} has no OME-Zarr multiscales metadata",
                source=str(source),
            )
        targets.append(_image_target(location, image_ms, level, source))
    if not targets:
        raise ReadError(f"{source}: the OME-Zarr collection lists no images", source=str(source))
    return targets


def _collection_images(location: Location, where: str, source: object) -> list[str] | None:
    """Image groups of a bioformats2raw layout, an HCS plate or a well, or None for other groups."""
    node, internal = location.node, location.internal
    series = ome.bioformats2raw_series(node)
    if series is not None:
        return [_join(internal, s) for s in series]
    wells = ome.plate_images(node, where)
    if wells is not None:
        images = []
        for well in wells:
            well_location = _node_at(location, _join(internal, well), "the well", source)
            well_fields = ome.well_images(well_location.node, well_location.uri) or []
            images += [_join(internal, well, f) for f in well_fields]
        return images
    fields = ome.well_images(node, where)
    if fields is not None:
        return [_join(internal, f) for f in fields]
    labels = ome.label_images(node, where)
    if labels is not None:
        return [_join(internal, name) for name in labels]
    return None


def _plain_group(location: Location, source: object) -> list[Target]:
    names = child_names(location.node, "array")
    if names:
        # an array may still be a level of an OME-Zarr image above this group (nested dataset paths)
        arrays = [_node_at(location, _join(location.internal, n), "the array", source) for n in names]
        return [Target(a, *find_level(a)) for a in arrays]
    groups = child_names(location.node, "group")
    if not groups:
        raise ReadError(f"{source}: the zarr group holds no arrays and no groups", source=str(source))
    hint = ""
    if {"train", "test"} & set(groups):
        hint = "; it looks like a crop layout: read it with stackio_zarr.load_crops()"
    example = (location.node.directory / groups[0]).as_uri()
    raise ReadError(
        f"{source}: the zarr group holds no arrays directly, only the group(s) {', '.join(groups)}; "
        f"load a group or an array by path or URI, e.g. {example!r}{hint}",
        source=str(source),
    )


# -- axes and metadata ------------------------------------------------------------------


def _dimension_names(node: Node) -> tuple[str, ...] | None:
    names = node.document.get("dimension_names") if node.zarr_format == 3 else node.attributes.get("_ARRAY_DIMENSIONS")
    if isinstance(names, list) and names and all(isinstance(n, str) for n in names):
        return tuple(names)
    return None


def _letters(names: tuple[str, ...] | None) -> str | None:
    if names is None:
        return None
    letters = [ome.AXIS_LETTERS.get(n.lower()) for n in names]
    if None in letters or len(set(letters)) != len(letters):
        return None
    return "".join(letters)  # type: ignore[arg-type]


@attrs.frozen
class _Declared:
    """What the metadata says about an array's axes."""

    letters: str | None
    names: tuple[str, ...] | None
    #: Who declares them, for messages; None when nothing does.
    by: str | None
    #: Whether axes= must agree with them (OME-Zarr and funlib do; dimension names only suggest).
    binding: bool
    #: Per dimension, the letter the metadata gives it (FREE for a name stackio has no letter for).
    per_axis: str | None = None
    #: False when the metadata exists but its axes cannot be placed on the array's dimensions.
    placed: bool = True


def declared_axes(target: Target, ndim: int, funlib: Any) -> _Declared:
    ms, uri = target.multiscale, target.location.uri
    if ms is not None:
        names = tuple(a.name for a in ms.axes)
        if not names:  # a version whose axes stackio cannot place: given axes decide
            return _Declared(None, None, ms.axes_from, False, placed=False)
        if len(names) != ndim:
            raise ReadError(
                f"{uri}: the OME-Zarr multiscales declares {len(names)} axes {list(names)} (read from "
                f"{ms.axes_from}) but level {target.level} has {ndim} dimensions",
                source=uri,
            )
        by = f"{ms.axes_from} {list(names)}" if ms.axes_declared else ms.axes_from
        return _Declared(ms.letters, names, by, True, per_axis=_per_axis(names))
    if funlib is not None and funlib.axis_names is not None:
        by = f"the funlib axis_names {list(funlib.axis_names)}"
        per_axis = funlib.letters if funlib.letters is not None else FREE * len(funlib.axis_names)
        return _Declared(funlib.letters, funlib.axis_names, by, True, per_axis=per_axis)
    dimension_names = _dimension_names(target.location.node)
    if dimension_names is not None and len(dimension_names) == ndim:
        return _Declared(
            _letters(dimension_names), dimension_names, f"the dimension names {list(dimension_names)}", False
        )
    return _Declared(None, None, None, False)


def _per_axis(names: tuple[str, ...]) -> str:
    letters = [ome.AXIS_LETTERS.get(n.lower(), FREE) for n in names]
    return "".join(FREE if letters.count(a) > 1 else a for a in letters)


def resolve_axes(declared: _Declared, axes: str | None, shape: tuple[int, ...], uri: str) -> str:
    if axes is not None:
        per_axis = declared.per_axis if declared.binding else None
        if per_axis is not None and contradictions(axes.upper(), per_axis):
            mean = declared.letters or per_axis
            free = " with each '?' named" if FREE in mean else " or axes=None"
            merge = "; a declared Z or T may be named S to make each plane a sample" if set("ZT") & set(mean) else ""
            raise AxesError(
                f"{uri}: axes={axes!r} contradict {declared.by}, which mean {mean!r}; pass axes={mean!r}{free}{merge}",
                source=uri,
            )
        return axes
    if declared.letters is not None:
        return declared.letters
    example = {2: "YX", 3: "ZYX", 4: "CZYX", 5: "TCZYX"}.get(len(shape), "YX")
    if not declared.placed:
        raise AxesError(
            f"{uri}: axes are needed: {declared.by}; stackio cannot tell which axis each of the array's "
            f"{len(shape)} dimensions is (shape {shape}), so pass {len(shape)} letters from STCZYX, "
            f"e.g. axes={example!r}",
            source=uri,
        )
    if declared.by is not None:
        why = (
            f"{declared.by} include names stackio has no letter for (it maps t, c, z, y, x to T, C, Z, Y, X"
            + ("; funlib marks non-spatial axes with '^', e.g. 'c^'" if "funlib" in declared.by else "")
            + ")"
        )
    else:
        why = "the array has no OME-Zarr, funlib (axis_names) or dimension-name metadata saying its axes"
    raise AxesError(
        f"{uri}: axes are needed: {why}; the data has shape {shape}, so pass {len(shape)} letters from "
        f"STCZYX, e.g. axes={example!r}",
        source=uri,
    )


def _ome_metadata(target: Target, axes: str, shape: tuple[int, ...], raw: Any) -> Metadata:
    ms = target.multiscale
    assert ms is not None and target.level is not None
    scale, translation = ms.scale_and_translation(target.level)
    voxel: dict[str, float] = {}
    offset: dict[str, float] = {}
    units: dict[str, str] = {}
    # no axes when the metadata could not place them on the array: then nothing physical is known
    placed = zip(ms.axes, axes, strict=True) if ms.axes else ()
    for i, (axis, letter) in enumerate(placed):
        kind = axis.type or {"T": "time"}.get(letter, "space" if letter in "ZYX" else None)
        if kind not in ("space", "time") or letter not in "TZYX":
            continue
        if scale is not None:
            voxel[letter] = float(scale[i])
        if translation is not None:
            offset[letter] = float(translation[i])
        if axis.unit:
            units[letter] = unit_name(axis.unit) or axis.unit
    channels = None
    if "C" in axes and ms.channel_labels is not None and len(ms.channel_labels) == shape[axes.index("C")]:
        channels = ms.channel_labels
    return Metadata(
        voxel_size=voxel or None,
        offset=offset or None,
        units=units or None,
        axis_names=tuple(a.name for a in ms.axes) or None,
        channel_names=channels,
        raw=raw,
    )


def _funlib_metadata(funlib: Any, axes: str, names: tuple[str, ...] | None, raw: Any) -> Metadata:
    positions = funlib.spatial_positions(len(axes))
    letters = [axes[p] for p in positions]

    def per_axis(values: Any) -> dict[str, Any] | None:
        if values is None:
            return None
        out = {letter: v for letter, v in zip(letters, values, strict=True) if v != ""}
        return out or None

    return Metadata(
        voxel_size=per_axis(funlib.voxel_size),
        offset=per_axis(funlib.offset),
        units=per_axis(funlib.units),  # kept as funlib writes them (e.g. "nm"), as DaCapo reads them back
        axis_names=funlib.axis_names or names,
        raw=raw,
    )


def raw_metadata(root: str, path: str, image_path: str | None, options: StorageOptions | None = None) -> dict[str, Any]:
    """The array's own metadata document and attributes, and its OME-Zarr image's attributes.

    `options` is given for a remote store (`root` is then its URL).
    """
    if options is not None:
        tree = RemoteTree(root, options)
        array = read_node(tree.path().joinpath(path))  # type: ignore[arg-type]
        image = read_node(tree.path().joinpath(image_path)) if image_path is not None else None  # type: ignore[arg-type]
    else:
        array = read_node(Path(root, path))
        image = read_node(Path(root, image_path)) if image_path is not None else None
    if array is None:
        where = _join(root, path)
        raise ReadError(
            f"{where}: holds no zarr array any more: the store was moved, changed or removed since it was "
            "loaded; load it again",
            source=where,
        )
    return {
        "zarr_format": array.zarr_format if array else None,
        "array": array.document if array else None,
        "attributes": array.attributes if array else None,
        "image_attributes": image.attributes if image else None,
    }


def open_stack(target: Target, axes: str | None) -> LazyStack:
    location = target.location
    uri = location.uri
    root: Any = location.root  # a Path, or a remote.RemotePath for a URL
    remote: StorageOptions | None = root.tree.options if is_remote_path(root) else None
    opener: ArrayOpener | RemoteArrayOpener
    check_grid(location.node, uri)  # before zarr reads `true` as 1 or accepts chunks of 0
    if remote is not None:
        opener = RemoteArrayOpener(str(location.root), location.internal, location.node.zarr_format, remote)
        array = opener.open_first(root.tree.documents(opener.url, opener.path))
    else:
        opener = ArrayOpener(str(location.root), location.internal, location.node.zarr_format)
        array = open_array(opener.root, opener.path, opener.zarr_format)
    dtype = pixel_type(array.dtype, uri)  # the core's rule, checked before the axes are
    shape = tuple(int(n) for n in array.shape)
    if math.prod(shape) * dtype.itemsize >= 2**62:
        # zarr's index arithmetic wraps past int64 and would return garbage, not the fill value
        raise ReadError(
            f"{uri}: declares shape {shape} ({dtype}), more bytes than a 64-bit index can address; "
            "its zarr.json/.zarray is corrupt",
            source=uri,
        )
    funlib = funlib_attrs(location.node.attributes, len(shape), uri) if target.multiscale is None else None
    declared = declared_axes(target, len(shape), funlib)
    final = resolve_axes(declared, axes, shape, uri)
    layout = Layout.from_axes(final, shape, source=uri)
    image_path = target.multiscale.group_path if target.multiscale is not None else None
    raw = functools.partial(raw_metadata, str(location.root), location.internal, image_path, remote)
    if target.multiscale is not None:
        metadata = _ome_metadata(target, final, shape, raw)
    elif funlib is not None:
        metadata = _funlib_metadata(funlib, final, declared.names, raw)
    else:
        metadata = Metadata(axis_names=declared.names, raw=raw)
    shards = getattr(array, "shards", None)
    return LazyStack(
        uri,
        layout,
        dtype,
        opener,
        metadata=metadata,
        chunks=tuple(int(n) for n in array.chunks),
        shards=tuple(int(n) for n in shards) if shards is not None else None,
        load_options=remote.load_option() if remote is not None else None,
    )


def load(source: Source, axes: str | None, options: Mapping[str, Any]) -> list[ImageStack]:
    """The stacks a zarr store, group or array source gives (see the README for the rules).

    `options` holds the validated options: `level` (a pyramid level) and `storage_options` (fsspec's
    options for a URL source: credentials, `anon`, endpoint, headers).
    """
    path = store_path(source, options.get("storage_options"))
    location = locate(path, source)
    targets = plan(location, options.get("level"), source)
    return build(targets, source, axes)


def store_path(source: Source, storage_options: Any) -> Any:
    """Where the store is: a `remote.RemotePath` for a URL, else the local directory."""
    if source.path is None and source.uri is not None:
        return remote_path(source, StorageOptions.of(storage_options, source))
    if storage_options is not None:
        raise ValidationError(
            f"{source}: storage_options= is for URLs (https://, s3://, ...); a local store takes none",
            source=str(source),
        )
    return local_path(source)


def build(targets: list[Target], source: Any, axes: str | None) -> list[ImageStack]:
    """One lazy stack per planned target, or only the one '@N' picks."""
    if source.index is not None:
        if source.index >= len(targets):
            listed = ", ".join(f"@{i} {t.location.internal or '/'}" for i, t in enumerate(targets))
            raise ValidationError(
                f"{source}: @{source.index} does not exist; it gives {len(targets)} stack(s): {listed}",
                source=str(source),
            )
        targets = [targets[source.index]]
    return [open_stack(t, axes) for t in targets]


def load_at(path: Any, source: Any, axes: str | None, level: int | None = None) -> list[ImageStack]:
    """`load` for a location already resolved: a local directory or a `remote.RemotePath`."""
    return build(plan(locate(path, source), level, source), source, axes)


def load_path(path: Any, axes: str | None, level: int | None = None) -> list[ImageStack]:
    """`load` for a local path or a remote location (used by the crop-layout reader)."""
    if is_remote_path(path):
        return load_at(path, Source.parse(str(path)), axes, level)
    return load(Source.parse(path), axes, {"level": level})


__all__ = [
    "ArrayOpener",
    "Target",
    "build",
    "check_internal",
    "load",
    "load_at",
    "load_path",
    "local_store",
    "open_stack",
    "plan",
    "remote_path",
    "store_path",
]
