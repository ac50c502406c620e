"""The conformance suite itself: it passes good plugins and stacks, and names what is wrong in bad ones."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stackio
from stackio import ArrayStack, FormatSpec, Metadata, hookimpl
from stackio.testing.conformance import (
    check_cheap_discovery,
    check_declaration,
    check_metadata,
    check_stack,
    check_stack_protocol,
    write_foreign_sources,
)


def _good(shape: tuple[int, ...] = (2, 3, 10, 12), axes: str = "SCYX", **meta: Any) -> ArrayStack:
    data = np.arange(np.prod(shape), dtype=np.uint16).reshape(shape)
    return ArrayStack.from_axes(data, axes, source="/data/good.raw", metadata=Metadata(**meta))


class Wrapper:
    """Delegates every member to a good stack; subclasses break one thing."""

    def __init__(self, inner: ArrayStack) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    source = property(lambda self: self.inner.source)
    data_shape = property(lambda self: self.inner.data_shape)
    data_dtype = property(lambda self: self.inner.data_dtype)
    axes = property(lambda self: self.inner.axes)
    original_axes = property(lambda self: self.inner.original_axes)
    original_data_shape = property(lambda self: self.inner.original_data_shape)
    metadata = property(lambda self: self.inner.metadata)

    def extract_patch(
        self, sample_idx: int, channels: Sequence[int] | None, coords: Sequence[int], patch_size: Sequence[int]
    ) -> np.ndarray:
        return self.inner.extract_patch(sample_idx, channels, coords, patch_size)


class Clamps(Wrapper):
    def extract_patch(self, sample_idx, channels, coords, patch_size):  # type: ignore[no-untyped-def]
        spatial = self.data_shape[2:]
        coords = [min(max(c, 0), n - p) if p <= n else 0 for c, n, p in zip(coords, spatial, patch_size, strict=True)]
        return super().extract_patch(sample_idx, channels, coords, patch_size)


class Widens(Wrapper):
    def extract_patch(self, *args):  # type: ignore[no-untyped-def]
        return super().extract_patch(*args).astype(np.float64)


class ChannelsLast(Wrapper):
    def extract_patch(self, *args):  # type: ignore[no-untyped-def]
        return np.moveaxis(super().extract_patch(*args), 0, -1)


class NeverRaises(Wrapper):
    def extract_patch(self, sample_idx, channels, coords, patch_size):  # type: ignore[no-untyped-def]
        try:
            return super().extract_patch(sample_idx, channels, coords, patch_size)
        except stackio.PatchBoundsError:
            return np.zeros((self.data_shape[1], *patch_size), self.data_dtype)


class SharesMemory(Wrapper):
    def extract_patch(self, sample_idx, channels, coords, patch_size):  # type: ignore[no-untyped-def]
        inside = all(c >= 0 and c + p <= n for c, p, n in zip(coords, patch_size, self.data_shape[2:], strict=True))
        if channels is None and inside:
            region = tuple(slice(c, c + p) for c, p in zip(coords, patch_size, strict=True))
            return self.inner.data[(sample_idx, slice(None), *region)]
        return super().extract_patch(sample_idx, channels, coords, patch_size)


class NoOriginalAxes:
    source = "/data/x.raw"
    data_shape = (1, 1, 4, 4)
    data_dtype = np.dtype("uint8")
    axes = "SCYX"
    original_data_shape = (4, 4)
    metadata = Metadata()

    def extract_patch(self, *args: Any) -> np.ndarray:
        return np.zeros((1, 4, 4), np.uint8)


def test_a_good_stack_passes() -> None:
    assert check_stack(_good()) == []
    assert check_stack(_good((3, 4, 5, 6), "CZYX", voxel_size={"Z": 2.0, "Y": 0.5, "X": 0.5})) == []


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        (Clamps, "over the far edges is not the image with zeros outside"),
        (Widens, "patches are float64 but data_dtype is uint16"),
        (ChannelsLast, "expected C(Z)YX"),
        (NeverRaises, "returned a patch instead of raising PatchBoundsError"),
        (SharesMemory, "writing into a returned patch changed the stack"),
    ],
)
def test_broken_stacks_are_named(broken: type[Wrapper], expected: str) -> None:
    problems = check_stack(broken(_good()))
    assert any(expected in p for p in problems), problems


def test_a_missing_member_is_named() -> None:
    problems = check_stack_protocol(NoOriginalAxes())
    assert problems and "original_axes is missing" in problems[0]


def test_bad_metadata_is_named() -> None:
    problems = check_metadata(_good(voxel_size={"Y": -1.0, "X": 1.0}, channel_names=["a"]))
    assert any("voxel_size['Y'] = -1.0 is not positive" in p for p in problems), problems
    assert any("1 channel_names for 3 channels" in p for p in problems), problems


class BadDeclarations:
    @hookimpl
    def stackio_register_formats(self, register: Any) -> None:
        register(FormatSpec(name="silent"))

    @hookimpl
    def stackio_load(self) -> list[Any]:
        return []


class MisspeltHook:
    @hookimpl
    def stackio_register_formats(self, register: Any) -> None:
        register(FormatSpec(name="ok", suffixes=(".ok",), description="ok"))

    @hookimpl
    def stackio_detcet(self) -> None: ...


def test_declaration_problems_are_named() -> None:
    problems = check_declaration(BadDeclarations())
    assert any("format 'silent' has no description" in p for p in problems), problems
    assert any("nothing can ever dispatch to it" in p for p in problems), problems
    misspelt = check_declaration(MisspeltHook())
    assert len(misspelt) == 1 and "stackio_detcet" in misspelt[0]


HEAVY_PLUGIN = """
from stackio import FormatSpec, hookimpl
import wave  # stands for a heavy format library imported at module level

