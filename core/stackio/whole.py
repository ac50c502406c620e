"""Whole-stack reads into one array allocated up front, a block at a time.

`LazyStack.read_all` (and so `in_memory=True`) allocates the stack's array once, in SC(Z)YX, and has the
reader fill it block by block (`blocks`): besides that array no more than one block is held, whatever the
reader returns, and nothing of a file map or a reader's cache stays in the result. A reader with
`read_into(keys, outs)` (see `stackio.batch`) writes each block in place; any other is indexed and its
block copied. The reads run inside `openfiles.one_pass()`, so large raw reads leave no file pages mapped.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .axes import Layout
from .openfiles import one_pass
from .patches import checked

#: Bytes a whole read asks a reader for at once, at most (a whole number of its chunks where it has them,
#: one chunk at least): enough that a call's own cost vanishes beside its copy, little beside the array.
BLOCK_BYTES = 16 * 2**20
#: Blocks are at most this share of the array (down to `MIN_BLOCK_BYTES`), so a block held beside the
#: array adds little to a whole read's peak memory at any size.
BLOCK_SHARE = 16
MIN_BLOCK_BYTES = 2**20


def destination(layout: Layout, shape: tuple[int, ...], dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """A new SC(Z)YX array of `shape` (`layout.shape`) for a whole stack, and a view of it in the layout's
    original axes (what a reader fills; writing through it puts every pixel in its final place, so no
    rearranging copy follows)."""
    out = np.empty(shape, dtype=dtype)
    order = layout.stack_order
    if order == tuple(range(len(order))):  # already in stack order (a plain YX or ZYX image)
        return out, out.reshape(layout.original_shape)
    moved = tuple(layout.original_shape[i] for i in order)
    inverse = tuple(order.index(i) for i in range(len(order)))
    return out, out.reshape(moved).transpose(inverse)


def block_budget(nbytes: int) -> int:
    """Bytes per block for a whole read of `nbytes`."""
    return min(BLOCK_BYTES, max(MIN_BLOCK_BYTES, nbytes // BLOCK_SHARE))


def blocks(
    shape: Sequence[int], chunks: Sequence[int] | None, itemsize: int, budget: int
) -> Iterator[tuple[slice, ...]]:
    """Keys (in-bounds unit-step slices) of blocks that tile an array of `shape`, each a whole number of
    `chunks` (a chunk at least, so no chunk is decoded twice) and otherwise at most `budget` bytes.

    A block spans whole axes after some axis k, a run of chunks along k and one chunk along the axes
    before it; k is the first axis where one chunk's step fits the budget.
    """
    shape = [int(n) for n in shape]
    if 0 in shape:
        return
    ndim = len(shape)
    if math.prod(shape) * itemsize <= budget:  # one block (a small image): no grid to work out
        yield tuple(slice(0, n) for n in shape)
        return
    grid = [max(1, min(int(c), n)) for c, n in zip(chunks or (1,) * ndim, shape, strict=True)]
    for k in range(ndim):
        unit = math.prod(grid[:k]) * math.prod(shape[k + 1 :]) * itemsize  # bytes per index along axis k
        if unit * grid[k] <= budget or k == ndim - 1:
            step = max(grid[k], budget // unit // grid[k] * grid[k])
            break
    steps = [*grid[:k], step]
    ranges = [range(0, n, s) for n, s in zip(shape[: k + 1], steps, strict=True)]
    rest = tuple(slice(0, n) for n in shape[k + 1 :])
    for starts in itertools.product(*ranges):
        head = tuple(slice(a, min(a + s, n)) for a, s, n in zip(starts, steps, shape, strict=False))
        yield head + rest


def read_whole(reader: Any, dest: np.ndarray, dtype: np.dtype, source: str, chunks: Sequence[int] | None) -> None:
    """Fill `dest` (the reader's original axes, the stack's dtype) with everything `reader` holds."""
    read_into = getattr(reader, "read_into", None)
    with one_pass():
        for key in blocks(dest.shape, chunks, dest.itemsize, block_budget(dest.nbytes)):
            view = dest[key]
            if callable(read_into):
                read_into([key], [view])
            else:
                view[...] = checked(
                    np.asarray(reader[key]), view.shape, dtype, source, "the whole stack", convert=False
                )
