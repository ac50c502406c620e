"""stackio plugin for Zeiss CZI: declarations and hooks only; reading lives in `reader`."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from stackio import AxesError, Detection, FormatSpec, ImageStack, Sample, Source, ValidationError, hookimpl

#: The first bytes of every CZI file: the id of its file-header segment.
MAGIC = b"ZISRAWFILE"
#: The stack layouts this plugin produces; `axes` must be one of them (or None).
AXES = ("SCYX", "SCZYX", "SCTYX")
OPTIONS = ("scene", "background", "cache_mb")


@hookimpl
def stackio_register_formats(register: Callable[[FormatSpec], None]) -> None:
    register(
        FormatSpec(
            name="czi",
            suffixes=(".czi",),
            # URLs through pylibCZIrw's libcurl input, which reads http(s) only
            schemes=("http", "https"),
            options=OPTIONS,
            description="Zeiss CZI (pylibCZIrw): one stack per scene, mosaics stitched, Z or T as depth",
        )
    )


@hookimpl
def stackio_detect(source: Source) -> Detection:
    if source.header.startswith(MAGIC):
        return Detection.accept("CZI file-header magic 'ZISRAWFILE'")
    return Detection.refuse("no CZI file-header magic 'ZISRAWFILE'")


@hookimpl
def stackio_validate(source: Source, axes: str | None, options: dict[str, Any]) -> None:
    if axes is not None and axes not in AXES:
        raise AxesError(
            f"{source}: axes {axes!r} cannot describe a CZI stack; pass one of {', '.join(AXES)} "
            "(SCZYX or SCTYX picks Z or T as the depth axis; every other dimension is merged into S), "
            "or None to use SCZYX when the file has Z > 1, else SCYX",
            source=str(source),
        )
    scene = options.get("scene")
    if scene is not None:
        if isinstance(scene, bool) or not isinstance(scene, numbers.Integral) or scene < 0:
            raise ValidationError(
                f"{source}: scene must be a non-negative int (a scene index of the file), not {scene!r}",
                source=str(source),
            )
        if source.index is not None:
            raise ValidationError(
                f"{source}: the scene is given twice, as '@{source.index}' in the path and as "
                f"scene={scene}; give it in one place only",
                source=str(source),
            )
    background = options.get("background")
    if background is not None and (isinstance(background, bool) or not isinstance(background, numbers.Real)):
        raise ValidationError(
            f"{source}: background must be a number (a fraction 0..1 of the integer pixel type's range, "
            f"or the value itself for float pixel types), not {background!r}",
            source=str(source),
        )
    cache_mb = options.get("cache_mb")
    if cache_mb is not None and (
        isinstance(cache_mb, bool) or not isinstance(cache_mb, numbers.Real) or not cache_mb >= 0
    ):
        raise ValidationError(
            f"{source}: cache_mb must be a number >= 0 (MiB of decoded compressed subblocks kept per open "
            f"stack; 0 turns the cache off), not {cache_mb!r}",
            source=str(source),
        )


@hookimpl
def stackio_load(source: Source, axes: str | None, options: dict[str, Any]) -> Sequence[ImageStack]:
    from . import reader  # pylibCZIrw is imported only now

    return reader.load(source, axes, **options)


@hookimpl
def stackio_write_samples(directory: Path) -> Sequence[Sample]:
    from . import samples

    return samples.write_samples(directory)
