"""stackio plugin for MyFormat: declarations and hooks only; reading lives in `reader`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from stackio import Detection, FormatSpec, ImageStack, Source, hookimpl

MAGIC = b"MYFORMAT"


@hookimpl
def stackio_register_formats(register: Callable[[FormatSpec], None]) -> None:
    register(FormatSpec(name="myformat", suffixes=(".myf",), options=(), description="MyFormat files"))


@hookimpl
def stackio_detect(source: Source) -> Detection:
    if source.header.startswith(MAGIC):
        return Detection.accept("MyFormat magic bytes")
    return Detection.refuse("no MyFormat magic bytes")


@hookimpl
def stackio_load(source: Source, axes: str | None, options: dict[str, Any], in_memory: bool) -> Sequence[ImageStack]:
    from . import reader  # the format library is imported only now

    return reader.load(source, axes, in_memory=in_memory, **options)
