"""The benchmark harness runs end to end at tiny sizes and its correctness checks hold.

Timing targets are not asserted (figures at these sizes mean nothing); what is asserted is that every
scenario ran, that stackio read the same pixels as each baseline, and that `import stackio` imports no
format library.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
RUN = REPO / "benchmarks" / "run.py"
PACKAGE = REPO / "benchmarks" / "stackio_bench"

pytestmark = pytest.mark.skipif(not RUN.exists(), reason="benchmarks/ is not in this checkout")


def _catalog() -> dict[str, Any]:
    """The benchmark's scenarios, from its own list (the package is not installed: loaded by path)."""
    if not RUN.exists():
        return {}
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from stackio_bench.scenarios import SCENARIOS
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    return SCENARIOS


CATALOG = _catalog()
#: Every scenario that does not say why it cannot run in the smoke test.
SMOKE = [number for number, scenario in CATALOG.items() if not scenario.not_in_smoke]


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
            ",".join(SMOKE),
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
    assert {row["scenario"] for row in results["rows"]} == set(SMOKE)
    assert {"1", "3", "4", "5", "6", "10"} <= set(SMOKE)
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


def _row_numbers(module: Path) -> set[str]:
    """The scenario numbers a module's rows carry: the first argument of each `Row(...)` and `Row.skipped(...)`."""
    found = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        named = (isinstance(func, ast.Name) and func.id == "Row") or (
            isinstance(func, ast.Attribute) and func.attr == "skipped" and getattr(func.value, "id", None) == "Row"
        )
        first = node.args[0]
        if named and isinstance(first, ast.Constant) and isinstance(first.value, str):
            found.add(first.value)
    return found


def test_scenario_numbers_are_one_to_n_and_each_modules_rows_carry_its_own() -> None:
    listing = next(
        node.value
        for node in ast.walk(ast.parse((PACKAGE / "scenarios.py").read_text()))
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == "SCENARIOS"
    )
    assert isinstance(listing, ast.Dict)
    keys = [k.value for k in listing.keys if isinstance(k, ast.Constant)]
    assert len(keys) == len(set(keys)) == len(listing.keys), f"a number is given twice: {keys}"
    assert list(CATALOG) == [str(n) for n in range(1, len(CATALOG) + 1)], "numbers must run 1 to N in order"
    modules = {path.stem for path in PACKAGE.glob("s_*.py")}
    assert modules == {s.module for s in CATALOG.values()}, "every s_*.py module is a scenario, and only those"
    for module in sorted(modules):
        own = {number for number, s in CATALOG.items() if s.module == module}
        rows = _row_numbers(PACKAGE / f"{module}.py")
        assert rows, f"{module}.py makes no Row with a literal scenario number"
        assert rows <= own, f"{module}.py makes rows of scenario(s) {sorted(rows - own)}, listed as {sorted(own)}"
    for number, scenario in CATALOG.items():
        source = (PACKAGE / f"{scenario.module}.py").read_text()
        assert f"def {scenario.function}(" in source, (number, scenario.module, scenario.function)


def test_the_command_line_offers_every_scenario() -> None:
    done = subprocess.run([sys.executable, str(RUN), "--no-venv", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"({next(iter(CATALOG))}-{list(CATALOG)[-1]})" in " ".join(done.stdout.split())
