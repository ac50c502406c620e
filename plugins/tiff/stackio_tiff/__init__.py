"""stackio plugin for TIFF (OME-TIFF, ImageJ, BigTIFF, tiled, compressed): hooks only.

Reading lives in `reader`, which imports tifffile; nothing here does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackio import Detection, FormatSpec, ImageStack, Sample, Source, ValidationError, hookimpl
from stackio.remote import SCHEMES

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
OPTIONS = ("series", "level", "file_backed", "allow_missing", "storage_options")
#: Options of the OME-TIFF / ImageJ writer (see writer.py).
WRITE_OPTIONS = ("flavor", "compression", "tile", "bigtiff", "name")


@hookimpl
def stackio_register_formats(register: Callable[[FormatSpec], None]) -> None:
    register(
        FormatSpec(
            name="tiff",
            suffixes=SUFFIXES,
            directories=True,
            schemes=SCHEMES,
            options=OPTIONS,
            writes=(".ome.tif", ".ome.tiff", ".tif", ".tiff"),
            write_options=WRITE_OPTIONS,
            description="TIFF, BigTIFF, OME-TIFF (also multi-file), ImageJ hyperstacks, tiled and compressed",
        )
    )


def _ndtiff_member(path: Path) -> bool:
    name = path.name.lower()
    # ndstorage names the files of a dataset without a prefix NDTiffStack.tif, NDTiffStack_1.tif, ...
    member = name.startswith("ndtiffstack") or "_ndtiffstack" in name
    return member and (path.parent / "NDTiff.index").exists()


def _detect_directory(source: Source) -> Detection:
    names = source.names
    if "NDTiff.index" in names:
        return Detection.refuse("an NDTiff dataset folder (install stackio-ndtiff to read it)")
    lower = [n.lower() for n in names if not n.startswith(".")]
    companions = [n for n in lower if n.endswith(".companion.ome")]
    mmstack = [n for n in lower if "_mmstack" in n and n.endswith((".tif", ".tiff"))]
    ome = [n for n in lower if n.endswith((".ome.tif", ".ome.tiff"))]
    if not (companions or mmstack or len(ome) >= 2):
        return Detection.refuse(
            "a plain folder (no multi-file OME-TIFF or Micro-Manager set): each file is loaded on its own"
        )
    import stackio
    from stackio.dispatch import claims_by_suffix

    others = [e for e in stackio.formats() if e.name != "tiff"]
    assert source.path is not None
    foreign = sorted(
        n
        for n in names
        if not n.startswith(".")
        and not n.lower().endswith(SUFFIXES)
        and claims_by_suffix(others, Source.parse(source.path / n))
    )
    if foreign and not (companions or mmstack):
        return Detection.refuse(f"the folder also holds files of other formats ({', '.join(foreign[:3])})")
    what = "an OME companion file" if companions else "Micro-Manager stacks" if mmstack else "OME-TIFF files"
    return Detection.accept(f"a folder with {what}: multi-file sets are read once, each image from its first file")


@hookimpl
def stackio_detect(source: Source) -> Detection:
    if source.is_dir:
        return _detect_directory(source)
    header = source.header
    kind = MAGIC.get(header[:4])
    if kind is not None:
        if source.path is not None and _ndtiff_member(source.path):
            return Detection.refuse("a stack file of an NDTiff dataset; load its folder with stackio-ndtiff")
        return Detection.accept(f"{kind} header")
    if source.path is not None and source.path.name.lower().endswith(".companion.ome") and b"<OME" in header:
        return Detection.accept("OME-XML companion file")
    return Detection.refuse("no TIFF header (II*\\0, MM\\0*, or BigTIFF II+\\0, MM\\0+)")


def _check_int(source: Source, name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(
            f"{source}: {name}={value!r} must be a whole number >= 0, e.g. {name}=1", source=str(source)
        )


@hookimpl
def stackio_validate(source: Source, axes: str | None, options: dict[str, Any]) -> None:
    if source.path is None and source.uri is None:
        raise ValidationError(f"{source}: the tiff format reads files, folders and URLs only", source=str(source))
    _check_int(source, "series", options.get("series"))
    _check_int(source, "level", options.get("level"))
    for flag in ("file_backed", "allow_missing"):
        if flag in options and not isinstance(options[flag], bool):
            raise ValidationError(f"{source}: {flag}={options[flag]!r} must be True or False", source=str(source))
    series = options.get("series")
    if series is not None and source.index is not None and series != source.index:
        raise ValidationError(
            f"{source}: the source names series {source.index} (@{source.index}) but series={series} "
            "was also given; pass one of them",
            source=str(source),
        )


@hookimpl
def stackio_load(source: Source, axes: str | None, options: dict[str, Any], in_memory: bool) -> Sequence[ImageStack]:
    from . import reader  # tifffile is imported only now

    return reader.load(source, axes, options, in_memory)


@hookimpl
def stackio_open_writer(request: WriteRequest) -> DatasetWriter:
    from . import writer  # tifffile is imported only now

    return writer.open_writer(request)


@hookimpl
def stackio_write_samples(directory: Path) -> Sequence[Sample]:
    from . import samples

    return samples.write_samples(directory)
