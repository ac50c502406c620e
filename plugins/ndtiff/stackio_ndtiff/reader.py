"""Loading an NDTiff dataset folder as one lazy stack (no ndstorage, no dask, nothing on stdout).

`load` goes locate (the dataset folder) -> plan (its index read, the planes laid out as the stack the
axes and options ask for, in `dataset`) -> build (the `LazyStack` over that plan).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stackio import ImageStack, LazyStack, Source, ValidationError

from . import dataset
from .dataset import check_axes, check_options
from .image_meta import NdtiffImages


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
    """The one lazy stack of an NDTiff dataset folder."""
    root = locate(source, axes, options)
    loaded = plan(source, root, axes, options)
    return [build(source, loaded, options)]


def locate(source: Source, axes: str | None, options: dict[str, Any]) -> Path:
    """The dataset folder, once the source, axes and options are known to be acceptable."""
    validate(source, axes, options)
    assert source.path is not None
    return source.path


def plan(source: Source, root: Path, axes: str | None, options: dict[str, Any]) -> dataset.Loaded:
    """Read the dataset's index and lay out the stack asked for."""
    name = dataset_name(source)
    return dataset.build(root, name, axes, check_options(name, options))


def build(source: Source, loaded: dataset.Loaded, options: dict[str, Any]) -> ImageStack:
    """The lazy stack over the planned planes; the options that chose them travel in `load_options`."""
    assert source.path is not None
    return LazyStack(
        str(source.path.resolve()),
        loaded.layout,
        loaded.plan.dtype,
        loaded.plan,
        metadata=loaded.metadata,
        chunks=loaded.chunks,
        load_options=dict(options),
        image_metadata=NdtiffImages(loaded.images, loaded.layout.original_axes) if loaded.images else None,
    )
