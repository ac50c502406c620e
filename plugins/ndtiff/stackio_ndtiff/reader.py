"""Loading an NDTiff dataset folder as one lazy stack (no ndstorage, no dask, nothing on stdout)."""

from __future__ import annotations

from typing import Any

from stackio import ImageStack, LazyStack, Source, ValidationError

from .dataset import build, check_axes, check_options


def dataset_name(source: Source) -> str:
    return str(source)


def validate(source: Source, axes: str | None, options: dict[str, Any]) -> None:
    """Reject bad axes, options and sources before the index is read."""
    name = dataset_name(source)
    check_axes(name, axes)
    check_options(name, options)
    if source.index is not None:
        raise ValidationError(
            f"{name}: an NDTiff dataset has no numbered scenes (@{source.index}); positions are samples "
            f"of the stack, or pick one with select={{'position': {source.index}}}",
            source=name,
        )
    if source.path is None or not source.is_dir:
        raise ValidationError(
            f"{name}: an NDTiff dataset is a folder (holding NDTiff.index and *_NDTiffStack.tif files); "
            "pass that folder, not a file inside it",
            source=name,
        )


def load(source: Source, axes: str | None, options: dict[str, Any]) -> list[ImageStack]:
    validate(source, axes, options)
    assert source.path is not None
    name = dataset_name(source)
    loaded = build(source.path, name, axes, check_options(name, options))
    stack = LazyStack(
        str(source.path.resolve()),
        loaded.layout,
        loaded.plan.dtype,
        loaded.plan,
        metadata=loaded.metadata,
        chunks=loaded.chunks,
        load_options=dict(options),
    )
    return [stack]
