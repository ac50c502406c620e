"""Run the chosen scenarios, print the table, save it (JSON and Markdown) under benchmarks/results/."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from .cli import add_arguments
from .config import Config, preset
from .scenarios import SCENARIOS as CATALOG
from .util import BENCH_DIR, Row, have, table, versions

SCENARIOS: dict[str, tuple[str, Callable[[Config, Callable[[str], None]], list[Row]]]] = {
    number: (scenario.title, scenario.load()) for number, scenario in CATALOG.items()
}


def config(args: argparse.Namespace, data: Path) -> Config:
    import stackio

    overrides: dict[str, object] = {}
    for name in ("volume", "patches", "many_files", "big_patches", "dask_volume"):
        if getattr(args, name, None) is not None:
            overrides[name] = getattr(args, name)
    if getattr(args, "big_gib", None) is not None:
        overrides["big_bytes"] = int(args.big_gib * 2**30)
    formats = frozenset(f.name for f in stackio.formats())
    use_bioio = not args.no_bioio and have("bioio")
    return preset(args.size, data=data, formats=formats, use_bioio=use_bioio, **overrides)


def machine() -> dict[str, object]:
    info: dict[str, object] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "executable": sys.executable,
    }
    try:
        with open("/proc/meminfo") as f:
            info["memory_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        info["cpu"] = names[0] if names else ""
    except OSError:
        pass
    return info


def main(args: argparse.Namespace) -> int:
    import stackio

    chosen = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        print(f"unknown scenario(s) {unknown}; choose from {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    temp = args.data_dir is None
    data = Path(tempfile.mkdtemp(prefix="stackio-bench-")) if temp else args.data_dir.resolve()
    data.mkdir(parents=True, exist_ok=True)
    cfg = config(args, data)
    broken = [f"{b.name}: {b.reason}" for b in stackio.broken_plugins()] if hasattr(stackio, "broken_plugins") else []

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    log(
        f"stackio benchmarks ({cfg.size}), data in {data}; formats: {', '.join(sorted(cfg.formats))}; "
        f"bioio: {'yes' if cfg.use_bioio else 'no'}"
    )
    if broken:
        log("broken plugins: " + "; ".join(broken))
    rows: list[Row] = []
    timings: dict[str, float] = {}
    started = time.time()
    try:
        for number in chosen:
            title, run = SCENARIOS[number]
            log(f"[{number}] {title}")
            t0 = time.perf_counter()
            try:
                rows += run(cfg, log)
            except Exception as exc:
                log(traceback.format_exc())
                rows.append(Row(number, title, "-", None, "-", None, note=f"error: {type(exc).__name__}: {exc}"))
            timings[number] = time.perf_counter() - t0
            log(f"[{number}] done in {timings[number]:.1f} s")
    finally:
        if temp and not args.keep_data:
            shutil.rmtree(data, ignore_errors=True)
    text = table(rows)
    print(text)
    config_dict = {
        k: (str(v) if isinstance(v, Path) else sorted(v) if isinstance(v, frozenset) else v)
        for k, v in vars(cfg).items()
    }
    result = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        "seconds": round(time.time() - started, 1),
        "command": " ".join(sys.argv),
        "machine": machine(),
        "versions": versions(),
        "broken_plugins": broken,
        "config": config_dict,
        "scenario_seconds": timings,
        "rows": [r.as_dict() for r in rows],
    }
    out = args.out or BENCH_DIR / "results" / f"bench-{cfg.size}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    out.with_suffix(".md").write_text(text + "\n")
    log(f"results: {out} (and {out.with_suffix('.md').name}); {result['seconds']} s in all")
    failed = [r for r in rows if r.ok is False]
    log(
        f"{sum(r.ok is True for r in rows)} targets met, {len(failed)} missed, "
        f"{sum(r.ok is None for r in rows)} rows without a target"
    )
    return 0


__all__ = ["add_arguments", "main"]
