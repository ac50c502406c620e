"""The array's declared shape and chunk grid, checked as written before zarr reads them.

zarr-python reads `true` as 1 in a shape and accepts a chunk size of 0 (every read then divides by
zero), so a corrupt zarr.json or .zarray loads and fails, or reads the wrong shape, later. The document
itself is checked instead: whole numbers (JSON booleans are not), sizes of 0 or more, chunks of 1 or more.
"""

from __future__ import annotations

from typing import Any

from stackio import ReadError

from .store import Node


def check_grid(node: Node, uri: str) -> None:
    """Refuse an array whose shape, chunk shape or shard's inner chunk shape is not a list of sizes."""
    doc = node.document
    name = "zarr.json" if node.zarr_format == 3 else ".zarray"
    if "shape" not in doc:
        return  # zarr itself says what is missing
    shape = _sizes(doc["shape"], "shape", name, uri, smallest=0)
    if node.zarr_format == 3:
        grid = doc.get("chunk_grid")
        config = grid.get("configuration") if isinstance(grid, dict) else None
        if isinstance(config, dict) and "chunk_shape" in config:
            _sizes(config["chunk_shape"], "chunk_grid chunk_shape", name, uri, smallest=1, ndim=len(shape))
        for codec in doc.get("codecs") or []:
            inner = codec.get("configuration") if isinstance(codec, dict) else None
            if codec_name(codec) == "sharding_indexed" and isinstance(inner, dict) and "chunk_shape" in inner:
                _sizes(inner["chunk_shape"], "sharding chunk_shape", name, uri, smallest=1, ndim=len(shape))
    elif "chunks" in doc:
        _sizes(doc["chunks"], "chunks", name, uri, smallest=1, ndim=len(shape))


def codec_name(codec: Any) -> str | None:
    return codec.get("name") if isinstance(codec, dict) else None


def _sizes(value: Any, what: str, name: str, uri: str, *, smallest: int, ndim: int | None = None) -> list[int]:
    fine = (
        isinstance(value, list)
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= smallest for n in value)
        and (ndim is None or len(value) == ndim)
    )
    if not fine:
        size = "of 0 or more" if smallest == 0 else f"of {smallest} or more"
        count = f"{ndim} " if ndim is not None else ""
        raise ReadError(
            f"{uri}: its {name} declares {what} {value!r}; it must be a list of {count}whole numbers {size} "
            "(not true/false, fractions or text): the array's metadata is corrupt, rewrite it or restore it",
            source=uri,
        )
    return value
