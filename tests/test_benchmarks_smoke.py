"""The benchmark harness runs end to end at tiny sizes and its correctness checks hold.

Timing targets are not asserted (figures at these sizes mean nothing); what is asserted is that every
scenario ran, that stackio read the same pixels as each baseline, and that `import stackio` imports no
format library.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RUN = REPO / "benchmarks" / "run.py"

pytestmark = pytest.mark.skipif(not RUN.exists(), reason="benchmarks/ is not in this checkout")


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "smoke.json"
    data = tmp_path_factory.mktemp("bench-data")
    proc = subprocess.run(
        [
            sys.executable,
            str(RUN),
            "--no-venv",
            "--smoke",
            "--no-bioio",
            "--scenarios",
            "1,3,4,5,6,10",
            "--data-dir",
            str(data),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "| # | case |" in proc.stdout
    return json.loads(out.read_text())


def test_every_chosen_scenario_reports(results: dict) -> None:
    assert {row["scenario"] for row in results["rows"]} == {"1", "3", "4", "5", "6", "10"}
    assert results["versions"]["stackio"]
    assert Path(results["config"]["data"]).name.startswith("bench-data")


def test_no_scenario_errored(results: dict) -> None:
    errors = [f"{r['scenario']} {r['case']}: {r['note']}" for r in results["rows"] if r["note"].startswith("error")]
    assert not errors


def test_correctness_checks_hold(results: dict) -> None:
    wrong = [
        f"{r['scenario']} {r['case']} vs {r['baseline']}: {r['note']}"
        for r in results["rows"]
        if r["passed"] is False or "WRONG" in r["note"]
    ]
    assert not wrong


def test_import_stackio_imports_no_format_library(results: dict) -> None:
    rows = [r for r in results["rows"] if r["metric"] == "format libraries imported"]
    assert len(rows) == 2
    assert all(r["stackio"] == 0 for r in rows), [r["note"] for r in rows]


def test_patch_cases_ran_for_installed_formats(results: dict) -> None:
    import stackio

    installed = {f.name for f in stackio.formats()}
    timed = {r["case"] for r in results["rows"] if r["scenario"] == "4" and r["stackio"] is not None}
    assert any(case.startswith("in-memory array") for case in timed)
    for fmt, prefix in (("tiff", "TIFF"), ("zarr", "OME-Zarr"), ("czi", "CZI"), ("ndtiff", "NDTiff")):
        if fmt in installed:
            assert any(case.startswith(prefix) for case in timed), (fmt, sorted(timed))