@hookimpl
def stackio_register_formats(register):
    register(FormatSpec(name="heavyfmt", suffixes=(".hv",), description="imports too early"))
"""

DETECT_PLUGIN = """
from stackio import Detection, FormatSpec, hookimpl

@hookimpl
def stackio_register_formats(register):
    register(FormatSpec(name="latefmt", suffixes=(".lt",), description="imports in detection"))

@hookimpl
def stackio_detect(source):
    import wave
    return Detection.refuse("never")
"""


def test_heavy_imports_at_discovery_and_detection_are_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "conf_heavy_plugin.py").write_text(HEAVY_PLUGIN)
    (tmp_path / "conf_detect_plugin.py").write_text(DETECT_PLUGIN)
    (tmp_path / "a.lt").write_bytes(b"x")
    monkeypatch.syspath_prepend(str(tmp_path))
    heavy = check_cheap_discovery("conf_heavy_plugin", ("wave",))
    assert len(heavy) == 1 and "imported ['wave']" in heavy[0]
    late = check_cheap_discovery("conf_detect_plugin", ("wave",), [str(tmp_path / "a.lt")])
    assert len(late) == 1 and "stackio_detect imported ['wave']" in late[0]
    assert check_cheap_discovery("conf_detect_plugin", ("wave",)) == []


def test_foreign_sources_imitate_the_plugin_suffixes(tmp_path: Path) -> None:
    specs = [FormatSpec(name="zz", suffixes=(".zz",), directories=True, description="x")]
    found = write_foreign_sources(tmp_path, specs)
    assert {p.name for p in found["junk"]} == {"junk.zz", "empty.zz"}
    assert (tmp_path / "zz" / "empty.zz").is_dir()
    assert {p.name for p in found["other"]} >= {"notes.txt", "random.bin", "array.npy", "image.png"}


SLOPPY_PLUGIN = '''
"""A plugin that accepts anything it is asked about and ignores the axes it is given."""
from pathlib import Path
import numpy as np
import stackio
from stackio import ArrayStack, Detection, FormatSpec, Sample, hookimpl

@hookimpl
def stackio_register_formats(register):
    register(FormatSpec(name="sloppy", suffixes=(".slp",), description="raw uint8 8x8 planes"))

@hookimpl
def stackio_detect(source):
    return Detection.accept("anything goes")

@hookimpl
def stackio_load(source, axes):
    data = np.fromfile(source.path, dtype=np.uint8)[:64].reshape(8, 8)
    return [ArrayStack.from_axes(data, "YX", source=str(source.path.resolve()))]

@hookimpl
def stackio_write_samples(directory):
    path = Path(directory) / "a.slp"
    np.arange(64, dtype=np.uint8).tofile(path)
    return [Sample(str(path), "YX", "an 8x8 plane")]
'''

SLOPPY_TESTS = """
from stackio.testing.conformance import PluginConformance

