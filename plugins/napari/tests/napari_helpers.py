"""Helpers shared by the stackio-napari tests (importable from them; conftest puts this folder on the path)."""

from __future__ import annotations

from importlib import metadata as importlib_metadata
from typing import Any

import numpy as np

PLUGIN = "stackio-napari"


def format_plugins() -> list[Any]:
    """The installed stackio plugins' entry points, by name."""
    return sorted(importlib_metadata.entry_points(group="stackio"), key=lambda ep: ep.name)


def full_array(stack: Any) -> np.ndarray:
    """A stack's every voxel, SC(Z)YX, read with `extract_patch` (what stackio.load gives)."""
    shape = tuple(stack.data_shape)
    return np.stack([stack.extract_patch(s, None, (0,) * (len(shape) - 2), shape[2:]) for s in range(shape[0])])
