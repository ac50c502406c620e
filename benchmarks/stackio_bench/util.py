"""Timing, memory and reporting helpers shared by the scenarios."""

from __future__ import annotations

import gc
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent.parent
REPO = BENCH_DIR.parent

#: Modules that must not be imported by `import stackio` (format libraries and heavy dependencies).
FORMAT_LIBRARIES = (
    "tifffile",
    "zarr",
    "pylibCZIrw",
    "ndstorage",
    "imagecodecs",
    "numcodecs",
    "dask",
    "bioio",
    "xarray",
)


@dataclass
class Row:
    """One comparison of the result table: stackio against one baseline, from the same run."""

    scenario: str
    case: str
    metric: str  # what is measured, with its unit ("ms/patch", "s", "MB peak RSS")
    stackio: float | None
    baseline: str
    baseline_value: float | None
    target: str = ""  # e.g. "<= 1.2x", "<= 0.01x (100x faster)", "<= 300 MB"
    #: What passes: ratio <= limit ("ratio"), stackio <= limit ("absolute"), stackio - baseline <= limit
    #: ("delta"), or `passed` ("check": a correctness check, e.g. the same pixels).
    limit: float | None = None
    kind: str = "ratio"
    passed: bool | None = None
    note: str = ""
    samples: dict[str, int] = field(default_factory=dict)

    @classmethod
    def skipped(cls, scenario: str, case: str, metric: str, why: str) -> Row:
        """A row saying a case did not run, and why."""
        return cls(scenario, case, metric, None, "-", None, note=f"skipped: {why}")

    @property
    def ratio(self) -> float | None:
        if self.stackio is None or not self.baseline_value:
            return None
        return self.stackio / self.baseline_value

    @property
    def ok(self) -> bool | None:
        if self.passed is False:
            return False
        if self.kind == "check":
            return self.passed
        if self.limit is None:
            return None
        if self.kind == "absolute":
            value = self.stackio
        elif self.kind == "delta":
            value = None if self.stackio is None or self.baseline_value is None else self.stackio - self.baseline_value
        else:
            value = self.ratio
        if value is None:
            return None
        return value <= self.limit

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "ok": self.ok}


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def interleaved(
    calls: dict[str, Callable[[Any], Any]],
    args: Sequence[Any],
    *,
    limits: dict[str, int] | None = None,
    budget: float | None = None,
    min_samples: int = 30,
    warmup: int = 3,
) -> dict[str, list[float]]:
    """Time each call on each argument, alternating calls (rotated order) to cancel drift.

    Each call takes the arguments in an order of its own (a fixed shuffle per call), so no call reads
    what the call before it has just brought into the CPU's caches; the calls made in a round take turns
    at going first. Returns seconds per call for each name. `limits` caps how many arguments a slow call
    (e.g. bioio) is timed on, spread evenly over the run. A call whose total time passes `budget`
    seconds stops once it has `min_samples` (so slow formats finish in bounded time).
    """
    limits = dict(limits or {})
    names = list(calls)
    for name in names:
        for arg in args[:warmup]:
            calls[name](arg)
    orders: dict[str, list[int]] = {}
    for k, name in enumerate(names):
        order = list(range(len(args)))
        random.Random(k).shuffle(order)
        orders[name] = order
    every = {name: max(1, len(args) // limits[name]) if name in limits else 1 for name in names}
    times: dict[str, list[float]] = {name: [] for name in names}
    spent = dict.fromkeys(names, 0.0)
    done: set[str] = set()
    gc.collect()
    clock = time.perf_counter
    for i in range(len(args)):
        active = [name for name in names if name not in done and not i % every[name]]
        if not active:
            if len(done) == len(names):
                break
            continue
        shift = i % len(active)
        for name in active[shift:] + active[:shift]:
            call, arg = calls[name], args[orders[name][i]]
            t0 = clock()
            call(arg)
            dt = clock() - t0
            times[name].append(dt)
            spent[name] += dt
            if (name in limits and len(times[name]) >= limits[name]) or (
                budget is not None and spent[name] > budget and len(times[name]) >= min_samples
            ):
                done.add(name)
    return times


def python_env() -> dict[str, str]:
    """Environment for child processes: the harness importable, no stray tracing."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(BENCH_DIR), env.get("PYTHONPATH", "")) if p)
    env.pop("STACKIO_TRACE", None)
    env["PYTHONDONTWRITEBYTECODE"] = "0"
    return env


def run_fresh(code: str, *, timeout: float = 600) -> float:
    """Wall seconds of `python -c code` in a fresh interpreter (start-up included)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code], env=python_env(), capture_output=True, text=True, timeout=timeout
    )
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"fresh process failed ({proc.returncode}):\n{code}\n{proc.stderr[-3000:]}")
    return elapsed


def run_child(task: str, params: dict[str, Any], *, timeout: float = 3600) -> dict[str, Any]:
    """Run `stackio_bench.child` task in a fresh interpreter and return its JSON answer."""
    proc = subprocess.run(
        [sys.executable, "-m", "stackio_bench.child", task, json.dumps(params)],
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child task {task} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"child task {task} printed no result:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return json.loads(lines[-1])


def peak_rss_mb() -> float:
    """This process's peak resident set size so far (MB, 2**20 bytes).

    VmHWM where /proc has it: `ru_maxrss` survives exec, so a child started from a big parent
    would report the parent's peak.
    """
    hwm = rss_parts_mb().get("VmHWM")
    if hwm is not None:
        return hwm
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_parts_mb() -> dict[str, float]:
    """Current RssAnon / RssFile / VmHWM of this process from /proc (MB); empty off Linux."""
    parts: dict[str, float] = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("RssAnon", "RssFile", "RssShmem", "VmHWM", "VmRSS"):
                    parts[key] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return parts


def have(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def versions() -> dict[str, str]:
    from importlib import metadata

    names = [
        "stackio",
        "stackio-tiff",
        "stackio-czi",
        "stackio-zarr",
        "stackio-ndtiff",
        "stackio-custom",
        "numpy",
        "tifffile",
        "imagecodecs",
        "zarr",
        "numcodecs",
        "pylibCZIrw",
        "ndstorage",
        "dask",
        "distributed",
        "bioio",
        "bioio-base",
        "bioio-tifffile",
        "bioio-ome-zarr",
        "psutil",
    ]
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.{digits}g}"


def table(rows: Sequence[Row]) -> str:
    """The result table in Markdown."""
    head = "| # | case | metric | stackio | baseline | baseline value | ratio | target | ok |"
    lines = [head, "|---|---|---|---:|---|---:|---:|---|---|"]
    for r in rows:
        ok = {True: "yes", False: "**no**", None: ""}[r.ok]
        ratio = fmt(r.ratio, 3) if r.ratio is not None else "-"
        lines.append(
            f"| {r.scenario} | {r.case} | {r.metric} | {fmt(r.stackio)} | {r.baseline} | "
            f"{fmt(r.baseline_value)} | {ratio} | {r.target} | {ok} |"
        )
    notes = [f"- {r.scenario} {r.case} vs {r.baseline}: {r.note}" for r in rows if r.note]
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines)
