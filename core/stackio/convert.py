"""`stackio.convert` and `stackio convert`: load a source lazily and write it region by region."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import ValidationError
from .saving import write_stacks


def _pick(stacks: list[Any], scene: int | Sequence[int] | None, source: object) -> list[Any]:
    if scene is None:
        return stacks
    wanted = [scene] if isinstance(scene, int) else list(scene)
    bad = [s for s in wanted if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < len(stacks)]
    if bad or not wanted:
        raise ValidationError(
            f"{source}: scene {scene!r} does not exist; it has {len(stacks)} scene(s), 0 to {len(stacks) - 1}",
            source=str(source),
        )
    return [stacks[s] for s in wanted]


def convert(
    source: Any,
    dest: str | os.PathLike[str],
    *,
    axes: str | None = None,
    scene: int | Sequence[int] | None = None,
    level: int | None = None,
    format: str | None = None,
    overwrite: bool = False,
    chunks: Sequence[int] | None = None,
    shards: Sequence[int] | None = None,
    pyramid: int | str = 1,
    workers: int = 1,
    client: Any = None,
    progress: bool | None = None,
    load_options: dict[str, Any] | None = None,
    **options: Any,
) -> Path:
    """Convert `source` (anything `stackio.load` reads) to `dest`, never holding the image in memory.

    `scene` picks scenes (an index or a list), `level` a pyramid level of the source. Regions of
    whole destination chunks (or shards) are read with `extract_patch` and written by `workers`
    threads, or by the workers of a dask.distributed `client`. `progress=None` shows a bar on a
    terminal only. Other options go to the destination's writer (see `stackio.save`).
    """
    from .api import load

    extra = dict(load_options or {})
    if level is not None:
        extra["level"] = level
    stacks = _pick(load(source, axes, **extra), scene, source)
    try:
        return write_stacks(
            stacks,
            dest,
            format=format,
            overwrite=overwrite,
            chunks=chunks,
            shards=shards,
            pyramid=pyramid,
            workers=workers,
            client=client,
            progress=progress,
            sources=[source] if isinstance(source, (str, os.PathLike)) else [],
            options=options,
        )
    finally:
        for stack in stacks:
            close = getattr(stack, "close", None)
            if callable(close):
                close()
