"""Patch requests and reads that run in other processes (importable there by name, unlike test modules)."""

from __future__ import annotations

import pickle
import random
from typing import Any

import numpy as np

Request = tuple[int, int, list[int] | None, list[int], list[int]]  # stack, sample, channels, coords, size


def requests_for(stacks: list[Any], n: int, seed: int) -> list[Request]:
    """Random patch requests over every stack: random samples, channel subsets, edges included."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        i = rng.randrange(len(stacks))
        shape = stacks[i].data_shape
        spatial = shape[2:]
        size = [rng.randint(1, min(n_, 24)) for n_ in spatial]
        coords = [rng.randint(-(s // 2), n_ - 1) for n_, s in zip(spatial, size, strict=True)]
        channels = None if rng.random() < 0.5 else sorted(rng.sample(range(shape[1]), rng.randint(1, shape[1])))
        out.append((i, rng.randrange(shape[0]), channels, coords, size))
    return out


def read(stacks: list[Any], requests: list[Request]) -> list[np.ndarray]:
    return [stacks[i].extract_patch(s, c, xy, size) for i, s, c, xy, size in requests]


def read_pickled(payload: bytes) -> list[np.ndarray]:
    """In a worker process: unpickle stacks and requests, read."""
    stacks, requests = pickle.loads(payload)
    return read(stacks, requests)


def same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(
        x.shape == y.shape and x.dtype == y.dtype and np.array_equal(x, y, equal_nan=x.dtype.kind == "f")
        for x, y in zip(a, b, strict=True)
    )
