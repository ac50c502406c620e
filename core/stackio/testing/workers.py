"""Functions worker processes run in tests (importable by name, as spawned processes need)."""

from __future__ import annotations

from typing import Any

import numpy as np


def read_patch(job: tuple[Any, int, tuple[int, ...], tuple[int, ...]]) -> np.ndarray:
    """`stack.extract_patch(sample, None, coords, size)` for a stack pickled into this process."""
    stack, sample, coords, size = job
    return stack.extract_patch(sample, None, coords, size)


def read_all(stack: Any) -> np.ndarray:
    """Every pixel of a stack pickled into this process."""
    return stack.read_all()
