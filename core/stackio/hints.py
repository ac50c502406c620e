"""Formats stackio can point a user to when their plugin is not installed.

Each row repeats what the plugin itself declares (its `FormatSpec`), because
the plugin is exactly what is missing when the row is needed; a test checks
every row against the installed plugins' declarations so they cannot drift.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class KnownFormat:
    """A format stackio can point a user to when its plugin is not installed."""

    name: str
    distribution: str
    suffixes: tuple[str, ...] = ()
    markers: tuple[str, ...] = ()
    magic: tuple[bytes, ...] = ()


_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_TIFF = (".ome.tif", ".ome.tiff", ".tif", ".tiff", ".btf", ".tf8", ".tf2", ".svs", ".qptiff", ".ndpi", ".scn")

KNOWN_FORMATS: tuple[KnownFormat, ...] = (
    KnownFormat("tiff", "stackio-tiff", (*_TIFF, ".lsm", ".stk", ".companion.ome"), magic=_TIFF_MAGIC),
    KnownFormat("czi", "stackio-czi", (".czi",), magic=(b"ZISRAWFILE",)),
    KnownFormat("zarr", "stackio-zarr", (".zarr", ".ome.zarr"), markers=("zarr.json", ".zgroup", ".zarray")),
    KnownFormat("ndtiff", "stackio-ndtiff", markers=("NDTiff.index", "Full resolution/NDTiff.index")),
    KnownFormat("numpy", "stackio-custom", (".npy", ".npz"), magic=(b"\x93NUMPY",)),
    KnownFormat("custom", "stackio-custom"),
    KnownFormat("png", "stackio-png", (".png", ".apng"), magic=(b"\x89PNG\r\n\x1a\n",)),
    KnownFormat("jpeg", "stackio-png", (".jpg", ".jpeg", ".jpe", ".jfif"), magic=(b"\xff\xd8\xff",)),
)


def known_by_name(name: str) -> KnownFormat | None:
    return next((k for k in KNOWN_FORMATS if k.name == name), None)


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
