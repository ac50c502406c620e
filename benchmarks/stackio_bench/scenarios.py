"""The scenarios by number: the one list the command line, the runner and the smoke test read.

Standard library only (`run.py` reads the command line before any venv exists). A scenario's rows carry
its number (`Row("4", ...)` in its module); `tests/test_benchmarks_smoke.py` checks that every module's
rows use the numbers given here, that the numbers run 1 to N without a gap, and that every `s_*.py`
module is listed. A new scenario runs in the smoke test unless `not_in_smoke` says why it cannot.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Scenario:
    title: str
    #: The `s_*.py` module of the package and its function `run(cfg, log) -> list[Row]`.
    module: str
    function: str = "run"
    #: Why the smoke test leaves the scenario out (empty: it runs there).
    not_in_smoke: str = ""

    def load(self) -> Callable[..., Any]:
        """The scenario's function (imports its module, which may need the benchmark's venv)."""
        return getattr(importlib.import_module(f"{__package__}.{self.module}"), self.function)  # type: ignore[no-any-return]


SCENARIOS: dict[str, Scenario] = {
    "1": Scenario("import stackio in a fresh process", "s_fresh", "run_import"),
    "2": Scenario("fresh process: load + read a small TIFF", "s_fresh", "run_fresh_read"),
    "3": Scenario("warm process: load + read a small TIFF, many times", "s_fresh", "run_warm"),
    "4": Scenario("random patches per format, lazy", "s_patches"),
    "5": Scenario("a directory of many small TIFFs", "s_many"),
    "6": Scenario("memory: patches from datasets 4x the memory cap", "s_memory"),
    "7": Scenario(
        "to_dask() reduction on a 2-process LocalCluster",
        "s_dask",
        not_in_smoke="starts a 2-process dask LocalCluster: about 30 s even at smoke size",
    ),
    "8": Scenario(
        "convert a large TIFF and a CZI to OME-Zarr with a pyramid, under the memory cap",
        "s_convert",
        not_in_smoke="converts in child processes under a memory cap: about 40 s even at smoke size",
    ),
    "9": Scenario(
        "batches of 64 random patches per format; DataLoader throughput",
        "s_batches",
        not_in_smoke="starts PyTorch DataLoader workers: about 50 s even at smoke size",
    ),
    "10": Scenario("one image's metadata against the format library's call", "s_images"),
    "11": Scenario(
        "OME-Zarr over HTTP with 0/20/50 ms per request",
        "s_remote",
        not_in_smoke="waits 20 and 50 ms per request (the zarr plugin's remote tests cover remote reads)",
    ),
}


def numbers_help() -> str:
    """The numbers for the command line's help, e.g. "1-11"."""
    keys = list(SCENARIOS)
    return f"{keys[0]}-{keys[-1]}" if len(keys) > 1 else keys[0]