class TestSloppy(PluginConformance):
    plugin = "conf_sloppy_plugin"
    require_entry_point = False
"""


def _run_suite(tmp_path: Path, module: str, plugin_source: str, tests_source: str) -> tuple[str, dict[str, str]]:
    """Run a conformance test file on an uninstalled plugin module in a fresh pytest; its output and outcomes."""
    (tmp_path / f"{module}.py").write_text(plugin_source)
    (tmp_path / "test_suite_run.py").write_text(tests_source)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rA",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_suite_run.py"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    outcomes = {}
    for line in proc.stdout.splitlines():
        for word in ("PASSED", "FAILED", "SKIPPED", "ERROR"):
            if line.startswith(word + " ") and "::" in line:
                outcomes[line.split("::")[-1].split(" ")[0]] = word
    return proc.stdout, outcomes


def test_the_suite_fails_a_sloppy_plugin_where_it_is_sloppy(tmp_path: Path) -> None:
    stdout, outcomes = _run_suite(tmp_path, "conf_sloppy_plugin", SLOPPY_PLUGIN, SLOPPY_TESTS)
    failed = sorted(name for name, word in outcomes.items() if word in ("FAILED", "ERROR"))
    assert failed == [
        "test_bad_files_give_clear_errors",
        "test_detection_refuses_other_content",
        "test_validation_rejects_bad_axes",
    ], stdout[-4000:]
    assert "require_entry_point is False" in stdout  # the entry-point test was skipped
    assert sum(word == "PASSED" for word in outcomes.values()) >= 10
    assert "notes.txt: stackio_detect('sloppy') accepted it" in stdout
    assert "axes='SYX' (data is 'YX') loaded without error" in stdout


SAMPLELESS_PLUGIN = '''
"""A plugin that reads its format well but writes no samples: nothing of its stacks can be checked."""
import numpy as np
from stackio import ArrayStack, FormatSpec, hookimpl

@hookimpl
def stackio_register_formats(register):
    register(FormatSpec(name="sampleless", suffixes=(".nos",), description="raw uint8 8x8 planes"))

@hookimpl
def stackio_load(source, axes):
    data = np.fromfile(source.path, dtype=np.uint8).reshape(8, 8)
    return [ArrayStack.from_axes(data, "YX", source=str(source.path.resolve()))]
'''

SAMPLELESS_TESTS = """
from stackio.testing.conformance import PluginConformance

class TestSampleless(PluginConformance):
    plugin = "conf_sampleless_plugin"
    require_entry_point = False
"""


def test_the_suite_fails_a_plugin_that_writes_no_samples(tmp_path: Path) -> None:
    stdout, outcomes = _run_suite(tmp_path, "conf_sampleless_plugin", SAMPLELESS_PLUGIN, SAMPLELESS_TESTS)
    stack_tests = {
        "test_writes_samples",
        "test_stacks_satisfy_protocol",
        "test_patches",
        "test_in_memory_matches_lazy",
        "test_source_recreates_stack",
        "test_stacks_pickle",
        "test_stacks_work_in_another_process",
        "test_concurrent_patches",
    }
    assert {name for name, word in outcomes.items() if word == "FAILED"} >= stack_tests, stdout[-4000:]
    assert outcomes["test_declaration_is_valid"] == "PASSED"
    assert "the plugin wrote no samples and no extra_samples are given" in stdout
