"""Finding zarr nodes and reading their metadata JSON (no zarr import), on local disk or at a URL.

A *node* is a group or an array directory; the *store root* is the topmost
directory of an unbroken chain of group directories above it. Remote locations
(`remote.RemotePath`) answer the same calls by fetching metadata documents, never
by listing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import attrs
from stackio import ReadError, SourceNotFoundError, natural_key
from stackio.files import confined_parts
from stackio.remote import looks_like_html

from .remote import is_remote_path

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
    if looks_like_html(text):
        raise ReadError(
            f"{path}: the server answered with an HTML page where the {what} (JSON) was expected; the URL "
            "may point at a web page, an error page or a login page rather than at the store",
            source=str(path),
        )
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


def _markers(zarr_format: int | None) -> tuple[str, ...]:
    # A hierarchy is one zarr format: knowing it saves a remote store the requests for the other's files.
    return {3: ("zarr.json",), 2: (".zgroup", ".zarray")}.get(zarr_format, MARKERS)  # type: ignore[arg-type]


def has_marker(directory: Path, zarr_format: int | None = None) -> bool:
    return any((directory / m).is_file() for m in _markers(zarr_format))


def read_node(directory: Path, zarr_format: int | None = None) -> Node | None:
    """The node in `directory`, or None when it holds no zarr metadata (of `zarr_format`, when given)."""
    v3 = directory / "zarr.json"
    if zarr_format != 2 and v3.is_file():
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
    if zarr_format == 3:
        return None
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


def store_root(directory: Path, zarr_format: int | None = None) -> Path:
    """The topmost directory of the chain of zarr groups holding `directory`."""
    root = directory
    while (
        root.parent != root
        and has_marker(root.parent, zarr_format)
        and (zarr_format == 3 or not (root.parent / ".zarray").is_file())
    ):
        root = root.parent
    return root


def enclosing_store(directory: Path) -> Path | None:
    """The store root of the nearest ancestor that is a zarr node, if any."""
    for parent in directory.parents:
        if has_marker(parent):
            return store_root(parent)
    return None


def _consolidated(directory: Path, zarr_format: int) -> dict[str, str] | None:
    """Member path -> kind from the consolidated metadata stored at `directory`, if any."""
    if zarr_format == 3:
        node = read_node(directory, 3)
        consolidated = node.document.get("consolidated_metadata") if node is not None else None
        members = consolidated.get("metadata") if isinstance(consolidated, dict) else None
        if not isinstance(members, dict):
            return None
        return {
            k: v["node_type"]
            for k, v in members.items()
            if isinstance(v, dict) and v.get("node_type") in ("group", "array")
        }
    document = directory / ".zmetadata"
    if not document.is_file():
        return None
    members = _read_json(document, "consolidated zarr v2 metadata (.zmetadata)").get("metadata")
    if not isinstance(members, dict):
        return None
    out: dict[str, str] = {}
    for key in members:
        name, _, marker = str(key).rpartition("/")
        if name and marker in (".zarray", ".zgroup"):
            out[name] = "array" if marker == ".zarray" else "group"
    return out


def consolidated_children(node: Node, top: Path | None = None) -> dict[str, str] | None:
    """Child name -> kind ('group' or 'array') from consolidated metadata: the group's own, or that of
    a group above it up to `top` (zarr consolidates a whole hierarchy at its root)."""
    directory = node.directory
    prefix = ""
    while True:
        members = _consolidated(directory, node.zarr_format)
        if members is not None:
            inner = {k[len(prefix) :]: v for k, v in members.items() if k.startswith(prefix)}
            return {k: v for k, v in inner.items() if k and "/" not in k}
        if top is None or directory == top or directory.parent == directory:
            return None
        prefix = f"{directory.name}/{prefix}"
        directory = directory.parent


def child_names(node: Node, kind: str | None = None) -> list[str]:
    """Names of the groups/arrays directly in a group, in natural order (hidden entries skipped).

    A remote group has no listing: its consolidated metadata says what it holds.
    """
    if is_remote_path(node.directory):
        members = consolidated_children(node, node.directory.tree.path())  # type: ignore[attr-defined]
        if members is None:
            node.directory.iterdir()  # raises the error that explains why a remote group cannot be listed
            return []
        return sorted((n for n, k in members.items() if kind is None or k == kind), key=natural_key)
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
    """An internal path from metadata or a URI, refused if it could leave the store (stackio's one rule
    for the names a dataset records)."""
    return "/".join(confined_parts(path, source=source, what=where, container="the zarr store"))


def locate(path: Path, source: object) -> Location:
    """The zarr node at `path` (a store, a group or an array directory) and its store."""
    remote = is_remote_path(path)
    if remote and not path.exists():
        raise SourceNotFoundError(
            f"{source}: no zarr store, group or array at this URL (the server has none of zarr.json, "
            ".zgroup, .zarray there); check the URL",
            source=str(source),
        )
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
    # A remote group is taken as its own root: probing the levels above it would cost requests for
    # nothing. An array still looks up, to find the OME-Zarr image it may be a level of.
    root = path if remote and node.kind == "group" else store_root(path, node.zarr_format)
    internal = path.relative_to(root).as_posix()
    return Location(root, "" if internal == "." else internal, node)


def _listing(store: Path) -> str:
    if is_remote_path(store):
        return "stackio does not list remote stores"
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
        node = read_node(directory, location.node.zarr_format)
        if node is None or node.kind != "group":
            continue
        out.append((node, "/".join(parts[depth:])))
    return out
