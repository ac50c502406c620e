"""Format declarations, and the table of formats stackio knows how to get."""

from __future__ import annotations

import re

import attrs

_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


def _lower_tuple(values: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(v.lower() for v in values)


@attrs.frozen
class FormatSpec:
    """What a plugin declares about one format; read without importing reader code.

    The core dispatches on these fields alone: `schemes` for URIs, `suffixes`
    (longest first) for paths, `markers` (paths relative to a directory, globs
    allowed) for dataset directories; `priority` (higher first) then `name`
    break ties, never install order.
    """

    name: str
    suffixes: tuple[str, ...] = attrs.field(default=(), converter=_lower_tuple)
    schemes: tuple[str, ...] = attrs.field(default=(), converter=_lower_tuple)
    #: Whether a directory can be one source of this format (a store, a dataset folder).
    directories: bool = False
    markers: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    priority: int = 0
    #: Names of the options `load` accepts for this format; any other is an error.
    options: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    #: Whether options beyond `options` are accepted and passed on (e.g. to a user's loader).
    pass_through_options: bool = False
    #: What `in_memory` means when the caller leaves it unset (None).
    in_memory_default: bool = False
    #: Options that, when passed, select this format whatever the source looks like.
    selected_by: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    description: str = ""
    #: Destination suffixes this format writes (longest match wins), empty when it only reads.
    writes: tuple[str, ...] = attrs.field(default=(), converter=_lower_tuple)
    #: Names of the options `save`/`create`/`convert` pass to its writer; any other is an error.
    write_options: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    #: The distribution that provides the format; filled from the entry point if unset.
    distribution: str | None = None

    def problems(self) -> list[str]:
        """Why this declaration is invalid (empty when valid)."""
        out = []
        if not _NAME.match(self.name):
            out.append(f"format name {self.name!r} must be lower-case letters, digits, '-' or '_'")
        out += [f"suffix {s!r} must start with '.'" for s in (*self.suffixes, *self.writes) if not s.startswith(".")]
        out += [f"scheme {s!r} must be letters only, without '://'" for s in self.schemes if not s.isalnum()]
        if self.markers and not self.directories:
            out.append("markers are given but directories=False")
        if not isinstance(self.priority, int):
            out.append(f"priority must be an int, not {self.priority!r}")
        return out


@attrs.frozen
class KnownFormat:
    """A format stackio can point a user to when its plugin is not installed."""

    name: str
    distribution: str
    suffixes: tuple[str, ...] = ()
    markers: tuple[str, ...] = ()
    magic: tuple[bytes, ...] = ()


KNOWN_FORMATS: tuple[KnownFormat, ...] = (
    KnownFormat(
        "tiff",
        "stackio-tiff",
        (
            ".tif",
            ".tiff",
            ".ome.tif",
            ".ome.tiff",
            ".btf",
            ".tf8",
            ".tf2",
            ".lsm",
            ".stk",
            ".svs",
            ".qptiff",
            ".ndpi",
            ".scn",
        ),
        magic=(b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"),
    ),
    KnownFormat("czi", "stackio-czi", (".czi",), magic=(b"ZISRAWFILE",)),
    KnownFormat("zarr", "stackio-zarr", (".zarr", ".ome.zarr"), markers=("zarr.json", ".zgroup", ".zarray")),
    KnownFormat("ndtiff", "stackio-ndtiff", markers=("NDTiff.index", "Full resolution/NDTiff.index")),
    KnownFormat("numpy", "stackio-custom", (".npy", ".npz"), magic=(b"\x93NUMPY",)),
    KnownFormat(
        "png",
        "stackio-png",
        (".png", ".apng", ".jpg", ".jpeg"),
        magic=(b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"),
    ),
)


def known_format_for(
    suffixes: list[str], header: bytes = b"", names: frozenset[str] = frozenset()
) -> KnownFormat | None:
    """The known format a source looks like, by suffix, header magic or directory markers."""
    for known in KNOWN_FORMATS:
        if any(s in known.suffixes for s in suffixes):
            return known
    for known in KNOWN_FORMATS:
        if header and any(header.startswith(m) for m in known.magic):
            return known
        if names and any(m in names for m in known.markers):
            return known
    return None
