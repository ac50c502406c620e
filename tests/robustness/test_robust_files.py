"""Files under open stacks: shrunk or re-saved smaller (a ReadError, never SIGBUS), more stacks than the
descriptor limit (all read, none reported corrupt), relative paths after `os.chdir` and in workers.

Each scenario runs in a process of its own (`robust_files.py`), so a signal fails that case, not pytest.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from robust_files import CHDIR_FORMATS, MANY, MANY_FORMATS, SHRINK_FORMATS

SCRIPT = Path(__file__).with_name("robust_files.py")


def run(scenario: str, fmt: str, folder: Path, *, timeout: float = 300) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "STACKIO_FILE_READS"}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), scenario, fmt, str(folder)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    if done.returncode < 0:
        pytest.fail(f"{scenario} {fmt}: killed by {signal.Signals(-done.returncode).name}\n{done.stderr[-2000:]}")
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("fmt", SHRINK_FORMATS)
def test_a_file_shrinking_under_an_open_stack_is_a_read_error(fmt: str, tmp_path: Path) -> None:
    results = run("shrink", fmt, tmp_path)
    assert set(results) == {"map truncate", "map resave", "window truncate", "window resave"}
    for case, result in results.items():
        assert result["outcome"] == "error", (case, result)
        assert result["type"] == "FileAccessError", (case, result)
        assert "the file changed since it was opened" in result["message"], (case, result)
        assert "shrank" in result["message"] and str(tmp_path) in result["message"], (case, result)


@pytest.mark.parametrize("fmt", SHRINK_FORMATS)
def test_a_file_shrinking_between_batches_is_a_read_error(fmt: str, tmp_path: Path) -> None:
    results = run("shrink-batch", fmt, tmp_path)
    assert set(results) == {"map truncate", "map resave", "window truncate", "window resave"}
    for case, result in results.items():
        assert result["outcome"] == "error", (case, result)
        assert result["type"] == "FileAccessError", (case, result)
        assert "the file changed since it was opened" in result["message"], (case, result)
        assert "shrank" in result["message"] and str(tmp_path) in result["message"], (case, result)


@pytest.mark.parametrize("fmt", MANY_FORMATS)
def test_more_stacks_than_the_descriptor_limit_all_read(fmt: str, tmp_path: Path) -> None:
    result = run("many", fmt, tmp_path)
    assert result["outcome"] == "read", result
    assert result["stacks"] == MANY and result["wrong"] == [], result
    assert result["fds"] < 400, result  # the pool holds at most a quarter of the 1,024 allowed


@pytest.mark.parametrize("fmt", CHDIR_FORMATS)
def test_a_stack_loaded_by_a_relative_path_reads_after_chdir_and_in_workers(fmt: str, tmp_path: Path) -> None:
    result = run("chdir", fmt, tmp_path)
    assert result == {"outcome": "read", "here": True, "worker": True}
