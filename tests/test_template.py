"""plugins/_template, copied and renamed exactly as the "Write a plugin" page says, installs and passes its tests.

The template is not installed into the project's environment (it would appear in `stackio demo` as a
format), so this is where its read tests and its conformance run happen.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "pages" / "write-a-plugin.md"


def _rename_commands() -> str:
    """The shell block of the guide that copies and renames the template."""
    blocks = re.findall(r"```bash\n(.*?)```", GUIDE.read_text(), flags=re.S)
    found = [b for b in blocks if "cp -r plugins/_template" in b]
    assert len(found) == 1, f"{GUIDE.name} must show the copy-and-rename commands in one bash block"
    return found[0]


@pytest.fixture(scope="module")
def renamed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template copied and renamed to `acme` by the guide's own commands."""
    top = tmp_path_factory.mktemp("author")
    ignore = shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.egg-info")
    shutil.copytree(ROOT / "plugins" / "_template", top / "plugins" / "_template", ignore=ignore)
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", _rename_commands()], cwd=top, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return top / "plugins" / "acme"


def test_the_guide_renames_every_mention(renamed: Path) -> None:
    files = sorted(p.relative_to(renamed).as_posix() for p in renamed.rglob("*") if p.is_file())
    assert files == [
        "README.md",
        "pyproject.toml",
        "stackio_acme/__init__.py",
        "stackio_acme/py.typed",
        "stackio_acme/reader.py",
        "stackio_acme/samples.py",
        "tests/test_acme_conformance.py",
        "tests/test_acme_read.py",
    ]
    left = [f for f in files if "myformat" in (renamed / f).read_text().lower()]
    assert not left, f"'myformat' is still written in {left}"
    assert '[project.entry-points.stackio]\nacme = "stackio_acme"' in (renamed / "pyproject.toml").read_text()


def test_the_installed_copy_passes_its_tests_and_the_conformance_suite(renamed: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",  # hatchling comes with the test extras: no download
            "--target",
            str(site),
            str(renamed),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *(p for p in sys.path if p)])}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "tests"],
        cwd=renamed,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    outcomes: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        word = line.split(" ", 1)[0]
        if word in ("PASSED", "FAILED", "SKIPPED", "ERROR", "XFAIL", "XPASS") and "::" in line:
            outcomes[line.split(" ", 1)[1].split(" ")[0]] = word
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert set(outcomes.values()) == {"PASSED"}, proc.stdout[-4000:]
    conformance = [name for name in outcomes if "test_acme_conformance.py" in name]
    read = [name for name in outcomes if "test_acme_read.py" in name]
    assert len(conformance) >= 14 and len(read) >= 10, proc.stdout[-4000:]
    assert any(name.endswith("::test_found_through_entry_point") for name in conformance)
