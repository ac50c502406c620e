"""Resources: thousands of load / extract / close cycles leave files, maps and memory flat; closing or
collecting a stack releases what it opened."""

from __future__ import annotations

import gc
import os
from typing import Any

import pytest
import stackio
from robust_corpus import FORMATS, Base
from robust_support import fds_under, maps_under, run_jobs

#: Cycles per format (the issue asks for 10,000; STACKIO_RESOURCE_CYCLES changes it).
CYCLES = int(os.environ.get("STACKIO_RESOURCE_CYCLES", 10_000))
#: Resident memory may grow this much over all cycles after the warm-up (allocator noise, caches).
RSS_SLACK = 12 * 2**20


def first_of_each_format(bases: list[Base]) -> dict[str, Base]:
    out: dict[str, Base] = {}
    for base in bases:
        out.setdefault(base.format, base)
    return out


@pytest.fixture(scope="module")
def cycle_results(corpus: list[Base]) -> dict[str, dict[str, Any]]:
    picked = first_of_each_format(corpus)
    jobs = [{"kind": "cycles", "base": b.to_json(), "cycles": CYCLES} for b in picked.values()]
    # A leaking run on purpose, to show the measurements catch a leak.
    jobs.append({"kind": "cycles", "base": picked["numpy"].to_json(), "cycles": 2000, "leak": True})
    results = run_jobs(jobs, timeout=900)
    out = dict(zip(picked, results, strict=False))
    out["leak-on-purpose"] = results[-1]
    return out


@pytest.mark.parametrize("fmt", FORMATS)
def test_cycles_leave_files_and_memory_flat(fmt: str, cycle_results: dict[str, dict[str, Any]]) -> None:
    result = cycle_results[fmt]
    assert result["outcome"] == "done", result
    assert result["cycles"] == CYCLES
    assert result["files_after"] == result["files_before"] == [], result
    assert result["maps_after"] == result["maps_before"] == [], result
    assert result["fds_after"] <= result["fds_before"], result
    growth = max(result["rss"]) - result["rss"][0]
    assert growth <= RSS_SLACK, f"{fmt}: RSS grew {growth / 2**20:.1f} MiB over {CYCLES} cycles: {result['rss']}"


def test_the_measurement_sees_a_leak(cycle_results: dict[str, dict[str, Any]]) -> None:
    """Stacks kept open (never closed) show up as maps of the file: the test above can fail."""
    result = cycle_results["leak-on-purpose"]
    assert result["outcome"] == "done", result
    assert result["maps_after"], result


def _read_corner(stacks: list[Any]) -> None:
    for stack in stacks:
        shape = stack.data_shape
        stack.extract_patch(0, None, [0] * (len(shape) - 2), [min(4, n) for n in shape[2:]])


@pytest.mark.parametrize("how", ["close", "collect"])
def test_closing_or_collecting_a_stack_releases_its_files(how: str, corpus: list[Base]) -> None:
    for base in corpus:
        top = [base.path.split("@")[0]]
        gc.collect()
        before = (fds_under(top), maps_under(top))
        stacks = stackio.load(base.path, base.axes, **base.options)
        _read_corner(stacks)
        if how == "close":
            for stack in stacks:
                stack.close()
        del stacks
        if how == "collect":
            gc.collect()
        assert (fds_under(top), maps_under(top)) == before, f"{base.name}: files still open after {how}"


def test_an_open_stack_does_hold_its_file(corpus: list[Base]) -> None:
    """The check above can fail: a memory-mapped .npy stack that was read holds a map until closed."""
    base = next(b for b in corpus if b.path.endswith("volume.npy"))
    (stack,) = stackio.load(base.path, base.axes)
    _read_corner([stack])
    assert maps_under([base.path])
    stack.close()
    gc.collect()
    assert not maps_under([base.path])
