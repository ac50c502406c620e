"""Patch-read cost: stackio-ndtiff against ndstorage's dask `as_array` and a bare memory-map slice.

    python plugins/ndtiff/benchmarks/bench_ndtiff_patches.py [folder]

Writes two datasets with ndstorage (channel 2 x z 10 of 1024x1024 uint16; a 4x4 grid of 512x512
tiles with 32 px overlap) and times random (2 channels) x 8 x 64 x 64 and 2 x 64 x 64 patches.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import stackio
from stackio_ndtiff.samples import tiles, write_ndtiff


def timed(function, repeats: int) -> float:
    function()  # warm up (maps files, builds dask graphs)
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats * 1000


def main(root: Path) -> None:
    import ndstorage

    rng = np.random.default_rng(0)
    volume = root / "czyx"
    if not volume.exists():
        images = [
            ({"channel": c, "z": z}, rng.integers(0, 4000, (1024, 1024), dtype=np.uint16))
            for c in ("A", "B")
            for z in range(10)
        ]
        write_ndtiff(volume, images, {"PixelSize_um": 0.2})
    grid = root / "grid"
    if not grid.exists():
        whole = rng.integers(0, 4000, (4 * 480 + 32, 4 * 480 + 32), dtype=np.uint16)
        write_ndtiff(
            grid / "Full resolution",
            [({**k, "channel": 0}, t) for k, t in tiles(whole, 4, 4, (32, 32))],
            {"GridPixelOverlapX": 32, "GridPixelOverlapY": 32},
        )

    with contextlib.redirect_stdout(io.StringIO()):
        t0 = time.perf_counter()
        reference = ndstorage.Dataset(str(volume))
        open_nd = (time.perf_counter() - t0) * 1000
        dask_volume = reference.as_array()  # channel, z, y, x
        reference_grid = ndstorage.Dataset(str(grid))
        dask_grid = reference_grid.as_array(stitched=True, res_level=0)  # channel, y, x
    stitched = stackio.load(grid)[0]  # first: the plugin's modules are imported once, not timed
    t0 = time.perf_counter()
    stack = stackio.load(volume)[0]
    open_stackio = (time.perf_counter() - t0) * 1000

    spots = [(int(rng.integers(0, 3)), int(rng.integers(0, 960)), int(rng.integers(0, 960))) for _ in range(64)]
    plane_spots = [(int(rng.integers(0, 1856)), int(rng.integers(0, 1856))) for _ in range(64)]
    reader = stack._open()
    maps = [reader.image(int(n)) for n in reader.plan.table.ravel()]  # (c, z) order: memory-mapped views

    def stackio_volume() -> None:
        for z, y, x in spots:
            stack.extract_patch(0, None, (z, y, x), (8, 64, 64))

    def dask_volume_patch() -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            for z, y, x in spots:
                np.asarray(dask_volume[:, z : z + 8, y : y + 64, x : x + 64])

    def memmap_volume() -> None:
        for z, y, x in spots:
            np.stack([np.stack([maps[c * 10 + k][y : y + 64, x : x + 64] for k in range(z, z + 8)]) for c in (0, 1)])

    def stackio_grid() -> None:
        for y, x in plane_spots:
            stitched.extract_patch(0, None, (y, x), (64, 64))

    def dask_grid_patch() -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            for y, x in plane_spots[:8]:
                np.asarray(dask_grid[:, y : y + 64, x : x + 64])

    n = len(spots)
    rows = [
        ("open the volume dataset", open_stackio, open_nd, None),
        (
            "2x8x64x64 patch, volume",
            timed(stackio_volume, 3) / n,
            timed(dask_volume_patch, 1) / n,
            timed(memmap_volume, 3) / n,
        ),
        ("64x64 patch, stitched 4x4 grid", timed(stackio_grid, 3) / n, timed(dask_grid_patch, 1) / 8, None),
    ]
    print(f"{'ms per operation':<34}{'stackio':>10}{'ndstorage+dask':>16}{'bare memmap':>13}")
    for label, ours, theirs, bare in rows:
        print(f"{label:<34}{ours:>10.3f}{theirs:>16.3f}{'' if bare is None else f'{bare:.3f}':>13}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as folder:
            main(Path(folder))
