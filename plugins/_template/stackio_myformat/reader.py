"""Reading MyFormat files (imports the format library)."""

from __future__ import annotations

from stackio import ImageStack, Source


def load(source: Source, axes: str | None, *, in_memory: bool) -> list[ImageStack]:
    raise NotImplementedError("the template reads nothing; replace this with the format's reader")
