"""Scenario 6: random patches from datasets four times larger than the memory the process may hold."""

from __future__ import annotations

from collections.abc import Callable

from . import data as D
from .config import Config
from .util import Row, run_child

PATCH = (16, 64, 64)
SEED = 6


def big_shape(nbytes: int) -> tuple[int, int, int]:
    side = 2048 if nbytes >= 512 * 2**20 else 1024
    return (max(PATCH[0], nbytes // (side * side * 2)), side, side)


def run(cfg: Config, log: Callable[[str], None]) -> list[Row]:
    shape = big_shape(cfg.big_bytes)
    size = D.nbytes(shape)
    # The budget the process may hold: a quarter of the dataset (RLIMIT_DATA needs ~200 MiB for Python itself).
    cap = max(size // 4, 256 * 2**20)
    work = cfg.data / "big"
    work.mkdir(parents=True, exist_ok=True)
    kinds = []
    if "zarr" in cfg.formats:
        kinds.append(("zarr", "zarr slicing"))
    if "tiff" in cfg.formats:
        kinds.append(("tiff", "tifffile.memmap"))
    rows: list[Row] = []
    for kind, floor_name in kinds:
        if kind == "zarr":
            path = work / "big.ome.zarr"
            if not path.exists():
                D.write_ome_zarr(path, None, (16, 128, 128), shape=shape)
        else:
            path = work / "big.tif"
            if not path.exists():
                D.write_big_tiff(path, shape)
        label = f"{kind} {size / 2**30:.2f} GiB {'x'.join(map(str, shape))}, {cfg.big_patches:,} patches 16x64x64"
        common = {"path": str(path), "kind": kind, "n": cfg.big_patches, "patch": list(PATCH), "seed": SEED}
        lazy = run_child("memory", {**common, "mode": "stackio", "cap_bytes": cap})
        floor = run_child("memory", {**common, "mode": "floor", "cap_bytes": cap})
        memory = run_child("memory", {**common, "mode": "stackio in_memory", "cap_bytes": None})
        log(f"  6 {kind}: lazy {lazy}\n  6 {kind}: floor {floor}\n  6 {kind}: in_memory {memory}")
        same = lazy["digest"] == memory["digest"] == floor["digest"]
        cap_note = f"RLIMIT_DATA {cap / 2**20:.0f} MiB, the dataset is {size / cap:.2g}x that"
        rows += [
            Row(
                "6",
                label,
                "MB peak RSS",
                lazy["peak_rss_mb"],
                f"{floor_name} (same cap)",
                floor["peak_rss_mb"],
                "<= 300 MB",
                300.0,
                kind="absolute",
                note=f"{cap_note}; peak RSS counts mapped file pages (page cache) too; "
                f"final RssFile {lazy['final'].get('RssFile', 0):.0f} MB",
            ),
            Row(
                "6",
                label,
                "MB peak anon RSS",
                lazy["peak_anon_mb"],
                f"{floor_name} (same cap)",
                floor["peak_anon_mb"],
                note="private memory only (sampled every 100 patches)",
            ),
            Row(
                "6",
                label,
                "ms/patch",
                lazy["median_ms"],
                f"{floor_name} (same cap)",
                floor["median_ms"],
                "<= 1.2x",
                1.2,
            ),
            Row(
                "6",
                label,
                "ms/patch",
                lazy["median_ms"],
                "stackio in_memory=True (no cap)",
                memory["median_ms"],
                "same patches",
                kind="check",
                passed=same,
                note=(
                    "lazy, floor and in-memory patches identical"
                    if same
                    else "WRONG: lazy, floor and in-memory patches differ"
                )
                + f"; in-memory load took {memory['open_s']:.1f} s, peak RSS {memory['peak_rss_mb']:.0f} MB",
            ),
        ]
    if not kinds:
        rows.append(
            Row.skipped("6", "large zarr / TIFF", "MB", "neither the stackio 'zarr' nor 'tiff' format is installed")
        )
    return rows
