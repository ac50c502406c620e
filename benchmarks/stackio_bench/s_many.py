"""Scenario 5: a directory of many small TIFFs: lazy load(dir), one patch from each, vs tifffile and bioio."""

from __future__ import annotations

from collections.abc import Callable

from . import data as D
from .config import Config
from .util import Row, have, run_child

PATCH = (32, 32)


def run(cfg: Config, log: Callable[[str], None]) -> list[Row]:
    n = cfg.many_files
    case = f"{n:,} TIFFs of {cfg.many_shape[0]}x{cfg.many_shape[1]}"
    if "tiff" not in cfg.formats:
        return [Row.skipped("5", case, "s", "the stackio 'tiff' format is not installed")]
    folder = cfg.data / f"many_{n}"
    if not folder.exists():
        D.write_many_tiffs(folder, n, cfg.many_shape)
    params = {"folder": str(folder), "shape": list(cfg.many_shape), "patch": list(PATCH)}
    st = run_child("many", {**params, "mode": "stackio"})
    tf = run_child("many", {**params, "mode": "tifffile"})
    log(f"  5 stackio {st}\n  5 tifffile {tf}")
    same = st["checksum"] == tf["checksum"] and st["n"] == tf["n"] == n
    note = "" if same else f"WRONG: stackio read {st['n']} files / checksum {st['checksum']}, tifffile {tf['checksum']}"
    rows = [
        Row(
            "5",
            case + ": load(dir), lazy",
            "s",
            st["load_s"],
            "tifffile: open each, read its shape",
            tf["load_s"],
            "<= 1.5 s",
            1.5,
            kind="absolute",
            note=note,
            passed=False if not same else None,
        ),
        Row(
            "5",
            case + ": load(dir), lazy",
            "MB peak RSS",
            st["peak_rss_after_load_mb"],
            "tifffile: open each, read its shape",
            tf["peak_rss_after_load_mb"],
            "<= 100 MB",
            100.0,
            kind="absolute",
            note="whole process (interpreter and imports included)",
        ),
        Row("5", case + ": one 32x32 patch from each", "s", st["read_s"], "tifffile.imread each, slice", tf["read_s"]),
    ]
    if cfg.use_bioio and have("bioio") and have("bioio_tifffile"):
        k = min(cfg.bioio_many, n)
        bi = run_child("many", {**params, "mode": "bioio", "limit": k})
        log(f"  5 bioio ({k} files) {bi}")
        per = f"bioio, {k} files timed, scaled to {n:,}"
        rows += [
            Row("5", case + ": load(dir), lazy", "s", st["load_s"], f"BioImage(f) each ({per})", bi["load_s"] * n / k),
            Row(
                "5",
                case + ": one 32x32 patch from each",
                "s",
                st["read_s"],
                f"get_image_data each ({per})",
                bi["read_s"] * n / k,
            ),
        ]
    return rows
