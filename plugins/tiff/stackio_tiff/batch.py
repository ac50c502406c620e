"""Batched reads for the TIFF stores (`read_into`, see `stackio.batch`).

- `MemmapStore`: each region is copied from the file straight into its place in the batch.
- `PlaneStore`: every tile or strip the batch touches is decoded once, however many patches share it
  (on the decoding pool when there are many), and copied into each patch that needs it; uncompressed
  pages are copied from the map directly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .pages import MemmapStore, Plane, PlaneStore

#: Decoded segments held at once by one batch; a batch needing more is read in parts.
DECODED_BYTES = 128 * 2**20


def memmap_read_into(store: MemmapStore, keys: Sequence[tuple[Any, ...]], outs: Sequence[np.ndarray]) -> None:
    from .files import Leased

    offset = store.offset
    reads = [(offset, key, out) for key, out in zip(keys, outs, strict=True)]
    with Leased(store.file) as file:  # one lease and one check of the file for the whole batch
        file.read_arrays(store.shape, store.file_dtype, reads)
    store.stats.planes_read += len(outs)
    store.stats.bytes_read += sum(out.nbytes for out in outs)


def _region_view(store: PlaneStore, out: np.ndarray, dropped: Sequence[bool]) -> np.ndarray:
    """`out` (the page dimensions a key keeps) as a 5-D view in the normalized page order (s, d, y, x, c)."""
    kept = [j for j, drop in zip(store._page_dims, dropped, strict=True) if not drop]
    view = out.transpose(np.argsort(kept)) if kept != sorted(kept) else out
    missing = [j for j in range(5) if j not in kept]
    return np.expand_dims(view, missing) if missing else view


def plane_read_into(store: PlaneStore, keys: Sequence[tuple[Any, ...]], outs: Sequence[np.ndarray]) -> None:
    from .pages import _executor, _normalize_key

    n_outer = len(store._outer_dims)
    # Per key: which planes it reads, the 5-D page region, and the view of its output for each plane.
    jobs: list[tuple[Plane, list[tuple[int, int]], np.ndarray]] = []
    for key, out in zip(keys, outs, strict=True):
        ranges = _normalize_key(key, store.shape)
        outer, page = ranges[:n_outer], ranges[n_outer:]
        region: list[tuple[int, int]] = [(0, 1)] * 5
        for j, (a, b, _, _) in zip(store._page_dims, page, strict=True):
            region[j] = (a, b)
        page_dropped = [drop for _, _, _, drop in page]
        for position in np.ndindex(*(b - a for a, b, _, _ in outer)):
            index = [store.fixed.get(k, 0) for k in range(len(store.outer_shape))]
            target = []
            for k, offset, (a, _, _, drop) in zip(store._outer_dims, position, outer, strict=True):
                index[k] = a + offset
                if not drop:
                    target.append(offset)
            plane = store.planes[int(np.ravel_multi_index(index, store.outer_shape))]
            view = out[tuple(target)] if target else out
            if plane is None:
                view[...] = 0  # missing planes are refused at load; zeros if one slips through
                continue
            jobs.append((plane, region, _region_view(store, view, page_dropped)))
    store.stats.planes_read += len(jobs)
    _read_raw(store, [job for job in jobs if job[0].codec.raw_dtype is not None])
    _read_jobs(store, [job for job in jobs if job[0].codec.raw_dtype is None], _executor)


def _read_raw(store: PlaneStore, jobs: list[tuple[Plane, list[tuple[int, int]], np.ndarray]]) -> None:
    """Uncompressed pages: copied from the file, each file leased and checked once for the batch."""
    from .files import Leased

    by_file: dict[tuple[Any, ...], list[tuple[int, tuple[slice, ...], np.ndarray]]] = {}
    for plane, region, view in jobs:
        codec = plane.codec
        reads = by_file.setdefault((plane.file, codec.shaped, codec.raw_dtype), [])
        reads.append((plane.offsets[0], tuple(slice(a, b) for a, b in region), view))
    for (file_key, shaped, raw_dtype), reads in by_file.items():
        with Leased(file_key) as file:
            file.read_arrays(shaped, raw_dtype, reads)
        store.stats.bytes_read += sum(view.nbytes for _, _, view in reads)


def _read_jobs(store: PlaneStore, jobs: list[tuple[Plane, list[tuple[int, int]], np.ndarray]], executor: Any) -> None:
    """Compressed or tiled pages: each segment the jobs touch decoded once, then placed in every job."""
    from .pages import PARALLEL_SEGMENTS

    tasks: dict[tuple[int, int], tuple[Plane, int]] = {}
    per_job: list[list[tuple[int, int]]] = []
    for plane, region, _ in jobs:
        wanted = [(id(plane), s) for s in store._segments(plane.codec, region)]
        for task in wanted:
            tasks.setdefault(task, (plane, task[1]))
        per_job.append(wanted)
    if not tasks:
        return
    per_segment = max(math.prod(p.codec.segment) * p.codec.shaped[4] for p, _ in tasks.values())
    segment_bytes = per_segment * store.dtype.itemsize
    if len(jobs) > 1 and len(tasks) * segment_bytes > DECODED_BYTES:
        half = len(jobs) // 2
        _read_jobs(store, jobs[:half], executor)
        _read_jobs(store, jobs[half:], executor)
        return
    order = list(tasks)
    if len(order) > PARALLEL_SEGMENTS:
        results = list(executor().map(lambda t: store._decode(*tasks[t]), order))
    else:
        results = [store._decode(*tasks[t]) for t in order]
    decoded = dict(zip(order, results, strict=True))
    for (plane, region, view), wanted in zip(jobs, per_job, strict=True):
        for task in wanted:
            data, origin = decoded[task]
            store._place(view, data, origin, region, plane.codec)
