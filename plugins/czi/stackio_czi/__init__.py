"""stackio plugin for Zeiss CZI: declarations and hooks only; reading lives in `reader`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from stackio import AxesError, FormatSpec, ImageStack, Option, Sample, Source, hookimpl

#: The first bytes of every CZI file: the id of its file-header segment.
MAGIC = b"ZISRAWFILE"
#: The stack layouts this plugin produces; `axes` must be one of them (or None).
AXES = ("SCYX", "SCZYX", "SCTYX")
OPTIONS = (
    Option("scene", int, "a scene index of the file; file@N says the same", minimum=0, index=True),
    Option(
        "background",
        float,
        "fill for pixels no subblock covers: a fraction 0..1 of the integer pixel type's range, "
        "or the value itself for float pixel types",
        identifies=True,
    ),
    Option(
        "cache_mb",
        float,
        "MiB of decoded compressed subblocks kept per open stack; 0 turns the cache off",
        minimum=0,
    ),
)


@hookimpl
def stackio_register_formats(register: Callable[[FormatSpec], None]) -> None:
    register(
        FormatSpec(
            name="czi",
            suffixes=(".czi",),
            # URLs through pylibCZIrw's libcurl input, which reads http(s) only
            schemes=("http", "https"),
            magic=(MAGIC,),
            options=OPTIONS,
            heavy_modules=("pylibCZIrw", "aicspylibczi"),
            description="Zeiss CZI (pylibCZIrw): one stack per scene, mosaics stitched, Z or T as depth",
        )
    )


@hookimpl
def stackio_validate(source: Source, axes: str | None) -> None:
    if axes is not None and axes not in AXES:
        raise AxesError(
            f"{source}: axes {axes!r} cannot describe a CZI stack; pass one of {', '.join(AXES)} "
            "(SCZYX or SCTYX picks Z or T as the depth axis; every other dimension is merged into S), "
            "or None to use SCZYX when the file has Z > 1, else SCYX",
            source=str(source),
        )


@hookimpl
def stackio_load(source: Source, axes: str | None, options: dict[str, Any]) -> Sequence[ImageStack]:
    from . import reader  # pylibCZIrw is imported only now

    return reader.load(source, axes, options)  # scene is file@N already; the reader reads either


@hookimpl
def stackio_write_samples(directory: Path) -> Sequence[Sample]:
    from . import samples

    return samples.write_samples(directory)
