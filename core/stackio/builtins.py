"""The built-in 'array' format: numpy arrays passed to `load`, through the same hooks as any plugin."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .api import require_axes
from .formats import FormatSpec
from .hookspecs import hookimpl
from .protocol import ImageStack
from .source import Source
from .stacks import ArrayStack


@hookimpl
def stackio_register_formats(register: Any) -> None:
    register(
        FormatSpec(
            name="array",
            schemes=("array",),
            description="numpy arrays (and array-likes) already in memory",
            distribution="stackio",
        )
    )


@hookimpl
def stackio_validate(source: Source, axes: str | None) -> None:
    array = source.array
    require_axes(axes, array.shape, source, " for a numpy array (it carries no axes)")


@hookimpl
def stackio_load(source: Source, axes: str) -> Sequence[ImageStack]:
    array = np.asarray(source.array)
    # "array", as CAREamics' ImageStack protocol names in-memory data (load-time errors name the shape)
    return [ArrayStack.from_axes(array, axes, source="array")]
