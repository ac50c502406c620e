"""Scenario 7: a full-volume reduction through `stack.to_dask()` on a 2-process LocalCluster."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from . import data as D
from .config import Config
from .util import Row, have, run_child


def _tiff_slab(path: str, z0: int, z1: int) -> np.ndarray:
    import tifffile

    return tifffile.imread(path, key=range(z0, z1))


def _tiff_dask(path: str, shape: tuple[int, int, int], depth: int) -> Any:
    """The volume as a dask array of tifffile reads of `depth` pages (tifffile's zarr store does not pickle)."""
    import dask
    import dask.array as da

    read = dask.delayed(_tiff_slab, pure=True)
    parts = [
        da.from_delayed(read(path, z, min(z + depth, shape[0])), (min(depth, shape[0] - z), *shape[1:]), np.uint16)
        for z in range(0, shape[0], depth)
    ]
    return da.concatenate(parts)


def _serial_sum(read: Callable[[int, int], np.ndarray], depth: int, nz: int) -> int:
    return int(sum(int(read(z, min(z + depth, nz)).sum(dtype=np.uint64)) for z in range(0, nz, depth)))


def child(zarr_path: str | None, tiff_path: str | None, repeats: int) -> dict[str, Any]:
    import dask.array as da
    import stackio
    from distributed import Client, LocalCluster

    out: dict[str, Any] = {}
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster),
    ):
        methods: dict[str, tuple[Any, Any, int]] = {}
        if zarr_path:
            import zarr

            level = zarr.open_array(str(Path(zarr_path) / "0"), mode="r")
            stack = stackio.load(zarr_path)[0]
            serial = _serial_sum(lambda a, b: level[a:b], level.chunks[0], level.shape[0])
            methods["zarr"] = (stack.to_dask(), da.from_zarr(str(Path(zarr_path) / "0")), serial)
        if tiff_path:
            import tifffile

            stack = stackio.load(tiff_path, "ZYX")[0]
            x = stack.to_dask()
            depth = x.chunks[2][0]
            shape = tuple(stack.data_shape[2:])
            serial = _serial_sum(lambda a, b: _tiff_slab(tiff_path, a, b), depth, shape[0])
            mm = tifffile.memmap(tiff_path, mode="r")
            assert serial == int(mm.sum(dtype=np.uint64))
            del mm
            methods["tiff"] = (x, _tiff_dask(tiff_path, shape, depth), serial)
        for name, (ours, theirs, serial) in methods.items():
            times: dict[str, list[float]] = {"stackio": [], "baseline": []}
            results: dict[str, set[int]] = {"stackio": set(), "baseline": set()}
            for i in range(repeats + 1):  # the first round warms the workers and is not counted
                order = [("stackio", ours), ("baseline", theirs)]
                for label, array in order if i % 2 else order[::-1]:
                    t0 = time.perf_counter()
                    value = int(array.sum(dtype="uint64").compute())
                    if i:
                        times[label].append(time.perf_counter() - t0)
                    results[label].add(value)
            out[name] = {
                "stackio_s": float(np.median(times["stackio"])),
                "baseline_s": float(np.median(times["baseline"])),
                "stackio_ok": results["stackio"] == {serial},
                "baseline_ok": results["baseline"] == {serial},
                "stackio_chunks": [[c[0], len(c)] for c in ours.chunks],
                "baseline_chunks": [[c[0], len(c)] for c in theirs.chunks],
                "n": repeats,
            }
    return out


def run(cfg: Config, log: Callable[[str], None]) -> list[Row]:
    if not have("distributed"):
        return [Row.skipped("7", "to_dask() on LocalCluster", "s", "distributed not installed")]
    work = cfg.data / "dask"
    work.mkdir(parents=True, exist_ok=True)
    shape = cfg.dask_volume
    zarr_path = tiff_path = None
    if "zarr" in cfg.formats:
        zarr_path = work / "vol.ome.zarr"
        if not zarr_path.exists():
            D.write_ome_zarr(zarr_path, None, (16, 256, 256), shape=shape)
    if "tiff" in cfg.formats:
        tiff_path = work / "vol.tif"
        if not tiff_path.exists():
            D.write_big_tiff(tiff_path, shape)
    if not zarr_path and not tiff_path:
        return [
            Row.skipped(
                "7", "to_dask() on LocalCluster", "s", "neither the stackio 'zarr' nor 'tiff' format is installed"
            )
        ]
    res = run_child(
        "dask",
        {
            "zarr_path": zarr_path and str(zarr_path),
            "tiff_path": tiff_path and str(tiff_path),
            "repeats": cfg.dask_repeats,
        },
    )
    log(f"  7 {res}")
    size = f"{D.nbytes(shape) / 2**20:.0f} MiB {'x'.join(map(str, shape))}"
    baselines = {"zarr": "dask.array.from_zarr", "tiff": "dask over tifffile.imread per chunk"}
    rows = []
    for name, r in res.items():
        ok = r["stackio_ok"] and r["baseline_ok"]
        note = (
            "sum equals the serial numpy sum"
            if ok
            else f"WRONG: stackio ok={r['stackio_ok']}, baseline ok={r['baseline_ok']}"
        )
        note += f"; stackio chunks {r['stackio_chunks']} (first size, count per axis)"
        rows.append(
            Row(
                "7",
                f"{name} {size}: sum via to_dask(), LocalCluster 2 processes",
                "s",
                r["stackio_s"],
                baselines[name],
                r["baseline_s"],
                "same sum as serial numpy",
                kind="check",
                passed=ok,
                note=note,
                samples={"stackio": r["n"], "baseline": r["n"]},
            )
        )
    return rows
