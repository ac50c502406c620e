"""The cache of plugin declarations: used by a fresh process, never trusted once stale, never fatal.

A small plugin distribution is built and installed with pip (`--target`), upgraded, edited and removed;
each check runs in a fresh interpreter that sees the install through PYTHONPATH and keeps its cache in
the test's own folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

PLUGIN = """
import numpy as np
from stackio import FormatSpec, Layout, LazyStack, hookimpl
{extra_import}

@hookimpl
def stackio_register_formats(register):
    register(FormatSpec(name="cachetest", suffixes=({suffix!r},), description={description!r}))

@hookimpl
def stackio_load(source, axes):
    array = np.fromfile(str(source.path), dtype=np.uint8).reshape(4, 4)
    return [LazyStack(str(source.path), Layout.from_axes("YX", array.shape), array.dtype, lambda: array)]
"""

PROBE = """
import json, sys, stackio
formats = {f.name: list(f.spec.suffixes) for f in stackio.formats() if f.name == "cachetest"}
print(json.dumps({
    "formats": formats,
    "imported": "stackio_cachetest" in sys.modules,
    "metadata_scanned": "importlib_metadata" in sys.modules,
    "broken": {b.name: b.reason for b in stackio.broken_plugins()},
}))
"""


def _project(top: Path, version: str, suffix: str, extra_import: str = "") -> Path:
    project = top / f"stackio-cachetest-{version}"
    package = project / "stackio_cachetest"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(
        PLUGIN.format(suffix=suffix, description=f"version {version}", extra_import=extra_import)
    )
    (project / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [build-system]
            requires = ["hatchling>=1.25"]
            build-backend = "hatchling.build"

            [project]
            name = "stackio-cachetest"
            version = "{version}"

            [project.entry-points.stackio]
            cachetest = "stackio_cachetest"

            [tool.hatch.build.targets.wheel]
            packages = ["stackio_cachetest"]
            """
        )
    )
    return project


