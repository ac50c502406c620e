"""The plugin's declaration, dispatch, import cost and clean stdout (the library prints while opening)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import stackio


def test_declaration() -> None:
    entry = stackio.get_registry().format("ndtiff")
    assert entry is not None
    spec = entry.spec
    assert spec.directories and spec.suffixes == ()
    assert spec.markers == ("NDTiff.index", "Full resolution/NDTiff.index")
    assert spec.option_names == ("select", "stitched", "level")
    assert spec.distribution == "stackio-ndtiff"


def test_dispatch_by_marker(tcz_dataset: Path, grid_dataset: Path) -> None:
    assert stackio.detect(tcz_dataset).format == "ndtiff"  # NDTiff.index
    assert stackio.detect(grid_dataset).format == "ndtiff"  # Full resolution/NDTiff.index
    stacks = stackio.load([tcz_dataset, grid_dataset])
    assert [s.data_shape for s in stacks] == [(3, 2, 4, 24, 20), (1, 2, 2, 48, 84)]


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "error::UserWarning"},
    )


def test_reading_imports_neither_ndstorage_nor_dask_and_prints_nothing(grid_dataset: Path) -> None:
    code = f"""
import sys, stackio, stackio_ndtiff
stackio.formats()
assert "ndstorage" not in sys.modules
stack = stackio.load({str(grid_dataset)!r})[0]
stack.extract_patch(0, None, (0, 0, 0), (2, 20, 20))
stackio.load({str(grid_dataset)!r}, in_memory=True, level=1)
stack.metadata.raw()
heavy = sorted(m for m in ("ndstorage", "dask", "tifffile", "sortedcontainers") if m in sys.modules)
sys.stderr.write(repr(heavy))
"""
    result = _run(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == "[]"


def test_cli_json_stdout_is_clean(tcz_dataset: Path) -> None:
    args = ["info", "--json", str(tcz_dataset), "-o", 'select={"time": 1}']
    result = _run(f"import sys; from stackio.cli import main; sys.exit(main({args!r}))")
    assert result.returncode == 0, result.stderr
    described = json.loads(result.stdout)
    assert described["format"] == "ndtiff"
    assert described["stacks"][0]["data_shape"] == [1, 2, 4, 24, 20]
    assert described["stacks"][0]["metadata"]["channel_names"] == ["DAPI", "GFP"]
