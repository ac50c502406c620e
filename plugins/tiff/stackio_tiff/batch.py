"""Batched reads for the TIFF stores (`read_into`, see `stackio.batch`).

- `MemmapStore`: each region is copied from the file straight into its place in the batch.
- `PlaneStore`: every tile or strip the batch touches is decoded once, however many patches share it
  (on the decoding pool when there are many), and copied into each patch that needs it; uncompressed
  pages are copied from the map directly.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

if TYPE_CHECKING:
    from stackio.openfiles import FileRef, OpenFile

    from .pages import MemmapStore, Plane, PlaneStore

#: Decoded segments held at once by one batch; a batch needing more is read in parts.
DECODED_BYTES = 128 * 2**20


@attrs.define
class RawReads:
    """Regions of uncompressed pages of one file and layout, read under one lease: (offset, key, out)."""

    file: FileRef[OpenFile]
    shaped: tuple[int, ...]
    dtype: np.dtype
    reads: list[tuple[int, tuple[int | slice, ...], np.ndarray]] = attrs.Factory(list)


def memmap_read_into(store: MemmapStore, keys: Sequence[tuple[Any, ...]], outs: Sequence[np.ndarray]) -> None:
    offset = store.offset
    reads = [(offset, key, out) for key, out in zip(keys, outs, strict=True)]
    file = store._file.acquire()  # one lease and one check of the file for the whole batch
    try:
        file.read_arrays(store.shape, store.file_dtype, reads)
    finally:
        file.unlease()
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
    strides = [math.prod(store.outer_shape[k + 1 :]) for k in range(len(store.outer_shape))]
    base = sum(store.fixed.get(k, 0) * strides[k] for k in range(len(strides)) if k not in store._outer_dims)
    # Uncompressed pages by file (each file leased and checked once), and decoded ones as jobs.
    raw: dict[tuple[int, int], RawReads] = {}  # by ids of the plane's file key and codec (cheap to hash)
    jobs: list[tuple[Plane, list[tuple[int, int]], np.ndarray]] = []
    for key, out in zip(keys, outs, strict=True):
        ranges = _normalize_key(key, store.shape)
        outer, page = ranges[:n_outer], ranges[n_outer:]
        # The 5-D page region; the same as a key into the page that drops what the request drops.
        region: list[tuple[int, int]] = [(0, 1)] * 5
        page_key: list[int | slice] = [0] * 5
        kept: list[int] = []
        stepped = False
        for j, (a, b, step, drop) in zip(store._page_dims, page, strict=True):
            stepped = stepped or step != 1
            region[j] = (a, b)
            page_key[j] = a if drop else slice(a, b)
            if not drop:
                kept.append(j)
        if stepped or any(step != 1 for _, _, step, _ in outer):  # not the core's request: the store's own read
            out[...] = store[key]
            continue
        order = None if kept == sorted(kept) else tuple(int(i) for i in np.argsort(kept))
        page_dropped = [drop for _, _, _, drop in page]
        along = [
            [(i * strides[k], None if drop else i - a) for i in range(a, b)]
            for k, (a, b, _, drop) in zip(store._outer_dims, outer, strict=True)
        ]
        for position in itertools.product(*along):
            plane = store.planes[base + sum(step for step, _ in position)]
            target = tuple(i for _, i in position if i is not None)
            view = out[target] if target else out
            if plane is None:
                view[...] = 0  # missing planes are refused at load; zeros if one slips through
                continue
            codec = plane.codec
            if codec.raw_dtype is None:
                jobs.append((plane, region, _region_view(store, view, page_dropped)))
                continue
            group = raw.get((id(plane.file), id(codec)))
            if group is None:
                group = raw[(id(plane.file), id(codec))] = RawReads(store._ref(plane), codec.shaped, codec.raw_dtype)
            group.reads.append((plane.offsets[0], tuple(page_key), view if order is None else view.transpose(order)))
    _read_raw(store, list(raw.values()))
    store.stats.planes_read += len(jobs)
    _read_jobs(store, jobs, _executor)


def _read_raw(store: PlaneStore, groups: list[RawReads]) -> None:
    """Uncompressed pages: copied from the file, each file leased and checked once per group."""
    for group in groups:
        file = group.file.acquire()
        try:
            file.read_arrays(group.shaped, group.dtype, group.reads)
        finally:
            file.unlease()
        store.stats.planes_read += len(group.reads)
        store.stats.bytes_read += sum(view.nbytes for _, _, view in group.reads)


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
