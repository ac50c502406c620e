"""How much memory this process may still use, and the check made before reading data into memory."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np

from .errors import ValidationError


def available_memory() -> int | None:
    """Bytes of memory available to this process now, where the system says."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def ensure_fits_in_memory(shape: Sequence[int], dtype: np.dtype, source: str) -> None:
    """Refuse, before allocating, data larger than the memory available."""
    nbytes = math.prod(int(n) for n in shape) * np.dtype(dtype).itemsize
    free = available_memory()
    if free is not None and nbytes > free:
        raise ValidationError(
            f"{source}: reading it into memory needs {nbytes / 2**30:.1f} GiB (shape "
            f"{tuple(shape)}, {np.dtype(dtype)}) but only {free / 2**30:.1f} GiB is available; "
            "load it lazily (in_memory=False) instead",
            source=source,
        )
