"""stackio plugin for PNG and JPEG: declarations and hooks only; reading lives in `reader` (Pillow)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from stackio import Detection, FormatSpec, ImageStack, Sample, Source, hookimpl

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
MAGIC = {"png": PNG_MAGIC, "jpeg": JPEG_MAGIC}


@hookimpl
def stackio_register_formats(register: Callable[[FormatSpec], None]) -> None:
    register(
        FormatSpec(
            name="png",
            suffixes=(".png", ".apng"),
            magic=(PNG_MAGIC,),
            heavy_modules=("PIL",),
            description="PNG images: 1/8/16-bit grey, RGB(A), palette, animated frames (Pillow)",
        )
    )
    register(
        FormatSpec(
            name="jpeg",
            suffixes=(".jpg", ".jpeg", ".jpe", ".jfif"),
            magic=(JPEG_MAGIC,),
            heavy_modules=("PIL",),
            description="JPEG images: grey, RGB or CMYK (Pillow)",
        )
    )


@hookimpl
def stackio_detect(format: str, source: Source) -> Detection:
    if source.header.startswith(MAGIC[format]):
        return Detection.accept(f"{format.upper()} magic bytes")
    return Detection.refuse(f"no {format.upper()} magic bytes")


@hookimpl
def stackio_load(format: str, source: Source, axes: str | None) -> Sequence[ImageStack]:
    from . import reader  # Pillow is imported only now

    return reader.load(source, axes, {}, format=format)  # the core reads into memory when asked


@hookimpl
def stackio_write_samples(directory: Path) -> Sequence[Sample]:
    from . import reader

    return reader.write_samples(Path(directory))


__all__ = ["stackio_detect", "stackio_load", "stackio_register_formats", "stackio_write_samples"]