def _pip_install(site: Path, project: Path) -> None:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--upgrade"]
    proc = subprocess.run([*command, "--target", str(site), str(project)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _uninstall(site: Path) -> None:
    """What `pip uninstall` does (it refuses folders outside the environment): remove every file in RECORD.

    `pip install --target --upgrade` leaves the older version's .dist-info beside the new one: both go.
    """
    infos = list(site.glob("stackio_cachetest-*.dist-info"))
    assert infos
    for info in infos:
        for line in (info / "RECORD").read_text().splitlines():
            path = site / line.split(",")[0]
            if path.is_file():
                path.unlink()
    for folder in sorted((p for p in site.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(folder.iterdir()):
            folder.rmdir()


def _env(site: Path, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "STACKIO_PLUGIN_CACHE"}
    env["PYTHONPATH"] = os.pathsep.join([str(site), *(p for p in sys.path if p)])
    env["STACKIO_CACHE_DIR"] = str(cache)
    return env


def _run(code: str, env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    return site


def test_installed_upgraded_and_uninstalled_plugins_are_seen(site: Path, tmp_path: Path) -> None:
    env = _env(site, tmp_path / "cache")
    assert _run(PROBE, env)["formats"] == {}
    _pip_install(site, _project(tmp_path, "0.1", ".cta"))
    first = _run(PROBE, env)
    assert first["formats"] == {"cachetest": [".cta"]} and first["imported"], first
    cached = _run(PROBE, env)
    # the declarations come from the cache: neither the plugin nor the installed distributions were read
    assert cached["formats"] == {"cachetest": [".cta"]}, cached
    assert not cached["imported"] and not cached["metadata_scanned"], cached
    _pip_install(site, _project(tmp_path, "0.2", ".ctb"))
    upgraded = _run(PROBE, env)
    assert upgraded["formats"] == {"cachetest": [".ctb"]} and upgraded["imported"], upgraded
    _uninstall(site)
    gone = _run(PROBE, env)
    assert gone["formats"] == {} and not gone["imported"] and gone["broken"] == {}, gone


def test_a_plugin_edited_in_place_is_read_again(site: Path, tmp_path: Path) -> None:
    """An editable install changes its code, not its version: the cache notices the file."""
    env = _env(site, tmp_path / "cache")
    _pip_install(site, _project(tmp_path, "0.1", ".cta"))
    _run(PROBE, env)
    assert not _run(PROBE, env)["imported"]
    module = site / "stackio_cachetest" / "__init__.py"
    before = module.stat()
    text = module.read_text()
    assert "'.cta'" in text
    module.write_text(text.replace("'.cta'", "'.ctedited'"))
    os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
    edited = _run(PROBE, env)
    assert edited["formats"] == {"cachetest": [".ctedited"]} and edited["imported"], edited


def test_a_cached_plugin_is_imported_when_it_reads(site: Path, tmp_path: Path) -> None:
    env = _env(site, tmp_path / "cache")
    _pip_install(site, _project(tmp_path, "0.1", ".cta"))
    data = tmp_path / "pixels.cta"
    np.arange(16, dtype=np.uint8).tofile(data)
    code = f"""
import json, sys, stackio
before = "stackio_cachetest" in sys.modules
patch = stackio.load({str(data)!r}, "YX")[0].extract_patch(0, None, (0, 0), (4, 4))
print(json.dumps({{"before": before, "after": "stackio_cachetest" in sys.modules, "pixels": patch.tolist()}}))
"""
    _run(PROBE, env)
    result = _run(code, env)
    assert not result["before"] and result["after"], result
    assert np.array_equal(np.array(result["pixels"]), np.arange(16).reshape(1, 4, 4))


def test_a_cached_plugin_that_cannot_be_imported_any_more_is_reported(site: Path, tmp_path: Path) -> None:
    """The cache says the plugin is fine; importing it at first use fails: a clear error, and it is listed broken."""
    env = _env(site, tmp_path / "cache")
    helper = tmp_path / "helpers" / "cachetest_helper.py"
    helper.parent.mkdir()
    helper.write_text("VALUE = 1\n")
    env["PYTHONPATH"] += os.pathsep + str(helper.parent)
    _pip_install(site, _project(tmp_path, "0.1", ".cta", extra_import="import cachetest_helper"))
    _run(PROBE, env)
    helper.unlink()  # a dependency of the plugin's module vanished; the plugin's own files did not change
    data = tmp_path / "pixels.cta"
    np.arange(16, dtype=np.uint8).tofile(data)
    code = f"""
import json, stackio
try:
    stackio.load({str(data)!r}, "YX")
    error = None
except stackio.StackioError as exc:
    error = [type(exc).__name__, str(exc)]
print(json.dumps({{"error": error, "broken": {{b.name: b.reason for b in stackio.broken_plugins()}}}}))
"""
    result = _run(code, env)
    assert result["error"] is not None, result
    kind, message = result["error"]
    assert kind == "PluginError" and "cachetest" in message and "cachetest_helper" in message, result
    assert "cachetest_helper" in result["broken"]["cachetest"], result


def test_a_corrupt_cache_is_rebuilt_and_an_unwritable_one_is_harmless(site: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = _env(site, cache)
    _pip_install(site, _project(tmp_path, "0.1", ".cta"))
    _run(PROBE, env)
    (stored,) = cache.glob("plugins-*.pickle")
    for garbage in (b"", b"not a pickle", stored.read_bytes()[: len(stored.read_bytes()) // 2]):
        stored.write_bytes(garbage)
        rebuilt = _run(PROBE, env)
        assert rebuilt["formats"] == {"cachetest": [".cta"]} and rebuilt["imported"], rebuilt
        assert not _run(PROBE, env)["imported"], "the corrupt cache was not rewritten"
    blocked = tmp_path / "a-file"
    blocked.write_text("the cache folder cannot be made here")
    env_blocked = _env(site, blocked / "cache")
    for _ in range(2):
        result = _run(PROBE, env_blocked)
        assert result["formats"] == {"cachetest": [".cta"]} and result["imported"], result


#: What a fresh load of a plain (not OME) local TIFF has no use for, each about a ms of start-up: OME-XML
#: parsing, the remote machinery.
_NOT_FOR_A_PLAIN_TIFF = ("xml.etree.ElementTree", "stackio.remote")


def test_a_fresh_load_of_a_tiff_imports_only_the_tiff_plugin(tmp_path: Path) -> None:
    tifffile = pytest.importorskip("tifffile")
    pytest.importorskip("stackio_tiff")
    path = tmp_path / "cells.tif"
    data = np.arange(48 * 64, dtype=np.uint16).reshape(48, 64)
    tifffile.imwrite(path, data)
    env = {**os.environ, "STACKIO_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("STACKIO_PLUGIN_CACHE", None)
    code = f"""
import json, sys, stackio
patch = stackio.load({str(path)!r}, "YX")[0].extract_patch(0, None, (0, 0), (48, 64))
plugins = sorted({{m.split(".")[0] for m in sys.modules if m.startswith("stackio_")}})
print(json.dumps({{"plugins": plugins, "metadata_scanned": "importlib_metadata" in sys.modules,
                  "unneeded": [m for m in {_NOT_FOR_A_PLAIN_TIFF!r} if m in sys.modules],
                  "pixels": patch[0].tolist()}}))
"""
    first = _run(code, env)  # fills the cache
    assert np.array_equal(np.array(first["pixels"]), tifffile.imread(path))
    fresh = _run(code, env)
    assert fresh["plugins"] == ["stackio_tiff"] and not fresh["metadata_scanned"], fresh
    assert fresh["unneeded"] == [], fresh
    assert np.array_equal(np.array(fresh["pixels"]), tifffile.imread(path))


def test_scripts_in_other_folders_share_the_cache(site: Path, tmp_path: Path) -> None:
    """The script's folder starts sys.path; another folder (without distributions) is the same environment."""
    env = _env(site, tmp_path / "cache")
    _pip_install(site, _project(tmp_path, "0.1", ".cta"))
    results = []
    for name in ("one", "two"):
        script = tmp_path / name / "probe.py"
        script.parent.mkdir()
        script.write_text(PROBE)
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert results[0]["imported"] and not results[1]["imported"], results
    assert results[1]["formats"] == {"cachetest": [".cta"]}
    assert len(list((tmp_path / "cache").glob("plugins-*.pickle"))) == 1


def test_old_cache_files_are_pruned(site: Path, tmp_path: Path) -> None:
    from stackio import plugin_cache

    cache = tmp_path / "cache"
    cache.mkdir()
    for i in range(plugin_cache.MAX_FILES + 6):
        old = cache / f"plugins-old{i:03d}.pickle"
        old.write_bytes(b"stale")
        os.utime(old, (1_000_000 + i, 1_000_000 + i))
    _run(PROBE, _env(site, cache))
    left = sorted(p.name for p in cache.glob("plugins-*.pickle"))
    assert len(left) == plugin_cache.MAX_FILES
    assert "plugins-old000.pickle" not in left and f"plugins-old{plugin_cache.MAX_FILES + 5:03d}.pickle" in left
