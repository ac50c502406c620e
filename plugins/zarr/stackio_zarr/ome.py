"""OME-NGFF (0.1 to 0.5) metadata: multiscales, axes, transformations, omero, bioformats2raw, plates.

Pure JSON interpretation; nothing here opens arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
from stackio import ReadError

from .store import Node, check_internal

#: NGFF axis names stackio maps to its own letters; any other name needs `axes=`.
AXIS_LETTERS = {"t": "T", "c": "C", "z": "Z", "y": "Y", "x": "X"}
#: NGFF before 0.3 has no axes: the data is always 5D in this order.
LEGACY_AXES = ("t", "c", "z", "y", "x")


def ome_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """NGFF 0.5 keeps its metadata under "ome"; earlier versions at the top level."""
    inner = attributes.get("ome")
    return inner if isinstance(inner, dict) else attributes


@attrs.frozen
class Axis:
    name: str
    type: str | None = None
    unit: str | None = None


@attrs.frozen
class Multiscale:
    """One image's multiscales entry."""

    group: Node
    #: Path of the image group inside the store.
    group_path: str
    version: str | None
    axes: tuple[Axis, ...]
    #: Whether `axes` were written (NGFF >= 0.3) rather than implied (TCZYX).
    axes_declared: bool
    dataset_paths: tuple[str, ...]
    dataset_transforms: tuple[tuple[dict[str, Any], ...], ...]
    transforms: tuple[dict[str, Any], ...]
    channel_labels: tuple[str, ...] | None
    name: str | None

    @property
    def letters(self) -> str | None:
        """The axes as STCZYX letters, or None when a name has no stackio letter."""
        out = [AXIS_LETTERS.get(a.name.lower()) for a in self.axes]
        return None if None in out else "".join(out)  # type: ignore[arg-type]

    def level_path(self, level: int) -> str:
        path = self.dataset_paths[level]
        return f"{self.group_path}/{path}" if self.group_path else path

    def scale_and_translation(self, level: int) -> tuple[list[float] | None, list[float] | None]:
        """Per-axis scale and translation of one level, composed with the image-wide transforms.

        None for a quantity the metadata does not give as plain numbers.
        """
        n = len(self.axes)
        scale, offset = [1.0] * n, [0.0] * n
        saw_scale = saw_translation = False
        for t in (*self.dataset_transforms[level], *self.transforms):
            kind = t.get("type")
            if kind == "identity":
                continue
            values = t.get(kind) if kind in ("scale", "translation") else None
            if values is None or not _numbers(values, n):
                return None, None  # a path-based or unknown transformation: do not guess
            if kind == "scale":
                saw_scale = True
                scale = [s * v for s, v in zip(scale, values, strict=True)]
                offset = [o * v for o, v in zip(offset, values, strict=True)]
            else:
                saw_translation = True
                offset = [o + v for o, v in zip(offset, values, strict=True)]
        return (scale if saw_scale else None), (offset if saw_translation else None)


def _numbers(values: Any, n: int) -> bool:
    return (
        isinstance(values, list)
        and len(values) == n
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    )


def _axes(entry: dict[str, Any], where: str) -> tuple[tuple[Axis, ...], bool]:
    raw = entry.get("axes")
    if raw is None:
        return tuple(Axis(n) for n in LEGACY_AXES), False
    if not isinstance(raw, list):
        raise ReadError(f"{where}: multiscales 'axes' should be a list, not {raw!r}", source=where)
    out = []
    for a in raw:
        if isinstance(a, str):  # NGFF 0.3
            out.append(Axis(a))
        elif isinstance(a, dict) and isinstance(a.get("name"), str):
            unit = a.get("unit")
            out.append(Axis(a["name"], a.get("type"), unit if isinstance(unit, str) and unit else None))
        else:
            raise ReadError(f"{where}: multiscales axis {a!r} has no name", source=where)
    return tuple(out), True


