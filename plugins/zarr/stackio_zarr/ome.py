"""OME-NGFF metadata: multiscales, axes, transformations, omero, bioformats2raw, plates.

NGFF 0.1 to 0.5 are read as specified; a later or unknown version is read where its axes can be
found: the multiscales `axes`, else (0.6 development files, RFC 5) the `coordinateSystems` axes
its datasets map to axis by axis.

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
#: NGFF 0.1 and 0.2 have no axes: the data is always 5D in this order. No other version implies axes.
LEGACY_AXES = ("t", "c", "z", "y", "x")
LEGACY_VERSIONS = ("0.1", "0.2")
#: Transformations that keep each array axis on the same-numbered axis of the coordinate system.
AXIS_PRESERVING = ("identity", "scale", "translation")


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
    #: The array's axes; empty when the metadata gives none stackio can place (see `axes_from`).
    axes: tuple[Axis, ...]
    #: Whether `axes` were written (multiscales axes or coordinate system) rather than implied (TCZYX).
    axes_declared: bool
    dataset_paths: tuple[str, ...]
    dataset_transforms: tuple[tuple[dict[str, Any], ...], ...]
    transforms: tuple[dict[str, Any], ...]
    channel_labels: tuple[str, ...] | None
    name: str | None
    #: Where `axes` come from, or why there are none, for messages.
    axes_from: str = "the OME-Zarr axes"

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
        for t in _flat((*self.dataset_transforms[level], *self.transforms)):
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


def _flat(transforms: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Transformations with NGFF 0.6 `sequence`s expanded in order."""
    out: list[dict[str, Any]] = []
    for t in transforms:
        inner = t.get("transformations") if t.get("type") == "sequence" else None
        matrix = t.get("affine") if t.get("type") == "affine" else None
        if isinstance(inner, list):
            out += _flat([u for u in inner if isinstance(u, dict)])
        elif matrix is not None and _axis_aligned(matrix):  # a scale and a translation as a matrix
            out.append({"type": "scale", "scale": [row[i] for i, row in enumerate(matrix)]})
            out.append({"type": "translation", "translation": [row[-1] for row in matrix]})
        else:
            out.append(t)
    return out


def _numbers(values: Any, n: int) -> bool:
    return (
        isinstance(values, list)
        and len(values) == n
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    )


def _axis(a: Any, where: str) -> Axis:
    if isinstance(a, str):  # NGFF 0.3
        return Axis(a)
    if isinstance(a, dict) and isinstance(a.get("name"), str):
        unit = a.get("unit")
        return Axis(a["name"], a.get("type"), unit if isinstance(unit, str) and unit else None)
    raise ReadError(f"{where}: multiscales axis {a!r} has no name", source=where)


def is_legacy(version: str | None) -> bool:
    """Whether a version is NGFF 0.1 or 0.2 (axes implied: TCZYX)."""
    return version is not None and version.strip() in LEGACY_VERSIONS


def _axes(
    entry: dict[str, Any], version: str | None, datasets: Sequence[Sequence[dict[str, Any]]], where: str
) -> tuple[tuple[Axis, ...], bool, str]:
    """The array axes, whether the file wrote them, and where they come from (or why there are none)."""
    raw = entry.get("axes")
    named = f"OME-Zarr {version}" if version is not None else "OME-Zarr without a version"
    if raw is not None:
        if not isinstance(raw, list):
            raise ReadError(f"{where}: multiscales 'axes' should be a list, not {raw!r}", source=where)
        return tuple(_axis(a, where) for a in raw), True, "the OME-Zarr axes"
    if is_legacy(version):
        return tuple(Axis(n) for n in LEGACY_AXES), False, f"OME-Zarr {version} (no axes: always TCZYX)"
    systems = entry.get("coordinateSystems")
    if not isinstance(systems, list) or not systems:
        return (), False, f"the {named} multiscales, which names no axes ('axes' or 'coordinateSystems')"
    found = _system_axes(systems, datasets)
    if isinstance(found, str):
        return (), False, f"the {named} multiscales, whose {found}"
    name, system = found
    return tuple(_axis(a, where) for a in system), True, f"the {named} coordinate system {name!r}"


def _system_axes(systems: list[Any], datasets: Sequence[Sequence[dict[str, Any]]]) -> tuple[str, list[Any]] | str:
    """The axes of the coordinate system the datasets map to axis by axis, or why there is none."""
    by_name = {c.get("name"): c for c in systems if isinstance(c, dict)}
    outputs = {t.get("output") for ts in datasets for t in ts if t.get("output") is not None}
    if len(outputs) > 1:
        return f"datasets map to different coordinate systems {sorted(map(str, outputs))}"
    name = next(iter(outputs)) if outputs else next(iter(by_name), None)
    system = by_name.get(name)
    axes = system.get("axes") if isinstance(system, dict) else None
    if not isinstance(axes, list) or not axes:
        return f"datasets map to coordinate system {name!r}, which has no axes"
    for ts in datasets:
        for t in _flat(ts):
            kind = t.get("type")
            if kind not in AXIS_PRESERVING:
                return (
                    f"datasets map to coordinate system {name!r} through a {kind!r} transformation, which "
                    "does not keep each array axis on one of its axes"
                )
    return str(name), axes


def _axis_aligned(matrix: Any) -> bool:
    """Whether an affine matrix (rows of n + 1 numbers) only scales and translates."""
    if not isinstance(matrix, list) or not matrix or not all(isinstance(r, list) for r in matrix):
        return False
    n = len(matrix)
    return all(
        len(row) == n + 1 and all(isinstance(v, (int, float)) and (v == 0 or j in (i, n)) for j, v in enumerate(row))
        for i, row in enumerate(matrix)
    )


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
    version = entry.get("version") or ome.get("version")
    version = str(version) if version is not None else None
    axes, declared, axes_from = _axes(entry, version, transforms, where)
    return Multiscale(
        group=group,
        group_path=group_path,
        version=version,
        axes=axes,
        axes_declared=declared,
        axes_from=axes_from,
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
    # ASCII digits only: '²'.isdigit() is true but int() refuses it
    names = [p.name for p in group.directory.iterdir() if p.is_dir() and p.name.isascii() and p.name.isdigit()]
    numbered = sorted(names, key=int)
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
