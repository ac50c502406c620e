"""Fixtures of the robustness suite: the good inputs, and the read-only guard over every input.

Helpers live in `robust_*.py` beside this file (importable from the tests). Environment:

- `STACKIO_FUZZ_MUTANTS=N`: mutants per format (default 1000); `tests/robustness/robust_fuzz.py
  --mutants N` runs the fuzzer alone, longer.
- `STACKIO_RESOURCE_CYCLES=N`: load/read/close cycles per format (default 10,000).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from robust_corpus import Base, checksum_tree, realdata_bases, realdata_root, write_corpus


class WriteWatch:
    """An audit hook that records every attempt to open a watched path for writing.

    Python audit hooks cannot be removed, so the hook stays installed and only records while
    `roots` is non-empty. It sees `open()`, `os.open()` and writable memory maps; C libraries that
    open files themselves (libCZI) are checked through /proc instead (`writable_fds_under`).
    """

    def __init__(self) -> None:
        self.roots: tuple[str, ...] = ()
        self.violations: list[str] = []
        self._lock = threading.Lock()
        self._installed = False

    def install(self) -> None:
        if not self._installed:
            sys.addaudithook(self._hook)
            self._installed = True

    def _watched(self, path: Any) -> str | None:
        if isinstance(path, int) or path is None:
            return None
        try:
            text = os.path.abspath(os.fsdecode(path))
        except (TypeError, ValueError):
            return None
        if any(text == r or text.startswith(r + os.sep) for r in self.roots):
            return text
        real = os.path.realpath(text)
        return real if any(real == r or real.startswith(r + os.sep) for r in self.roots) else None

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.roots:
            return
        if event == "open":
            path, mode, flags = (*args, None, None, None)[:3]
            writing = bool(mode and any(c in str(mode) for c in "wax+")) or bool(
                isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC)
            )
            if writing:
                target = self._watched(path)
                if target:
                    with self._lock:
                        self.violations.append(f"open({target!r}, mode={mode!r}, flags={flags!r})")
        elif event == "mmap.__new__":
            fileno, _length, access = args[0], args[1], args[2]
            import mmap

            if fileno is not None and fileno >= 0 and access in (mmap.ACCESS_WRITE, mmap.ACCESS_DEFAULT):
                try:
                    target = self._watched(os.readlink(f"/proc/self/fd/{fileno}"))
                except OSError:
                    target = None
                if target:
                    with self._lock:
                        self.violations.append(f"writable mmap of {target!r} (access={access})")


WATCH = WriteWatch()


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
def read_only_guard(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[WriteWatch]:
    """Checksum every input before and after the robustness suite, and watch for write opens of them."""
    corpus_list: list[Base] = request.getfixturevalue("corpus")
    roots = sorted({str(Path(b.path.split("@")[0]).resolve().parent) for b in corpus_list})
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
