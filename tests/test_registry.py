"""Discovery through entry points, broken plugins, switches, and the light import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import stackio
from stackio import FormatSpec, hookimpl
from stackio.testing import simulated_entry_points

from .conftest import NpyPlugin

GOOD_PLUGIN = """
import functools
import numpy as np
from stackio import Detection, FormatSpec, Layout, LazyStack, hookimpl

def _open(path):
    return np.load(path, mmap_mode="r")

@hookimpl
def stackio_register_formats(register):
    register(FormatSpec(name="fakefmt", suffixes=(".fake",)))

@hookimpl
def stackio_detect(source):
    return Detection(source.header.startswith(b"\\x93NUMPY"), "numpy magic")

@hookimpl
def stackio_load(source, axes):
    arr = _open(str(source.path))
    return [LazyStack(str(source.path), Layout.from_axes(axes, arr.shape), arr.dtype,
                      functools.partial(_open, str(source.path)))]
"""

CRASHING_DETECT = """
from stackio import FormatSpec, hookimpl

@hookimpl
def stackio_register_formats(register):
    register(FormatSpec(name="crashy", suffixes=(".crash",)))

@hookimpl
def stackio_detect(source):
    raise RuntimeError("detect went wrong")
"""


def make_distribution(site: Path, dist: str, module: str, ep_name: str, code: str, version: str = "1.2") -> None:
    """Install a distribution by hand: a module plus its .dist-info with an entry point."""
    (site / module).mkdir(parents=True)
    (site / module / "__init__.py").write_text(code)
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[stackio]\n{ep_name} = {module}\n")
    (info / "RECORD").write_text("")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    make_distribution(site, "stackio-fakefmt", "stackio_fakefmt", "fakefmt", GOOD_PLUGIN)
    make_distribution(
        site, "stackio-broken", "stackio_broken", "broken", "raise ImportError('needs libfoo.so')\n", version="0.3"
    )
    make_distribution(site, "stackio-crashy", "stackio_crashy", "crashy", CRASHING_DETECT)
    return site


def run(site: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(site), **(env or {})}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=full_env, timeout=120)


def test_installed_plugins_are_discovered_and_broken_ones_reported(site: Path) -> None:
    result = run(site, "-m", "stackio.cli", "formats", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    fake = next(f for f in report["formats"] if f["format"] == "fakefmt")
    assert fake["distribution"] == "stackio-fakefmt" and fake["version"] == "1.2"
    broken = {b["plugin"]: b for b in report["broken"]}
    assert broken["broken"]["reason"] == "ImportError: needs libfoo.so"
    assert broken["broken"]["distribution"] == "stackio-broken" and broken["broken"]["stage"] == "import"
    text = run(site, "-m", "stackio.cli", "formats").stdout
    assert "BROKEN broken (stackio-broken) at import: ImportError: needs libfoo.so" in text


def test_broken_plugins_leave_other_formats_working(site: Path, tmp_path: Path) -> None:
    path = tmp_path / "data.fake"
    np.save(open(path, "wb"), np.arange(6, dtype=np.int16).reshape(2, 3))
    renamed = tmp_path / "data.unknown"
    renamed.write_bytes(path.read_bytes())
    code = textwrap.dedent(f"""
        import stackio
        s = stackio.load({str(path)!r}, "YX")[0]
        print(s.extract_patch(0, None, (0, 0), (2, 3)).ravel().tolist())
        print(stackio.detect({str(renamed)!r}).format)  # content pass: crashy's detect raises
        print(sorted(b.name for b in stackio.broken_plugins()))
    """)
    result = run(site, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[0, 1, 2, 3, 4, 5]", "fakefmt", "['broken']"]


def test_diagnose_shows_the_crash(site: Path, tmp_path: Path) -> None:
    path = tmp_path / "data.crash"
    np.save(open(path, "wb"), np.zeros((2, 2)))
    result = run(site, "-m", "stackio.cli", "diagnose", str(path))
    assert result.returncode == 0, result.stderr
    assert "crashy     crashed   RuntimeError: detect went wrong" in result.stdout
    assert "fakefmt    accepted  numpy magic" in result.stdout
    assert "broken     broken    ImportError: needs libfoo.so" in result.stdout


def test_disable_plugins_switch(site: Path) -> None:
    result = run(site, "-m", "stackio.cli", "formats", "--json", env={"STACKIO_DISABLE_PLUGINS": "fakefmt, broken"})
    report = json.loads(result.stdout)
    names = {f["format"] for f in report["formats"]}
    assert "fakefmt" not in names and "crashy" in names
    assert "broken" not in {b["plugin"] for b in report["broken"]}


def test_trace_prints_hook_calls(site: Path, tmp_path: Path) -> None:
    path = tmp_path / "data.fake"
    np.save(open(path, "wb"), np.zeros((2, 2)))
    result = run(site, "-c", f"import stackio; stackio.load({str(path)!r}, 'YX')", env={"STACKIO_TRACE": "1"})
    assert result.returncode == 0, result.stderr
    assert "stackio: fakefmt.stackio_load(format='fakefmt'" in result.stderr
    assert " ms]" in result.stderr


def test_import_stackio_imports_no_plugin_and_no_format_library(site: Path) -> None:
    code = (
        "import stackio, sys; print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'tifffile','zarr','pylibCZIrw','ndstorage','dask','stackio_fakefmt','importlib_metadata'}))"
    )
    result = run(site, "-c", code)
    assert result.stdout.strip() == "[]", result.stderr


class UnknownHook:
    @hookimpl
    def stackio_registerformats(self, register: object) -> None:  # misspelt on purpose
        pass


class BadSpec:
    @hookimpl
    def stackio_register_formats(self, register: object) -> None:
        register(FormatSpec(name="Bad Name", suffixes=("tif",)))  # type: ignore[operator]


class RaisingRegistration:
    @hookimpl
    def stackio_register_formats(self, register: object) -> None:
        raise ValueError("config missing")


def test_invalid_plugins_are_recorded_with_their_reason() -> None:
    entry_points = {
        "typo": UnknownHook(),
        "badspec": BadSpec(),
        "raising": RaisingRegistration(),
        "dup1": NpyPlugin("same"),
        "dup2": NpyPlugin("same"),
        "importfail": ModuleNotFoundError("No module named 'h5py'"),
    }
    with simulated_entry_points(entry_points) as registry:
        broken = {b.name: b for b in registry.broken()}
        assert "unknown hook(s) ['stackio_registerformats']" in broken["typo"].reason
        assert "format name 'Bad Name' must be lower-case" in broken["badspec"].reason
        assert "suffix 'tif' must start with '.'" in broken["badspec"].reason
        assert "failed while declaring its formats: ValueError: config missing" in broken["raising"].reason
        assert "declares the format 'same', already declared by plugin 'dup1'" in broken["dup2"].reason
        assert broken["importfail"].stage == "import"
        assert [f.name for f in registry.formats()] == ["array", "same"]
        assert {p.name for p in registry.plugins()} == {"builtins", "dup1"}


def test_register_plugin_at_run_time(npy_file: tuple[Path, np.ndarray]) -> None:
    path, data = npy_file
    stackio.register_plugin(NpyPlugin("runtime-npy", (".npy",), priority=1000), "runtime")
    try:
        assert stackio.detect(path).format == "runtime-npy"
        stacks = stackio.load(path, "TCYX")
        np.testing.assert_array_equal(stacks[0].extract_patch(2, None, (0, 0), (20, 30)), data[2])
        with pytest.raises(stackio.PluginError, match="already registered"):
            stackio.register_plugin(NpyPlugin("other"), "runtime")
    finally:
        stackio.unregister_plugin("runtime")
    assert stackio.get_registry().format("runtime-npy") is None
