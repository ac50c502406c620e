"""Patch-read cost: stackio-tiff against a bare memory map, tifffile's zarr store, and dask over it.

    python plugins/tiff/benchmarks/bench_tiff_patches.py [folder]

Writes three TIFFs with tifffile (32x1024x1024 uint16 uncompressed; 8x4096x4096 uint16 in 256x256
zstd tiles; 16x1024x1024 uint16 zlib strips of 64 rows) and times 64x64 patches at random places.
The dask column is the route bioio takes (dask over tifffile's zarr store).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import stackio
import tifffile


def timed(function: Callable[[], object], repeats: int) -> float:
    function()  # warm up (maps the file, builds graphs)
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats * 1000


def main(root: Path) -> None:
    import dask.array as da
    import zarr

    rng = np.random.default_rng(0)
    files = {
        "uncompressed 32x1024x1024": (root / "plain.tif", (32, 1024, 1024), {}),
        "zstd tiles 8x4096x4096": (root / "tiled.tif", (8, 4096, 4096), {"tile": (256, 256), "compression": "zstd"}),
        "zlib strips 16x1024x1024": (
            root / "strips.tif",
            (16, 1024, 1024),
            {"rowsperstrip": 64, "compression": "zlib"},
        ),
    }
    for path, shape, kwargs in files.values():
        if not path.exists():
            tifffile.imwrite(
                path,
                rng.integers(0, 4000, shape, dtype=np.uint16),
                photometric="minisblack",
                metadata={"axes": "ZYX"},
                **kwargs,
            )
    stackio.load(files["uncompressed 32x1024x1024"][0])  # import the plugin before timing
    n = 200
    print(f"{'ms per 64x64 patch':<28}{'stackio':>9}{'bare memmap':>13}{'tifffile zarr':>15}{'dask (bioio)':>14}")
    for label, (path, shape, kwargs) in files.items():
        spots = [
            (int(rng.integers(0, shape[0])), int(rng.integers(0, shape[1] - 64)), int(rng.integers(0, shape[2] - 64)))
            for _ in range(n)
        ]
        (stack,) = stackio.load(path)
        tif = tifffile.TiffFile(path)
        z = zarr.open(tif.series[0].aszarr(), mode="r")
        d = da.from_zarr(z)
        bare = tifffile.memmap(path) if not kwargs else None

        def ours(stack: stackio.ImageStack = stack, spots: list = spots) -> None:
            for k, y, x in spots:
                stack.extract_patch(0, None, (k, y, x), (1, 64, 64))

        def mapped(bare: np.ndarray | None = bare, spots: list = spots) -> None:
            for k, y, x in spots:
                np.array(bare[k : k + 1, y : y + 64, x : x + 64])

        def zarr_store(z: object = z, spots: list = spots) -> None:
            for k, y, x in spots:
                z[k : k + 1, y : y + 64, x : x + 64]

        def dask_array(d: object = d, spots: list = spots[:20]) -> None:
            for k, y, x in spots:
                d[k : k + 1, y : y + 64, x : x + 64].compute()

        row = [
            timed(ours, 3) / n,
            timed(mapped, 3) / n if bare is not None else None,
            timed(zarr_store, 1) / n,
            timed(dask_array, 1) / 20,
        ]
        print(
            f"{label:<28}"
            + "".join(f"{'' if v is None else f'{v:.3f}':>{w}}" for v, w in zip(row, (9, 13, 15, 14), strict=True))
        )
        tif.close()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as folder:
            main(Path(folder))
