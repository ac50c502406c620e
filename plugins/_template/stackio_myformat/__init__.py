"""stackio plugin for MyFormat: declarations and hooks only; reading lives in `reader`, samples in `samples`.

This module is imported when stackio discovers plugins, so it imports nothing heavy: a real plugin's
format library is imported inside `reader` and `samples`, which the hooks import only when called.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from stackio import FormatSpec, ImageStack, Sample, Source, hookimpl

#: The first bytes of every MyFormat file.
MAGIC = b"MYFORMAT"
SUFFIXES = (".myf",)


@hookimpl
def stackio_register_formats(register: Callable[[FormatSpec], None]) -> None:
    register(
        FormatSpec(
            name="myformat",
            suffixes=SUFFIXES,
            magic=(MAGIC,),  # the core's content check: no stackio_detect needed
            description="MyFormat files: a JSON header and raw pixels (the stackio plugin template)",
        )
    )


@hookimpl
def stackio_load(source: Source, axes: str | None, options: dict[str, Any]) -> Sequence[ImageStack]:
    from . import reader  # the format library would be imported only now

    return reader.load(source, axes, options)


@hookimpl
def stackio_write_samples(directory: Path) -> Sequence[Sample]:
    from . import samples

    return samples.write_samples(Path(directory))
