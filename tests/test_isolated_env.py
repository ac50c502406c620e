"""Plugins install independently: a fresh virtual environment with only the core and stackio-czi.

Slow (creates a venv and pip-installs into it, ~1 minute with a warm pip cache); set
STACKIO_SKIP_ISOLATED=1 to skip it locally. CI runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import venv
from pathlib import Path

import numpy as np
import pytest
import stackio

ROOT = Path(__file__).resolve().parent.parent
CZI = ROOT / "plugins" / "czi"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("STACKIO_SKIP_ISOLATED", "") not in ("", "0"), reason="STACKIO_SKIP_ISOLATED is set"
    ),
    pytest.mark.skipif(not (CZI / "pyproject.toml").is_file(), reason="plugins/czi is not in this checkout"),
]


def _run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "STACKIO_DISABLE_PLUGINS")}
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=600, **kwargs)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def fresh_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("isolated") / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(where)
    python = where / "bin" / "python"
    proc = _run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(ROOT), str(CZI)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return where


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A TIFF and the czi plugin's own sample CZIs, written in this (full) environment."""
    import tifffile

    d = tmp_path_factory.mktemp("isolated-files")
    tifffile.imwrite(d / "cells.tif", np.zeros((8, 8), np.uint8))
    registry = stackio.get_registry()
    if registry.format("czi") is None:
        pytest.skip("stackio-czi is not installed here, so no CZI can be written for the fresh environment")
    samples = registry.write_samples(registry.format("czi").plugin, d)
    sample = samples[0]
    (stack,) = stackio.load(sample.source, sample.axes, **sample.options)[:1]
    spatial = stack.data_shape[2:]
    expected = stack.extract_patch(0, None, (0,) * len(spatial), spatial)
    return {"tif": d / "cells.tif", "czi": sample, "expected": expected}


def test_formats_lists_only_the_installed_plugin(fresh_env: Path) -> None:
    proc = _run([str(fresh_env / "bin" / "stackio"), "formats", "--json"])
    assert proc.returncode == 0, proc.stderr
    listed = json.loads(proc.stdout)
    assert sorted(row["format"] for row in listed["formats"]) == ["array", "czi"]
    assert listed["broken"] == []
    czi = next(row for row in listed["formats"] if row["format"] == "czi")
    assert czi["distribution"] == "stackio-czi"
    proc = _run([str(fresh_env / "bin" / "python"), "-c", "import stackio_tiff"])
    assert proc.returncode != 0  # the tiff plugin really is absent


def test_a_tif_names_the_plugin_to_install(fresh_env: Path, files: dict[str, object]) -> None:
    proc = _run([str(fresh_env / "bin" / "stackio"), "info", str(files["tif"])])
    assert proc.returncode == 1
    assert "It looks like tiff: install the plugin with `pip install stackio-tiff`" in proc.stderr
    installed = proc.stderr.split("Installed formats: ", 1)[1].strip().rstrip(".").split("; ")
    assert [entry.split(" (")[0] for entry in installed] == ["array", "czi"]


def test_a_czi_loads(fresh_env: Path, files: dict[str, object]) -> None:
    sample = files["czi"]
    code = (
        "import sys, json, stackio, numpy as np\n"
        "stack = stackio.load(sys.argv[1], None if sys.argv[2] == '-' else sys.argv[2])[0]\n"
        "sp = stack.data_shape[2:]\n"
        "patch = stack.extract_patch(0, None, (0,) * len(sp), sp)\n"
        "np.save(sys.argv[3], patch)\n"
        "print(json.dumps({'loaded': [m for m in ('tifffile', 'zarr', 'PIL') if m in sys.modules]}))\n"
    )
    out = Path(str(files["tif"])).with_name("patch.npy")
    proc = _run([str(fresh_env / "bin" / "python"), "-c", code, sample.source, sample.axes or "-", str(out)])  # type: ignore[attr-defined]
    assert proc.returncode == 0, proc.stderr[-3000:]
    np.testing.assert_array_equal(np.load(out), files["expected"])
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"loaded": []}
