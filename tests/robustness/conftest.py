"""Fixtures of the robustness suite: the good inputs, and the read-only guard over every input.

Helpers live in `robust_*.py` beside this file (importable from the tests). Environment:

- `STACKIO_FUZZ_MUTANTS=N`: mutants per format (default 1000); `tests/robustness/robust_fuzz.py
  --mutants N` runs the fuzzer alone, longer.
- `STACKIO_RESOURCE_CYCLES=N`: load/read/close cycles per format (default 10,000).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from robust_corpus import Base, checksum_tree, realdata_bases, realdata_root, write_corpus
from robust_support import WATCH, WriteWatch


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Base]:
    """The generated good inputs (written once per session by each format's own library)."""
    return write_corpus(tmp_path_factory.mktemp("robust-corpus"))


@pytest.fixture(scope="session")
def realdata() -> list[Base]:
    """The small real files of ../shared/realdata (empty when it is absent)."""
    return realdata_bases(realdata_root())


@pytest.fixture(scope="session")
def all_bases(corpus: list[Base], realdata: list[Base]) -> list[Base]:
    return corpus + realdata


@pytest.fixture(scope="session", autouse=True)
def read_only_guard(corpus: list[Base]) -> Iterator[WriteWatch]:
    """Checksum every input before and after the robustness suite, and watch for write opens of them."""
    roots = sorted({str(Path(b.path.split("@")[0]).resolve().parent) for b in corpus})
    rd = realdata_root()
    if rd is not None:
        roots.append(str(rd.resolve()))
    before = checksum_tree([Path(r) for r in roots])
    WATCH.install()
    WATCH.roots = tuple(roots)
    WATCH.violations.clear()
    yield WATCH
    WATCH.roots = ()
    after = checksum_tree([Path(r) for r in roots])
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    assert not changed, f"input files changed by the robustness suite: {changed[:10]}"
    assert not WATCH.violations, f"inputs opened for writing: {WATCH.violations[:10]}"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the counts the robustness suite gathered (inputs tried, mutants per format, outcomes)."""
    from robust_support import REPORT

    if not REPORT:
        return
    import json

    terminalreporter.section("stackio robustness")
    for key, value in REPORT.items():
        terminalreporter.write_line(f"{key}: {json.dumps(value, default=str)}")
