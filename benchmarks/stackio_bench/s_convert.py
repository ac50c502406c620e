"""Scenario 8: convert a large TIFF and a CZI to OME-Zarr with a pyramid, under the memory cap of scenario 6."""

from __future__ import annotations

from collections.abc import Callable

from . import data as D
from .config import Config
from .s_memory import big_shape
from .util import Row, have, run_child

PATCH = (16, 64, 64)
SEED = 8
#: stackio's default 3-D chunks, also used for the zarr-python reference the reads are compared with.
CHUNKS = (32, 128, 128)


def _cap(size: int) -> int:
    """Scenario 6's RLIMIT_DATA: a quarter of the dataset; at least 512 MiB, as RLIMIT_DATA also counts the
    address space (not memory) of the thread stacks that zarr's and the writers' thread pools reserve."""
    return max(size // 4, 512 * 2**20)


def _levels(shape: tuple[int, ...]) -> int:
    from stackio.pyramids import auto_levels

    return auto_levels(shape[-2:])


def run(cfg: Config, log: Callable[[str], None]) -> list[Row]:
    rows: list[Row] = []
    if "zarr" not in cfg.formats:
        return [Row.skipped("8", "convert to OME-Zarr", "s", "the stackio 'zarr' format is not installed")]
    work = cfg.data / "convert"
    work.mkdir(parents=True, exist_ok=True)
    if "tiff" in cfg.formats:
        rows += _tiff(cfg, log, work)
    else:
        rows.append(Row.skipped("8", "TIFF to OME-Zarr", "s", "the stackio 'tiff' format is not installed"))
    if "czi" in cfg.formats and have("pylibCZIrw"):
        rows += _czi(cfg, log, work)
    else:
        rows.append(Row.skipped("8", "CZI to OME-Zarr", "s", "the stackio 'czi' format or pylibCZIrw is missing"))
    return rows


def _tiff(cfg: Config, log: Callable[[str], None], work: object) -> list[Row]:
    shape = big_shape(cfg.big_bytes)
    size = D.nbytes(shape)
    cap = _cap(size)
    big = cfg.data / "big" / "big.tif"
    big.parent.mkdir(parents=True, exist_ok=True)
    if not big.exists():
        D.write_big_tiff(big, shape)
    levels = _levels(shape)
    label = f"TIFF {size / 2**30:.2f} GiB {'x'.join(map(str, shape))} -> OME-Zarr, {levels} levels"
    out = cfg.data / "convert" / "stackio.ome.zarr"
    common = {"path": str(big), "kind": "tiff", "cap_bytes": cap, "workers": 2, "levels": levels}
    mine = run_child("convert", {**common, "out": str(out), "mode": "stackio"})
    log(f"  8 tiff: stackio {mine}")
    peers = {}
    for mode, module in (("ngff-zarr", "ngff_zarr"), ("bioio", "bioio_ome_zarr")):
        if not have(module):
            continue
        try:
            peers[mode] = run_child(
                "convert", {**common, "out": str(cfg.data / "convert" / f"{mode}.ome.zarr"), "mode": mode}
            )
        except RuntimeError as exc:
            peers[mode] = {"error": str(exc).splitlines()[-1][:200]}
        log(f"  8 tiff: {mode} {peers[mode]}")
    ref = cfg.data / "convert" / "reference.zarr"
    run_child("convert_reference", {"path": str(big), "out": str(ref), "kind": "tiff", "chunks": list(CHUNKS)})
    reads = run_child(
        "convert_read",
        {"out": str(out), "ref": str(ref), "n": max(50, cfg.big_patches // 20), "patch": list(PATCH), "seed": SEED},
    )
    log(f"  8 tiff: reads {reads}")
    mb = size / 2**20
    cap_note = f"RLIMIT_DATA {cap / 2**20:.0f} MiB (scenario 6's cap); 2 worker threads"
    ok_peers = {m: r for m, r in peers.items() if not r.get("error")}
    fastest = min(ok_peers.items(), key=lambda kv: kv[1]["seconds"], default=None)
    failed = "; ".join(f"{m}: {r['error']}" for m, r in peers.items() if r.get("error"))
    rows = [
        Row(
            "8",
            label,
            "MB peak RSS",
            mine["peak_rss_mb"],
            f"{fastest[0]} (same cap)" if fastest else "-",
            fastest[1]["peak_rss_mb"] if fastest else None,
            "<= 300 MB",
            300.0,
            kind="absolute",
            note=f"{cap_note}; peak anon {mine['peak_anon_mb']:.0f} MB (the TIFF is memory-mapped: RSS counts its "
            "page cache)" + (f"; failed: {failed}" if failed else ""),
        ),
        Row(
            "8",
            label,
            "s",
            mine["seconds"],
            f"{fastest[0]} (same cap)" if fastest else "fastest peer",
            fastest[1]["seconds"] if fastest else None,
            "<= 1.0x",
            1.0,
            note=f"stackio {mb / mine['seconds']:.0f} MB/s"
            + "".join(
                f"; {m} {mb / r['seconds']:.0f} MB/s, peak RSS {r['peak_rss_mb']:.0f} MB" for m, r in ok_peers.items()
            ),
        ),
        Row(
            "8",
            f"random {'x'.join(map(str, PATCH))} patches of the converted image",
            "ms/patch",
            reads["out_ms"],
            "zarr-python slicing a zarr it wrote itself (same chunks)",
            reads["ref_ms"],
            "<= 1.1x",
            1.1,
        ),
        Row(
            "8",
            label,
            "ms/patch",
            reads["out_ms"],
            "zarr-python reference",
            reads["ref_ms"],
            "same pixels",
            kind="check",
            passed=reads["same"],
            note="the converted level 0 equals the source" if reads["same"] else "WRONG: pixels differ",
        ),
    ]
    return rows


def _czi(cfg: Config, log: Callable[[str], None], work: object) -> list[Row]:
    shape = cfg.volume
    path = cfg.data / "convert" / "volume.czi"
    if not path.exists():
        D.write_czi(path, D.volume(shape), D.CZI_ZSTD)
    size = D.nbytes(shape)
    cap = _cap(size)
    out = cfg.data / "convert" / "czi.ome.zarr"
    levels = _levels(shape)
    mine = run_child(
        "convert",
        {
            "path": str(path),
            "out": str(out),
            "kind": "czi",
            "mode": "stackio",
            "cap_bytes": cap,
            "workers": 2,
            "levels": levels,
        },
    )
    log(f"  8 czi: stackio {mine}")
    ref = cfg.data / "convert" / "czi-reference.zarr"
    run_child("convert_reference", {"path": str(path), "out": str(ref), "kind": "czi", "chunks": list(CHUNKS)})
    reads = run_child("convert_read", {"out": str(out), "ref": str(ref), "n": 50, "patch": list(PATCH), "seed": SEED})
    label = f"CZI (zstd) {size / 2**20:.0f} MiB {'x'.join(map(str, shape))} -> OME-Zarr, {levels} levels"
    return [
        Row(
            "8",
            label,
            "MB peak RSS",
            mine["peak_rss_mb"],
            "-",
            None,
            "<= 300 MB",
            300.0,
            kind="absolute",
            note=f"{size / 2**20 / mine['seconds']:.0f} MB/s in {mine['seconds']:.1f} s; no peer converts CZI in "
            ".venv-bench (bioio-czi is not installed there)",
        ),
        Row(
            "8",
            label,
            "ms/patch",
            reads["out_ms"],
            "zarr-python reference",
            reads["ref_ms"],
            "same pixels",
            kind="check",
            passed=reads["same"],
            note="the converted level 0 equals pylibCZIrw's pixels via stackio" if reads["same"] else "WRONG",
        ),
    ]
