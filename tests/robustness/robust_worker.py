"""A worker process of the robustness suite: runs jobs from a JSON file and reports each one.

Usage (by `robust_support.run_batch`): `robust_worker.py JOBS_JSON START RESULT_FD SCRATCH`.
For each job from START on it writes `START i` to RESULT_FD, runs the job, then writes
`DONE i <json result>`. A crash or hang shows as a START without its DONE.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

#: Address space a worker may use (at most; less on small machines, see `memory_limit`): a mutant
#: that makes a library allocate wildly fails with MemoryError instead of taking the machine's memory
#: from everything else running on it.
MEMORY_LIMIT = 8 * 2**30


def memory_limit() -> int:
    """A third of the memory available now (two workers and the test process), between 1.5 and 8 GiB."""
    from stackio.memory import available_memory

    free = available_memory() or MEMORY_LIMIT
    return int(min(MEMORY_LIMIT, max(1.5 * 2**30, free // 3)))


def run_job(job: dict[str, Any], scratch: Path) -> dict[str, Any]:
    kind = job["kind"]
    if kind == "case":
        import robust_cases

        return robust_cases.run_case(job["name"], scratch)
    if kind == "mutant":
        import robust_fuzz

        return robust_fuzz.run_mutant(job, scratch)
    if kind == "cycles":
        import robust_cycles

        return robust_cycles.run_cycles(job, scratch)
    if kind == "selftest":  # the runner's own test: a job that crashes, hangs or passes on purpose
        if job["what"] == "segfault":
            import ctypes

            ctypes.string_at(0)
        elif job["what"] == "hang":
            import time

            time.sleep(3600)
        return {"outcome": "done"}
    raise ValueError(f"unknown job kind {kind!r}")


def main() -> None:
    jobs_file, start, fd, scratch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = memory_limit() if hard == resource.RLIM_INFINITY else min(memory_limit(), hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    scratch.mkdir(parents=True, exist_ok=True)
    with open(jobs_file) as f:
        jobs = json.load(f)
    out = os.fdopen(fd, "w", buffering=1)
    import stackio

    stackio.formats()  # discovery before the first job's clock starts
    for index in range(start, len(jobs)):
        out.write(f"START {index}\n")
        out.flush()
        try:
            result = run_job(jobs[index], scratch)
        except BaseException as exc:  # a bug of the harness itself, reported as such
            result = {
                "outcome": "harness-error",
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc()[-3000:],
            }
        out.write(f"DONE {index} {json.dumps(result, default=str)}\n")
        out.flush()
    out.close()


if __name__ == "__main__":
    main()
