"""The documentation site builds with `mkdocs build --strict` (skipped when the docs tools are absent).

Install them with `pip install -r docs/requirements.txt`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "docs" / "mkdocs.yml"


def test_every_nav_page_exists() -> None:
    import re

    pages = re.findall(r":\s+(\S+\.md)\s*$", CONFIG.read_text(), flags=re.M)
    missing = [p for p in pages if not (ROOT / "docs" / "pages" / p).is_file()]
    assert pages and not missing, f"docs/mkdocs.yml lists pages that do not exist: {missing}"


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason="docs tools not installed (pip install -r docs/requirements.txt)")
    pytest.importorskip("mkdocstrings")
    pytest.importorskip("material")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(CONFIG), "-d", str(tmp_path / "site")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "WARNING" not in proc.stderr, proc.stderr[-4000:]
    hooks = (tmp_path / "site" / "hooks" / "index.html").read_text()
    assert "stackio_write_samples" in hooks and "Write a few small sample files" in hooks
    assert "Load image stacks from a path" in (tmp_path / "site" / "api" / "index.html").read_text()
