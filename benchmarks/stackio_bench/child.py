"""Measurements that need a fresh interpreter of their own: `python -m stackio_bench.child TASK JSON`.

Each task prints one JSON line with its figures.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .util import peak_rss_mb, rss_parts_mb


def _natural(name: str) -> list[Any]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def _corner(i: int, shape: tuple[int, int], patch: tuple[int, int]) -> tuple[int, int]:
    return (i * 7) % (shape[0] - patch[0] + 1), (i * 13) % (shape[1] - patch[1] + 1)


def many(folder: str, mode: str, shape: list[int], patch: list[int], limit: int | None = None) -> dict[str, Any]:
    """Load a directory of small TIFFs lazily, then read one patch from each file."""
    hw, ph = tuple(shape), tuple(patch)
    total = 0
    if mode == "stackio":
        import stackio

        t0 = time.perf_counter()
        stacks = stackio.load(folder, "YX")
        t_load = time.perf_counter() - t0
        rss_load = peak_rss_mb()
        t1 = time.perf_counter()
        for i, stack in enumerate(stacks):
            total += int(stack.extract_patch(0, None, _corner(i, hw, ph), ph).sum())
        t_read = time.perf_counter() - t1
        n = len(stacks)
    else:
        files = sorted((f for f in os.listdir(folder) if not f.startswith(".")), key=_natural)
        files = [os.path.join(folder, f) for f in files][:limit]
        n = len(files)
        if mode == "tifffile":
            import tifffile

            t0 = time.perf_counter()
            shapes = []
            for f in files:
                with tifffile.TiffFile(f) as tif:
                    shapes.append((tif.series[0].shape, tif.series[0].dtype))
            t_load = time.perf_counter() - t0
            rss_load = peak_rss_mb()
            t1 = time.perf_counter()
            for i, f in enumerate(files):
                y, x = _corner(i, hw, ph)
                total += int(tifffile.imread(f)[y : y + ph[0], x : x + ph[1]].sum())
            t_read = time.perf_counter() - t1
        elif mode == "bioio":
            from bioio import BioImage

            _ = BioImage(files[0]).dims  # imports the reader plugin outside the timing
            t0 = time.perf_counter()
            images = [BioImage(f) for f in files]
            t_load = time.perf_counter() - t0
            rss_load = peak_rss_mb()
            t1 = time.perf_counter()
            for i, image in enumerate(images):
                y, x = _corner(i, hw, ph)
                total += int(image.get_image_data("YX")[y : y + ph[0], x : x + ph[1]].sum())
            t_read = time.perf_counter() - t1
        else:
            raise ValueError(mode)
    return {
        "n": n,
        "load_s": t_load,
        "read_s": t_read,
        "peak_rss_after_load_mb": rss_load,
        "peak_rss_mb": peak_rss_mb(),
        "checksum": total,
    }


def memory(
    path: str,
    kind: str,
    mode: str,
    n: int,
    patch: list[int],
    seed: int,
    cap_bytes: int | None,
) -> dict[str, Any]:
    """Read `n` random 3-D patches from a large dataset under RLIMIT_DATA = `cap_bytes`.

    RLIMIT_DATA caps the private writable memory (heap, anonymous maps) the process may hold;
    read-only file maps are not counted, as they are page cache the kernel reclaims.
    """
    if cap_bytes:
        resource.setrlimit(resource.RLIMIT_DATA, (cap_bytes, cap_bytes))
    patch_t = tuple(patch)
    t0 = time.perf_counter()
    if mode in ("stackio", "stackio in_memory"):
        import stackio

        axes = "ZYX" if kind == "tiff" else None
        stack = stackio.load(path, axes, in_memory=mode == "stackio in_memory")[0]
        shape = tuple(stack.data_shape[2:])

        def read(c: tuple[int, ...]) -> np.ndarray:
            return stack.extract_patch(0, None, c, patch_t)
    elif mode == "floor" and kind == "zarr":
        import zarr

        array = zarr.open_array(str(Path(path) / "0"), mode="r")
        shape = tuple(array.shape)

        def read(c: tuple[int, ...]) -> np.ndarray:
            return np.asarray(array[tuple(slice(a, a + p) for a, p in zip(c, patch_t, strict=True))])
    elif mode == "floor" and kind == "tiff":
        import tifffile

        mm = tifffile.memmap(path, mode="r")
        shape = tuple(mm.shape)

        def read(c: tuple[int, ...]) -> np.ndarray:
            return np.array(mm[tuple(slice(a, a + p) for a, p in zip(c, patch_t, strict=True))])
    else:
        raise ValueError((kind, mode))
    t_open = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    corners = np.stack([rng.integers(0, s - p + 1, n) for s, p in zip(shape, patch_t, strict=True)], axis=1)
    digest = hashlib.blake2b(digest_size=16)
    peak_anon = rss_parts_mb().get("RssAnon", 0.0)
    times = np.empty(n)
    clock = time.perf_counter
    t1 = clock()
    for i, c in enumerate(corners.tolist()):
        ts = clock()
        block = read(c)
        times[i] = clock() - ts
        digest.update(np.ascontiguousarray(block).reshape(patch_t).tobytes())
        if i % 100 == 0:
            peak_anon = max(peak_anon, rss_parts_mb().get("RssAnon", 0.0))
    t_read = clock() - t1
    peak_anon = max(peak_anon, rss_parts_mb().get("RssAnon", 0.0))
    return {
        "open_s": t_open,
        "read_s": t_read,
        "median_ms": float(np.median(times) * 1e3),
        "peak_rss_mb": peak_rss_mb(),
        "peak_anon_mb": peak_anon,
        "final": rss_parts_mb(),
        "digest": digest.hexdigest(),
        "cap_mb": cap_bytes / 2**20 if cap_bytes else None,
    }


TASKS = {"many": many, "memory": memory}


def main() -> None:
    task, params = sys.argv[1], json.loads(sys.argv[2])
    if task == "dask":
        from .s_dask import child as dask_child

        result = dask_child(**params)
    elif task.startswith("convert"):
        from .convert_child import TASKS as CONVERT

        result = CONVERT[task](**params)
    else:
        result = TASKS[task](**params)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
