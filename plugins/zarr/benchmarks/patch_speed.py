"""Per-patch read time: stackio's zarr stack against zarr's own slicing of the same array.

    .venv/bin/python plugins/zarr/benchmarks/patch_speed.py

Writes an OME-Zarr 0.4 image and a sharded zarr v3 array to a temporary folder, reads the same random
patches both ways (interleaved, after one read of each) and prints the median time per patch.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import stackio
import zarr


def _median_ms(first, second, coords) -> tuple[float, float]:
    """Median ms per patch of two readers, interleaved so both see the same cache state."""
    times: tuple[list[float], list[float]] = ([], [])
    for i, c in enumerate(coords):
        order = (0, 1) if i % 2 else (1, 0)
        for which in order:
            read = (first, second)[which]
            start = time.perf_counter()
            read(c)
            times[which].append(time.perf_counter() - start)
    return statistics.median(times[0]) * 1000, statistics.median(times[1]) * 1000


def main() -> None:
    rng = np.random.default_rng(0)
    data = rng.integers(0, 4000, size=(2, 64, 512, 512), dtype=np.uint16)
    patch = (16, 64, 64)
    with tempfile.TemporaryDirectory() as tmp:
        ome = Path(tmp) / "img.ome.zarr"
        group = zarr.open_group(str(ome), mode="w", zarr_format=2)
        group.create_array("0", data=data, chunks=(1, 16, 128, 128))
        axes = [{"name": "c", "type": "channel"}] + [{"name": n, "type": "space"} for n in "zyx"]
        group.attrs["multiscales"] = [
            {
                "version": "0.4",
                "axes": axes,
                "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1, 1, 1, 1]}]}],
            }
        ]
        sharded = Path(tmp) / "sharded.zarr"
        arr = zarr.create_array(
            str(sharded), shape=data.shape, dtype=data.dtype, chunks=(1, 16, 128, 128), shards=(1, 32, 256, 256)
        )
        arr[...] = data
        coords = [tuple(int(v) for v in rng.integers(0, (64 - 16, 512 - 64, 512 - 64))) for _ in range(300)]
        for name, source, axes_arg, array_path in (
            ("OME-Zarr 0.4 (v2, blosc)", ome, None, ome / "0"),
            ("zarr v3 sharded (zstd)", sharded, "CZYX", sharded),
        ):
            [stack] = stackio.load(source, axes_arg)
            direct = zarr.open_array(str(array_path), mode="r")

            def via_stackio(c, stack=stack):
                return stack.extract_patch(0, None, c, patch)

            def via_zarr(c, direct=direct):
                z, y, x = c
                return direct[:, z : z + patch[0], y : y + patch[1], x : x + patch[2]]

            np.testing.assert_array_equal(via_stackio(coords[0]), via_zarr(coords[0]))
            s, d = _median_ms(via_stackio, via_zarr, coords)
            print(f"{name}: patch (2, {patch}) stackio {s:.2f} ms, zarr {d:.2f} ms, ratio {s / d:.2f}")


if __name__ == "__main__":
    main()
