"""Fixtures for the ndtiff tests; the helpers live in `ndtiff_helpers` (importable from the tests)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from ndtiff_helpers import (
    flat_grid_dataset,
    grid_dataset,
    positions_dataset,
    rgb_dataset,
    sparse_dataset,
    tcz_dataset,
)

__all__ = [
    "flat_grid_dataset",
    "grid_dataset",
    "positions_dataset",
    "rgb_dataset",
    "sparse_dataset",
    "tcz_dataset",
]
