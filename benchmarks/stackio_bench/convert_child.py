"""Child tasks of scenario 8: one conversion (stackio or a peer) under a memory cap, and patch reads after."""

from __future__ import annotations

import hashlib
import resource
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from .util import peak_rss_mb, rss_parts_mb


class _AnonSampler:
    """Samples RssAnon every 50 ms in a thread (the peak of private memory, page cache excluded)."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_parts_mb().get("RssAnon", 0.0))

    def __enter__(self) -> _AnonSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_parts_mb().get("RssAnon", 0.0))


def _few_arenas() -> None:
    """At most 2 malloc arenas: each thread's arena reserves 64 MiB of address space, which RLIMIT_DATA
    counts although it is never touched; every writer here is multi-threaded, so all get the same."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name:
        ctypes.CDLL(name).mallopt(-8, 2)  # M_ARENA_MAX


def _tiff_dask(path: str) -> Any:
    import dask.array as da
    import tifffile
    import zarr

    store = tifffile.imread(path, aszarr=True)
    return da.from_zarr(zarr.open_array(store, mode="r"), chunks=(16, 1024, 1024)), store


def _stackio(path: str, out: str, kind: str, workers: int) -> None:
    import stackio

    stackio.convert(path, out, axes="ZYX" if kind == "tiff" else None, pyramid="auto", workers=workers)


def _ngff_zarr(path: str, out: str, levels: int) -> None:
    import ngff_zarr

    data, store = _tiff_dask(path)
    image = ngff_zarr.to_ngff_image(data, dims=["z", "y", "x"])
    multiscales = ngff_zarr.to_multiscales(image, scale_factors=[2**i for i in range(1, levels)])
    ngff_zarr.to_ngff_zarr(out, multiscales)
    store.close()


def _bioio(path: str, out: str, levels: int) -> None:
    from bioio_ome_zarr.writers import OMEZarrWriter

    data, store = _tiff_dask(path)
    z, y, x = (int(n) for n in data.shape)
    shapes = [(z, -(-y // 2**i), -(-x // 2**i)) for i in range(levels)]
    writer = OMEZarrWriter(store=out, level_shapes=shapes, dtype=data.dtype, axes_names=["z", "y", "x"])
    writer.write_full_volume(data)
    store.close()


def _import(mode: str) -> None:
    import importlib

    modules = {
        "stackio": ("stackio", "zarr", "tifffile", "stackio_zarr.writer", "stackio_tiff.reader"),
        "ngff-zarr": ("ngff_zarr", "dask.array", "tifffile", "zarr"),
        "bioio": ("bioio_ome_zarr.writers", "dask.array", "tifffile", "zarr"),
    }[mode]
    for name in modules:
        importlib.import_module(name)


def convert(
    path: str, out: str, kind: str, mode: str, cap_bytes: int | None, workers: int, levels: int
) -> dict[str, Any]:
    """Convert `path` to the OME-Zarr `out` with `mode` under RLIMIT_DATA = `cap_bytes`."""
    if Path(out).exists():
        shutil.rmtree(out)
    if cap_bytes:
        _few_arenas()
        resource.setrlimit(resource.RLIMIT_DATA, (cap_bytes, cap_bytes))
    _import(mode)  # imports are not conversion time
    t0 = time.perf_counter()
    error = None
    with _AnonSampler() as sampler:
        try:
            if mode == "stackio":
                _stackio(path, out, kind, workers)
            elif mode == "ngff-zarr":
                _ngff_zarr(path, out, levels)
            elif mode == "bioio":
                _bioio(path, out, levels)
            else:
                raise ValueError(mode)
        except MemoryError:
            error = "MemoryError under the cap"
    seconds = time.perf_counter() - t0
    size = sum(f.stat().st_size for f in Path(out).rglob("*") if f.is_file()) if Path(out).exists() else 0
    return {
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
        "peak_anon_mb": sampler.peak,
        "out_mb": size / 2**20,
        "error": error,
    }


def reference(path: str, out: str, kind: str, chunks: list[int]) -> dict[str, Any]:
    """Write the source's pixels to a plain zarr-python array with `chunks` (zstd), slab by slab."""
    import stackio
    import zarr
    from zarr.codecs import ZstdCodec

    if Path(out).exists():
        shutil.rmtree(out)
    stack = stackio.load(path, "ZYX" if kind == "tiff" else None)[0]
    shape = stack.data_shape[2:]
    array = zarr.create_array(
        out, shape=shape, dtype=stack.data_dtype, chunks=tuple(chunks), compressors=ZstdCodec(level=3)
    )
    for z in range(0, shape[0], chunks[0]):
        n = min(chunks[0], shape[0] - z)
        array[z : z + n] = stack.extract_patch(0, None, (z, 0, 0), (n, *shape[1:]))[0]
    return {"shape": list(shape)}


def read_patches(out: str, ref: str, n: int, patch: list[int], seed: int) -> dict[str, Any]:
    """Median ms of `n` random patches: stackio from the converted image, zarr-python from the reference."""
    import stackio
    import zarr

    stack = stackio.load(out)[0]
    array = zarr.open_array(ref, mode="r")
    shape = tuple(stack.data_shape[2:])
    patch_t = tuple(patch)
    rng = np.random.default_rng(seed)
    corners = np.stack([rng.integers(0, s - p + 1, n) for s, p in zip(shape, patch_t, strict=True)], axis=1).tolist()
    out_times, ref_times = np.empty(n), np.empty(n)
    same = True
    digest = hashlib.blake2b(digest_size=16)
    for i, c in enumerate(corners):
        t0 = time.perf_counter()
        a = stack.extract_patch(0, None, c, patch_t)
        t1 = time.perf_counter()
        b = np.asarray(array[tuple(slice(x, x + p) for x, p in zip(c, patch_t, strict=True))])
        t2 = time.perf_counter()
        out_times[i], ref_times[i] = t1 - t0, t2 - t1
        same = same and bool(np.array_equal(a[0], b))
        digest.update(a.tobytes())
    return {
        "out_ms": float(np.median(out_times) * 1e3),
        "ref_ms": float(np.median(ref_times) * 1e3),
        "same": same,
        "digest": digest.hexdigest(),
    }


TASKS = {"convert": convert, "convert_reference": reference, "convert_read": read_patches}
