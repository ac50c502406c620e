"""The bad-input matrix: every case in `robust_cases` raises the right StackioError, naming the source.

The cases run in watched worker processes (a few, side by side), so a segfault or a hang in any
format library shows up as that case's failure instead of killing the run.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stackio
from robust_cases import CASES
from robust_corpus import FORMATS, pattern, write_ndtiff
from robust_support import REPORT, run_batch, run_jobs

#: Cases that expose a bug in a plugin whose owner is still editing it (see the reason).
KNOWN_BUGS: dict[str, str] = {}


@pytest.fixture(scope="module")
def outcomes() -> dict[str, dict[str, Any]]:
    names = list(CASES)
    results = run_jobs([{"kind": "case", "name": n} for n in names], timeout=120)
    REPORT["bad inputs"] = {
        "cases": len(names),
        "by group": {g: sum(c.group == g for c in CASES.values()) for g in sorted({c.group for c in CASES.values()})},
        "crashes or hangs": sum(r["outcome"] in ("crash", "hang") for r in results),
    }
    return dict(zip(names, results, strict=True))


def test_the_matrix_covers_the_core_and_every_plugin() -> None:
    groups = {c.group for c in CASES.values()}
    assert len(CASES) >= 60
    assert {"core", "patch", "custom", "plugins", "bomb"} <= groups
    assert set(FORMATS) <= groups, f"formats without bad-input cases: {set(FORMATS) - groups}"


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[n])) if n in KNOWN_BUGS else n
        for n in CASES
    ],
)
def test_bad_input_raises_a_clear_stackio_error(name: str, outcomes: dict[str, dict[str, Any]]) -> None:
    case, result = CASES[name], outcomes[name]
    where = f"{case.doc}\n{result.get('traceback', '')}"
    assert result["outcome"] == "raised", f"{case.doc}: expected {case.expect}, got {result}"
    assert "StackioError" in result["mro"], f"{result['type']} is not a StackioError: {where}"
    assert case.expect in result["mro"], f"expected {case.expect}, got {result['type']}: {result['message']}"
    message = result["message"]
    missing = [n for n in case.names if n not in message]
    assert not missing, f"the message does not mention {missing}: {message!r}"


def test_the_runner_turns_crashes_and_hangs_into_outcomes_and_goes_on() -> None:
    """A segfault or a hang costs one job: the worker is replaced and the next job runs."""
    jobs = [{"kind": "selftest", "what": w} for w in ("ok", "segfault", "ok", "hang", "ok")]
    results = run_batch(jobs, timeout=5)
    assert [r["outcome"] for r in results] == ["done", "crash", "done", "hang", "done"]
    assert results[1]["signal"] == "SIGSEGV" and "Segmentation fault" in results[1]["stderr"]


def test_an_ndtiff_index_cut_at_an_entry_boundary_is_noticed(tmp_path: Path) -> None:
    """Found by the fuzzer: the lost tile must give an error or at least a warning, not silent zeros."""
    tiles = [({"row": r, "column": c}, pattern((24, 24), seed=40 + 2 * r + c)) for r in range(2) for c in range(2)]
    acq = write_ndtiff(tmp_path / "tiles", tiles, {"GridPixelOverlapY": 4, "GridPixelOverlapX": 4})
    (stack,) = stackio.load(acq)
    whole = stack.read_all()
    stack.close()
    index = acq / "NDTiff.index"
    data = index.read_bytes()
    index.write_bytes(data[: len(data) * 3 // 4])  # 3 of the 4 entries (they have equal sizes here)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            (stack,) = stackio.load(acq)
            cut = stack.read_all()
        except stackio.StackioError:
            return
    assert cut.shape == whole.shape and not np.array_equal(cut, whole)  # the silent loss this is about
    assert caught, "a tile was lost without a warning"
