"""Scenarios 1-3: importing, and loading + reading a small TIFF in a fresh and in a warm process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import data as D
from .config import Config
from .util import FORMAT_LIBRARIES, Row, have, interleaved, median, python_env, run_fresh


def _fresh_times(codes: dict[str, str], repeats: dict[str, int]) -> dict[str, list[float]]:
    """Wall seconds of each command in fresh interpreters, interleaved (rotated order each round)."""
    names = list(codes)
    for name in names:  # warm the page cache and the bytecode caches
        run_fresh(codes[name])
    times: dict[str, list[float]] = {n: [] for n in names}
    for i in range(max(repeats.values())):
        order = names[i % len(names) :] + names[: i % len(names)]
        for name in order:
            if len(times[name]) < repeats[name]:
                times[name].append(run_fresh(codes[name]))
    return times


def _imported_by(code: str) -> list[str]:
    probe = (
        f"import sys, json\n{code}\n"
        f"print(json.dumps(sorted(m for m in {list(FORMAT_LIBRARIES)!r} if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], env=python_env(), capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_import(cfg: Config, log: Callable[[str], None]) -> list[Row]:
    codes = {"stackio": "import stackio", "numpy": "import numpy", "python": "pass"}
    repeats = dict.fromkeys(codes, cfg.fresh_repeats)
    if cfg.use_bioio and have("bioio"):
        codes["bioio"] = "import bioio"
        repeats["bioio"] = cfg.bioio_fresh_repeats
    times = _fresh_times(codes, repeats)
    ms = {k: median(v) * 1e3 for k, v in times.items()}
    n = {k: len(v) for k, v in times.items()}
    log("  1 " + ", ".join(f"{k} {v:.1f} ms (n={n[k]})" for k, v in ms.items()))
    note = f"wall time of `python -c ...` incl. interpreter start-up ({ms['python']:.0f} ms for `pass`)"
    rows = [
        Row(
            "1",
            "import stackio (fresh process)",
            "ms",
            ms["stackio"],
            "import numpy",
            ms["numpy"],
            "<= +20 ms",
            20.0,
            kind="delta",
            note=note,
            samples={"stackio": n["stackio"], "numpy": n["numpy"]},
        ),
    ]
    if "bioio" in ms:
        rows.append(
            Row(
                "1",
                "import stackio (fresh process)",
                "ms",
                ms["stackio"],
                "import bioio",
                ms["bioio"],
                samples={"stackio": n["stackio"], "bioio": n["bioio"]},
            )
        )
    for code, label in (
        ("import stackio", "import stackio"),
        ("import stackio; stackio.formats()", "import stackio; stackio.formats()"),
    ):
        found = _imported_by(code)
        rows.append(
            Row(
                "1",
                label,
                "format libraries imported",
                float(len(found)),
                "-",
                None,
                "0",
                0.0,
                kind="absolute",
                note=", ".join(found) if found else "",
            )
        )
    return rows


def _small_tiff(cfg: Config) -> Path:
    path = cfg.data / "small" / "small.tif"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        D.write_tiff(path, D.volume(cfg.small_shape))
    return path


def run_fresh_read(cfg: Config, log: Callable[[str], None]) -> list[Row]:
    if "tiff" not in cfg.formats:
        return [
            Row.skipped(
                "2", "fresh process: load + read small TIFF", "ms", "the stackio 'tiff' format is not installed"
            )
        ]
    path = str(_small_tiff(cfg))
    h, w = cfg.small_shape
    codes = {
        "stackio": f"import stackio; stackio.load({path!r}, 'YX')[0].extract_patch(0, None, (0, 0), ({h}, {w}))",
        "tifffile": f"import tifffile; tifffile.imread({path!r})",
    }
    repeats = dict.fromkeys(codes, cfg.fresh_repeats)
    if cfg.use_bioio and have("bioio") and have("bioio_tifffile"):
        codes["bioio"] = f"from bioio import BioImage; BioImage({path!r}).data"
        repeats["bioio"] = cfg.bioio_fresh_repeats
    times = _fresh_times(codes, repeats)
    ms = {k: median(v) * 1e3 for k, v in times.items()}
    n = {k: len(v) for k, v in times.items()}
    log("  2 " + ", ".join(f"{k} {v:.1f} ms (n={n[k]})" for k, v in ms.items()))
    case = f"fresh process: load + read {h}x{w} TIFF"
    rows = [
        Row(
            "2",
            case,
            "ms",
            ms["stackio"],
            "tifffile.imread",
            ms["tifffile"],
            "<= 1.2x",
            1.2,
            note="wall time of the whole process",
            samples={"stackio": n["stackio"], "tifffile": n["tifffile"]},
        )
    ]
    if "bioio" in ms:
        rows.append(
            Row(
                "2",
                case,
                "ms",
                ms["stackio"],
                "bioio BioImage(...).data",
                ms["bioio"],
                samples={"stackio": n["stackio"], "bioio": n["bioio"]},
            )
        )
    return rows


def run_warm(cfg: Config, log: Callable[[str], None]) -> list[Row]:
    if "tiff" not in cfg.formats:
        return [
            Row.skipped("3", "warm process: load + read small TIFF", "ms", "the stackio 'tiff' format is not installed")
        ]
    import stackio
    import tifffile

    path = str(_small_tiff(cfg))
    h, w = cfg.small_shape
    want = tifffile.imread(path)

    def lazy(_: int) -> np.ndarray:
        return stackio.load(path, "YX")[0].extract_patch(0, None, (0, 0), (h, w))

    def in_memory(_: int) -> np.ndarray:
        return stackio.load(path, "YX", in_memory=True)[0].extract_patch(0, None, (0, 0), (h, w))

    calls: dict[str, Callable[[int], np.ndarray]] = {
        "stackio": lazy,
        "stackio in_memory": in_memory,
        "tifffile": lambda _: tifffile.imread(path),
    }
    limits = {}
    if cfg.use_bioio and have("bioio") and have("bioio_tifffile"):
        from bioio import BioImage

        calls["bioio"] = lambda _: BioImage(path).data
        limits["bioio"] = cfg.bioio_warm
    for name, call in calls.items():
        got = np.asarray(call(0)).reshape(want.shape)
        if not np.array_equal(got, want):
            raise AssertionError(f"scenario 3: {name} read different pixels than tifffile.imread")
    times = interleaved(calls, list(range(cfg.warm_iterations)), limits=limits)
    ms = {k: median(v) * 1e3 for k, v in times.items()}
    n = {k: len(v) for k, v in times.items()}
    log("  3 " + ", ".join(f"{k} {v:.3f} ms (n={n[k]})" for k, v in ms.items()))
    case = f"warm: load + read {h}x{w} TIFF"
    rows = [
        Row(
            "3",
            case,
            "ms",
            ms["stackio"],
            "tifffile.imread",
            ms["tifffile"],
            "<= 1.2x",
            1.2,
            note="stackio.load(path, 'YX')[0].extract_patch(whole image)",
            samples={"stackio": n["stackio"], "tifffile": n["tifffile"]},
        ),
        Row(
            "3",
            case + " (in_memory=True)",
            "ms",
            ms["stackio in_memory"],
            "tifffile.imread",
            ms["tifffile"],
            "<= 1.2x",
            1.2,
            samples={"stackio": n["stackio in_memory"], "tifffile": n["tifffile"]},
        ),
    ]
    if "bioio" in ms:
        rows.append(
            Row(
                "3",
                case,
                "ms",
                ms["stackio"],
                "bioio BioImage(...).data",
                ms["bioio"],
                samples={"stackio": n["stackio"], "bioio": n["bioio"]},
            )
        )
    return rows