def multiscale(group: Node, group_path: str, where: str) -> Multiscale | None:
    """The first multiscales entry of an image group (the one NGFF says to use), if it has one."""
    ome = ome_attributes(group.attributes)
    entries = ome.get("multiscales")
    if entries is None:
        return None
    if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
        raise ReadError(f"{where}: 'multiscales' should be a non-empty list of objects", source=where)
    entry = entries[0]
    datasets = entry.get("datasets")
    if not isinstance(datasets, list) or not datasets:
        raise ReadError(f"{where}: multiscales has no 'datasets'; the image has no levels", source=where)
    paths, transforms = [], []
    for d in datasets:
        if not isinstance(d, dict) or not isinstance(d.get("path"), str):
            raise ReadError(f"{where}: multiscales dataset {d!r} has no 'path'", source=where)
        paths.append(check_internal(d["path"], "the multiscales dataset path", where))
        transforms.append(tuple(t for t in d.get("coordinateTransformations") or () if isinstance(t, dict)))
    axes, declared = _axes(entry, where)
    version = entry.get("version") or ome.get("version")
    return Multiscale(
        group=group,
        group_path=group_path,
        version=str(version) if version is not None else None,
        axes=axes,
        axes_declared=declared,
        dataset_paths=tuple(paths),
        dataset_transforms=tuple(transforms),
        transforms=tuple(t for t in entry.get("coordinateTransformations") or () if isinstance(t, dict)),
        channel_labels=_channel_labels(ome),
        name=entry.get("name") if isinstance(entry.get("name"), str) else None,
    )


def _channel_labels(ome: dict[str, Any]) -> tuple[str, ...] | None:
    omero = ome.get("omero")
    if not isinstance(omero, dict) or not isinstance(omero.get("channels"), list):
        return None
    labels = [c.get("label") if isinstance(c, dict) else None for c in omero["channels"]]
    if not labels or any(label is None for label in labels):
        return None
    return tuple(str(label) for label in labels)


def bioformats2raw_series(group: Node) -> list[str] | None:
    """Series group names of a bioformats2raw layout, or None when the group is not one."""
    ome = ome_attributes(group.attributes)
    if "bioformats2raw.layout" not in ome:
        return None
    listed = None
    ome_dir = group.directory / "OME"
    if ome_dir.is_dir():
        from .store import read_node

        ome_node = read_node(ome_dir)
        if ome_node is not None:
            series = ome_attributes(ome_node.attributes).get("series")
            if isinstance(series, list) and all(isinstance(s, str) for s in series):
                listed = [check_internal(s, "the bioformats2raw series path", group.directory) for s in series]
    if listed is not None:
        return listed
    from .remote import is_remote_path

    if is_remote_path(group.directory):
        # no listing over the network: the layout numbers its series 0, 1, 2, ... without gaps
        found: list[str] = []
        while any((group.directory / str(len(found)) / m).is_file() for m in ("zarr.json", ".zgroup")):
            found.append(str(len(found)))
        return found
    numbered = sorted((p.name for p in group.directory.iterdir() if p.is_dir() and p.name.isdigit()), key=int)
    return [
        n
        for n in numbered
        if (group.directory / n / "zarr.json").is_file() or (group.directory / n / ".zgroup").is_file()
    ]


def plate_images(group: Node, where: str) -> list[str] | None:
    """Well paths of an HCS plate (each then lists its field images), or None if not a plate."""
    plate = ome_attributes(group.attributes).get("plate")
    if plate is None:
        return None
    wells = plate.get("wells") if isinstance(plate, dict) else None
    if not isinstance(wells, list):
        raise ReadError(f"{where}: the plate metadata has no 'wells' list", source=where)
    return [check_internal(str(w.get("path")), "the plate's well path", where) for w in wells if isinstance(w, dict)]


def well_images(group: Node, where: str) -> list[str] | None:
    """Field image paths of an HCS well, or None if the group is not a well."""
    well = ome_attributes(group.attributes).get("well")
    if well is None:
        return None
    images = well.get("images") if isinstance(well, dict) else None
    if not isinstance(images, list):
        raise ReadError(f"{where}: the well metadata has no 'images' list", source=where)
    return [check_internal(str(i.get("path")), "the well's image path", where) for i in images if isinstance(i, dict)]


def label_images(group: Node, where: str) -> list[str] | None:
    """Label image names of an OME-Zarr `labels` group (its "labels" list), or None if not one."""
    labels = ome_attributes(group.attributes).get("labels")
    if labels is None or "multiscales" in ome_attributes(group.attributes):
        return None
    if not isinstance(labels, list) or not all(isinstance(n, str) for n in labels):
        raise ReadError(f"{where}: the 'labels' metadata should be a list of label image names", source=where)
    return [check_internal(n, "the label image path", where) for n in labels]


def describe_levels(ms: Multiscale, shapes: Sequence[tuple[int, ...]] | None = None) -> str:
    """'0 (4, 250, 250), 1 (...)' or '0 (path), ...' for error messages."""
    if shapes is not None:
        return ", ".join(f"{i} {s}" for i, s in enumerate(shapes))
    return ", ".join(f"{i} ({p})" for i, p in enumerate(ms.dataset_paths))
