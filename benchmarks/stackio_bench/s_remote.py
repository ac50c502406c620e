"""Scenario 11: an OME-Zarr over a loopback HTTP server that adds a fixed latency per request.

Per latency (0, 20, 50 ms): requests and bytes for `load` and per patch, patch p50/p95, for stackio,
zarr-python opened directly on the same URL (FsspecStore, and obstore's ObjectStore: the two stores
stackio could build on) and bioio's OME-Zarr reader of the same URL. Patches are random 3-D boxes that
cross chunk borders; every side reads the same boxes, interleaved, and must return the same pixels.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .config import Config
from .util import Row, have

LATENCIES = (0.0, 0.02, 0.05)
PATCH = (4, 64, 64)


def _write(path: Path, shape: tuple[int, int, int]) -> Path:
    """A 2-level OME-Zarr 0.5 image (zarr v3, zstd), z,y,x uint16, chunks (4, 128, 128)."""
    import zarr

    rng = np.random.default_rng(8)
    data = rng.integers(0, 4000, shape, dtype=np.uint16)
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    datasets = []
    for level, block in enumerate((data, data[:, ::2, ::2])):
        array = group.create_array(str(level), shape=block.shape, dtype=block.dtype, chunks=(4, 128, 128))
        array[...] = block
        scale = [1.0, 2.0**level, 2.0**level]
        datasets.append({"path": str(level), "coordinateTransformations": [{"type": "scale", "scale": scale}]})
    axes = [{"name": n, "type": "space"} for n in "zyx"]
    group.attrs.update({"ome": {"version": "0.5", "multiscales": [{"axes": axes, "datasets": datasets}]}})
    return path


def _boxes(shape: tuple[int, int, int], n: int) -> list[tuple[int, int, int]]:
    rng = np.random.default_rng(80)
    return [tuple(int(rng.integers(0, s - p + 1)) for s, p in zip(shape, PATCH, strict=True)) for _ in range(n)]


def _count(server: Any, call: Callable[[], Any]) -> tuple[Any, int, int]:
    """What `call()` returns, and the requests and bytes it cost."""
    server.reset()
    value = call()
    return value, len(server.requests), server.sent


def _sides(url: str) -> dict[str, tuple[Callable[[], Any], Callable[[Any, tuple[int, int, int]], np.ndarray]]]:
    """name -> (open, read(opened, corner)) for every side that can run here."""
    import stackio
    import zarr

    def box(corner: tuple[int, int, int]) -> tuple[slice, ...]:
        return tuple(slice(c, c + p) for c, p in zip(corner, PATCH, strict=True))

    sides: dict[str, tuple[Callable[[], Any], Callable[[Any, tuple[int, int, int]], np.ndarray]]] = {
        "stackio": (
            lambda: stackio.load(url)[0],
            lambda stack, c: stack.extract_patch(0, None, c, PATCH)[0],
        ),
        "zarr FsspecStore": (
            lambda: zarr.open_group(zarr.storage.FsspecStore.from_url(url, read_only=True), mode="r")["0"],
            lambda array, c: np.asarray(array[box(c)]),
        ),
    }
    if have("obstore"):

        def open_obstore() -> Any:
            from obstore.store import HTTPStore

            http = HTTPStore.from_url(url, client_options={"allow_http": True})
            store = zarr.storage.ObjectStore(http, read_only=True)
            return zarr.open_group(store, mode="r")["0"]

        sides["zarr ObjectStore"] = (open_obstore, lambda array, c: np.asarray(array[box(c)]))
    if have("bioio") and have("bioio_ome_zarr"):

        def open_bioio() -> Any:
            import bioio
            import bioio_ome_zarr

            with contextlib.redirect_stderr(io.StringIO()):
                image = bioio.BioImage(url, reader=bioio_ome_zarr.Reader)
                image.dims  # noqa: B018 - bioio parses the metadata on first use
            return image

        def read_bioio(image: Any, c: tuple[int, int, int]) -> np.ndarray:
            z, y, x = c
            lazy = image.get_image_dask_data("ZYX", T=0, C=0)
            return np.asarray(lazy[z : z + PATCH[0], y : y + PATCH[1], x : x + PATCH[2]].compute())

        sides["bioio"] = (open_bioio, read_bioio)
    return sides


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else math.nan


def run(cfg: Config, log: Callable[[str], None]) -> list[Row]:
    if "zarr" not in cfg.formats:
        return [Row.skipped("11", "remote OME-Zarr", "-", "the stackio zarr format is not installed")]
    if not (have("fsspec") and have("aiohttp")):
        return [Row.skipped("11", "remote OME-Zarr", "-", "fsspec and aiohttp are not installed")]
    import time

    from stackio.testing.servers import StaticServer

    z, y, x = cfg.volume
    shape = (min(z, 32), min(y, 1024), min(x, 1024))
    root = _write(cfg.data / "remote.ome.zarr", shape)
    n = max(10, min(cfg.patches // 10, 200))
    corners = _boxes(shape, n)
    rows: list[Row] = []
    with StaticServer() as server:
        for latency in LATENCIES:
            label = f"{int(latency * 1000)} ms/request"
            server.latency = latency
            url = server.serve(root)
            sides = _sides(url)
            if not cfg.use_bioio:
                sides.pop("bioio", None)
            opened: dict[str, Any] = {}
            load_requests: dict[str, int] = {}
            load_bytes: dict[str, int] = {}
            for name, (open_, _) in sides.items():
                opened[name], load_requests[name], load_bytes[name] = _count(server, open_)
            times: dict[str, list[float]] = {name: [] for name in sides}
            requests: dict[str, list[int]] = {name: [] for name in sides}
            sent: dict[str, list[int]] = {name: [] for name in sides}
            limit = {"bioio": max(5, n // 10)}
            names = list(sides)
            for i, corner in enumerate(corners):
                reference = None
                shift = i % len(names)
                for name in names[shift:] + names[:shift]:
                    if name in limit and len(times[name]) >= limit[name]:
                        continue
                    read = sides[name][1]
                    server.reset()
                    t0 = time.perf_counter()
                    patch = read(opened[name], corner)
                    times[name].append(time.perf_counter() - t0)
                    requests[name].append(len(server.requests))
                    sent[name].append(server.sent)
                    if reference is None:
                        reference = patch
                    elif not np.array_equal(patch, reference):
                        raise AssertionError(f"{name} read different pixels than the others at {corner}")
            stats = {
                name: {
                    "p50": _percentile(times[name], 50) * 1000,
                    "p95": _percentile(times[name], 95) * 1000,
                    "requests": float(np.mean(requests[name])),
                    "kib": float(np.mean(sent[name])) / 1024,
                }
                for name in sides
            }
            for name in sides:
                log(
                    f"  {label} {name}: load {load_requests[name]} requests {load_bytes[name] / 1024:.1f} KiB; "
                    f"patch p50 {stats[name]['p50']:.2f} ms p95 {stats[name]['p95']:.2f} ms, "
                    f"{stats[name]['requests']:.2f} requests {stats[name]['kib']:.1f} KiB"
                )
            direct = "zarr FsspecStore"
            levels_used = 1
            rows.append(
                Row(
                    "11",
                    f"OME-Zarr load, {label}",
                    "requests",
                    float(load_requests["stackio"]),
                    f"zarr direct ({load_requests[direct]})",
                    float(load_requests[direct]),
                    target=f"<= {3 + levels_used} (3 + 1 per level)",
                    limit=3 + levels_used,
                    kind="absolute",
                    note=f"{load_bytes['stackio'] / 1024:.1f} KiB",
                )
            )
            rows.append(
                Row(
                    "11",
                    f"patch {PATCH}, {label}",
                    "requests/patch",
                    stats["stackio"]["requests"],
                    "zarr direct",
                    stats[direct]["requests"],
                    target="<= 1.0x",
                    limit=1.0,
                    note=f"{stats['stackio']['kib']:.1f} KiB/patch",
                )
            )
            rows.append(
                Row(
                    "11",
                    f"patch {PATCH}, {label}",
                    "ms/patch p50",
                    stats["stackio"]["p50"],
                    "zarr direct",
                    stats[direct]["p50"],
                    target="<= 1.2x",
                    limit=1.2,
                    note=f"p95 {stats['stackio']['p95']:.2f} vs {stats[direct]['p95']:.2f} ms",
                    samples={name: len(times[name]) for name in sides},
                )
            )
            if "zarr ObjectStore" in stats:
                rows.append(
                    Row(
                        "11",
                        f"store choice: FsspecStore vs ObjectStore, {label}",
                        "ms/patch p50",
                        stats[direct]["p50"],
                        "zarr ObjectStore",
                        stats["zarr ObjectStore"]["p50"],
                        note=(
                            f"p95 {stats[direct]['p95']:.2f} vs {stats['zarr ObjectStore']['p95']:.2f} ms; "
                            f"requests {stats[direct]['requests']:.2f} vs {stats['zarr ObjectStore']['requests']:.2f}"
                        ),
                    )
                )
            if "bioio" in stats:
                rows.append(
                    Row(
                        "11",
                        f"patch {PATCH}, {label}",
                        "ms/patch p50",
                        stats["stackio"]["p50"],
                        "bioio",
                        stats["bioio"]["p50"],
                        note=f"bioio {stats['bioio']['requests']:.1f} requests/patch, load {load_requests['bioio']}",
                    )
                )
            for stack in (opened.get("stackio"),):
                if stack is not None:
                    stack.close()
    return rows
