"""stackio plugin for TIFF (OME-TIFF, ImageJ, BigTIFF, tiled, compressed): hooks only.

Reading lives in `reader`, which imports tifffile; nothing here does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackio import Detection, FormatSpec, ImageStack, Option, Sample, Source, ValidationError, hookimpl
from stackio.source import SCHEMES

if TYPE_CHECKING:
    from stackio.writing import DatasetWriter, WriteRequest

#: Classic TIFF and BigTIFF, little- and big-endian.
MAGIC = {b"II*\x00": "TIFF", b"MM\x00*": "TIFF (big-endian)", b"II+\x00": "BigTIFF", b"MM\x00+": "BigTIFF (big-endian)"}
SUFFIXES = (
    ".ome.tif",
    ".ome.tiff",
    ".tif",
    ".tiff",
    ".btf",
    ".tf8",
    ".tf2",
    ".svs",
    ".qptiff",
    ".ndpi",
    ".scn",
    ".lsm",
    ".stk",
    ".companion.ome",
)
OPTIONS = (
    Option(
        "series", int, "the image (OME image or TIFF series) of the file; file@N says the same", minimum=0, index=True
    ),
    Option("level", int, "the pyramid level, 0 is full resolution", minimum=0, identifies=True),
    Option("file_backed", bool, "read the whole image once on first access instead of patch by patch"),
    Option("allow_missing", bool, "zero-fill the planes of a multi-file set whose file is missing", identifies=True),
    Option(
        "storage_options", Mapping, "fsspec storage options for a URL (credentials, endpoint); never in load_options"
    ),
)
#: Options of the OME-TIFF / ImageJ writer (see writer.py).
WRITE_OPTIONS = ("flavor", "compression", "tile", "bigtiff", "name")


@hookimpl
def stackio_register_formats(register: Callable[[FormatSpec], None]) -> None:
    register(
        FormatSpec(
            name="tiff",
            suffixes=SUFFIXES,
            magic=tuple(MAGIC),
            directories=True,
            schemes=SCHEMES,
            file_sets=True,
            options=OPTIONS,
            writes=(".ome.tif", ".ome.tiff", ".tif", ".tiff"),
            write_options=WRITE_OPTIONS,
            heavy_modules=("tifffile", "imagecodecs"),
            description="TIFF, BigTIFF, OME-TIFF (also multi-file), ImageJ hyperstacks, tiled and compressed",
        )
    )


def file_set_kind(names: Iterable[str]) -> str | None:
    """What multi-file set a folder with these file names may hold, or None for plain files."""
    lower = [n.lower() for n in names if not n.startswith(".")]
    if any(n.endswith(".companion.ome") for n in lower):
        return "an OME companion file"
    if any("_mmstack" in n and n.endswith((".tif", ".tiff")) for n in lower):
        return "Micro-Manager stacks"
    if sum(n.endswith((".ome.tif", ".ome.tiff")) for n in lower) >= 2:
        return "OME-TIFF files"
    return None


def _detect_directory(source: Source) -> Detection:
    what = file_set_kind(source.names)
    if what is None:
        return Detection.refuse(
            "a plain folder (no multi-file OME-TIFF or Micro-Manager set): each file is loaded on its own"
        )
    # the core divides the folder: the tiff format gets its files as one group, other files go to their formats
    return Detection.accept(f"a folder with {what}: multi-file sets are read once, each image from its first file")


@hookimpl
def stackio_detect(source: Source) -> Detection:
    if source.is_dir:
        return _detect_directory(source)
    header = source.header
    kind = MAGIC.get(header[:4])
    if kind is not None:
        return Detection.accept(f"{kind} header")
    if source.path is not None and source.path.name.lower().endswith(".companion.ome") and b"<OME" in header:
        return Detection.accept("OME-XML companion file")
    return Detection.refuse("no TIFF header (II*\\0, MM\\0*, or BigTIFF II+\\0, MM\\0+)")


@hookimpl
def stackio_validate(source: Source) -> None:
    if source.path is None and source.uri is None:
        raise ValidationError(f"{source}: the tiff format reads files, folders and URLs only", source=str(source))


@hookimpl
def stackio_load(source: Source, axes: str | None, options: dict[str, Any]) -> Sequence[ImageStack]:
    from . import reader  # tifffile is imported only now

    return reader.load(source, axes, options)


@hookimpl
def stackio_open_writer(request: WriteRequest) -> DatasetWriter:
    from . import writer  # tifffile is imported only now

    return writer.open_writer(request)


@hookimpl
def stackio_write_samples(directory: Path) -> Sequence[Sample]:
    from . import samples

    return samples.write_samples(directory)


__all__ = ["file_set_kind"]
