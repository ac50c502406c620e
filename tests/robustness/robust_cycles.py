"""Load / extract / close cycles in one process, measuring open files, maps and memory as they go.

`run_cycles` runs in a worker process of its own (a fresh interpreter, so the memory it reports is
this format's alone): a warm-up, then N cycles, then a final count after garbage collection.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any

from robust_corpus import Base
from robust_support import fds_under, maps_under, open_fds, rss_bytes

WARM_UP = 300


#: Stacks kept open on purpose by a `leak=True` job (to show the measurement catches leaks).
_KEPT: list[Any] = []


def cycle(base: Base, leak: bool = False) -> None:
    import stackio

    for stack in stackio.load(base.path, base.axes, **base.options):
        shape = stack.data_shape
        stack.extract_patch(shape[0] - 1, None, [0] * (len(shape) - 2), [min(4, n) for n in shape[2:]])
        if leak:
            _KEPT.append(stack)
        else:
            stack.close()


def run_cycles(job: dict[str, Any], scratch: Path) -> dict[str, Any]:
    base = Base(**job["base"])
    top = [base.path.split("@")[0]]
    n, leak = int(job["cycles"]), bool(job.get("leak"))
    for _ in range(WARM_UP):
        cycle(base)
    gc.collect()
    fds0, files0, maps0, rss0 = len(open_fds()), fds_under(top), maps_under(top), rss_bytes()
    rss = [rss0]
    start = time.perf_counter()
    for i in range(1, n + 1):
        cycle(base, leak)
        if i % max(1, n // 10) == 0:
            rss.append(rss_bytes())
    seconds = time.perf_counter() - start
    gc.collect()
    return {
        "outcome": "done",
        "cycles": n,
        "seconds": seconds,
        "fds_before": fds0,
        "fds_after": len(open_fds()),
        "files_before": files0,
        "files_after": fds_under(top),
        "maps_before": maps0,
        "maps_after": maps_under(top),
        "rss": rss,
        "rss_after_gc": rss_bytes(),
    }
