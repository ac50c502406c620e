"""Finding zarr nodes on local disk and reading their metadata JSON (no zarr import).

A *node* is a group or an array directory; the *store root* is the topmost
directory of an unbroken chain of group directories above it.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import attrs
from stackio import ReadError, SourceNotFoundError, ValidationError, natural_key

MARKERS = ("zarr.json", ".zgroup", ".zarray")


#: The zarr formats: v2 and v3.
ZarrFormat = Literal[2, 3]


@attrs.frozen
class Node:
    """One group or array directory and its declared metadata."""

    directory: Path
    zarr_format: ZarrFormat
    kind: Literal["group", "array"]
    attributes: dict[str, Any]
    #: The metadata document itself (zarr.json, or .zarray/.zgroup for v2).
    document: dict[str, Any]


@attrs.frozen
class Location:
    """A node and the store it belongs to."""

    root: Path
    #: Path of the node inside the store, '/'-separated, '' for the root.
    internal: str
    node: Node

    @property
    def uri(self) -> str:
        return self.node.directory.as_uri()


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ReadError(f"{path}: could not read the {what} ({exc})", source=str(path)) from exc
    try:
        value = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReadError(
            f"{path}: the {what} is not valid JSON ({exc}); the store's metadata is corrupt, "
            "rewrite it or restore it from a copy",
            source=str(path),
        ) from exc
    if not isinstance(value, dict):
        raise ReadError(
            f"{path}: the {what} should hold a JSON object, not {type(value).__name__}; "
            "the store's metadata is corrupt",
            source=str(path),
        )
    return value


def has_marker(directory: Path) -> bool:
    return any((directory / m).is_file() for m in MARKERS)


def read_node(directory: Path) -> Node | None:
    """The node in `directory`, or None when it holds no zarr metadata."""
    v3 = directory / "zarr.json"
    if v3.is_file():
        doc = _read_json(v3, "zarr metadata (zarr.json)")
        kind = doc.get("node_type")
        if doc.get("zarr_format") != 3 or kind not in ("group", "array"):
            raise ReadError(
                f"{v3}: not zarr v3 metadata (zarr_format={doc.get('zarr_format')!r}, "
                f"node_type={kind!r}); expected zarr_format 3 and node_type 'group' or 'array'",
                source=str(v3),
            )
        attributes = doc.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise ReadError(f"{v3}: 'attributes' should be a JSON object", source=str(v3))
        return Node(directory, 3, kind, attributes, doc)
    for name, kind in ((".zarray", "array"), (".zgroup", "group")):
        marker = directory / name
        if marker.is_file():
            doc = _read_json(marker, f"zarr v2 metadata ({name})")
            if doc.get("zarr_format") != 2:
                raise ReadError(
                    f"{marker}: zarr_format is {doc.get('zarr_format')!r}, expected 2",
                    source=str(marker),
                )
            attrs_file = directory / ".zattrs"
            attributes = _read_json(attrs_file, "zarr v2 attributes (.zattrs)") if attrs_file.is_file() else {}
            return Node(directory, 2, kind, attributes, doc)  # type: ignore[arg-type]
    return None


def store_root(directory: Path) -> Path:
    """The topmost directory of the chain of zarr groups holding `directory`."""
    root = directory
    while root.parent != root and has_marker(root.parent) and not (root.parent / ".zarray").is_file():
        root = root.parent
    return root


def enclosing_store(directory: Path) -> Path | None:
    """The store root of the nearest ancestor that is a zarr node, if any."""
    for parent in directory.parents:
        if has_marker(parent):
            return store_root(parent)
    return None


def child_names(node: Node, kind: str | None = None) -> list[str]:
    """Names of the groups/arrays directly in a group, in natural order (hidden entries skipped)."""
    out = []
    try:
        entries = sorted((p for p in node.directory.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name))
    except OSError as exc:
        raise ReadError(f"{node.directory}: could not list the group ({exc})", source=str(node.directory)) from exc
    for entry in entries:
        if entry.name.startswith("."):
            continue
        child = read_node(entry) if has_marker(entry) else None
        if child is not None and (kind is None or child.kind == kind):
            out.append(entry.name)
    return out


def check_internal(path: str, where: str, source: object) -> str:
    """An internal path from metadata or a URI, refused if it could leave the store."""
    parts = PurePosixPath(path).parts
    if path.startswith("/") or ".." in parts or "\\" in path:
        raise ValidationError(
            f"{source}: {where} {path!r} would leave the zarr store; internal paths are relative "
            "and never contain '..'",
            source=str(source),
        )
    return "/".join(p for p in parts if p != ".")


def locate(path: Path, source: object) -> Location:
    """The zarr node at `path` (a store, a group or an array directory) and its store."""
    if not path.exists():
        store = enclosing_store(path)
        if store is not None:
            raise SourceNotFoundError(
                f"{source}: the zarr store {store} has no group or array "
                f"{path.relative_to(store).as_posix()!r}; {_listing(store)}",
                source=str(source),
            )
        raise SourceNotFoundError(f"{source}: no such file or directory", source=str(source))
    if not path.is_dir():
        raise ReadError(
            f"{source}: is a file, but a zarr store is a directory holding zarr.json, .zgroup or "
            ".zarray (zip stores are not supported); pass the store directory",
            source=str(source),
        )
    node = read_node(path)
    if node is None:
        store = enclosing_store(path)
        if store is not None:
            raise ReadError(
                f"{source}: is a directory inside the zarr store {store} but neither a group nor "
                f"an array (it has no zarr.json, .zgroup or .zarray); {_listing(store)}",
                source=str(source),
            )
        raise ReadError(
            f"{source}: is not a zarr store: the directory has none of zarr.json, .zgroup, .zarray; "
            "pass the store's own directory (or a group or array inside it)",
            source=str(source),
        )
    root = store_root(path)
    internal = path.relative_to(root).as_posix()
    return Location(root, "" if internal == "." else internal, node)


def _listing(store: Path) -> str:
    node = read_node(store)
    names = child_names(node) if node is not None and node.kind == "group" else []
    if not names:
        return "its root holds no groups or arrays"
    return "its root holds: " + ", ".join(names)


def ancestors(location: Location) -> list[tuple[Node, str]]:
    """Each group above the node inside the store, nearest first, with the node's path relative to it."""
    out = []
    parts = location.internal.split("/") if location.internal else []
    for depth in range(len(parts) - 1, -1, -1):
        directory = location.root.joinpath(*parts[:depth]) if depth else location.root
        node = read_node(directory)
        if node is None or node.kind != "group":
            continue
        out.append((node, "/".join(parts[depth:])))
    return out
