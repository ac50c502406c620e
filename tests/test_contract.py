"""The contract between the core and its plugins: handles, discovery, declared options and format facts."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stackio
from stackio import FormatSpec, Option, Status, hookimpl
from stackio import dispatch as dispatch_module
from stackio.hints import KNOWN_FORMATS, known_by_name
from stackio.registry import Registry, use_registry

from .conftest import NpyPlugin


class _SlowEntryPoint:
    """An entry point whose import takes a while, as a real plugin's does on a cold disk."""

    def __init__(self, name: str, plugin: object, delay: float) -> None:
        self.name = name
        self.plugin = plugin
        self.delay = delay
        self.dist = None
        self.value = name

    def load(self) -> object:
        time.sleep(self.delay)
        return self.plugin


def test_first_use_from_many_threads_waits_for_discovery(npy_file: tuple[Path, np.ndarray]) -> None:
    path, data = npy_file
    registry = Registry(entry_points=[_SlowEntryPoint("npytest", NpyPlugin(), 0.3)])
    start = threading.Barrier(24)
    results: list[Any] = []

    def first_load() -> None:
        start.wait()
        try:
            results.append(stackio.load(path, "TCYX")[0].extract_patch(1, None, (0, 0), (20, 30)))
        except Exception as exc:  # recorded: every thread must succeed
            results.append(exc)

    with use_registry(registry):
        threads = [threading.Thread(target=first_load) for _ in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, f"{len(errors)} of 24 first loads failed, e.g. {errors[0]!r}"
    assert len(results) == 24 and all(np.array_equal(r, data[1]) for r in results)


def test_first_use_of_installed_plugins_from_many_threads(tmp_path: Path) -> None:
    tifffile = pytest.importorskip("tifffile")
    pytest.importorskip("stackio_tiff")
    path = tmp_path / "cells.tif"
    tifffile.imwrite(path, np.arange(64, dtype=np.uint16).reshape(8, 8))
    code = f"""
import threading, stackio
barrier = threading.Barrier(32)
out = []
def go():
    barrier.wait()
    try:
        out.append(stackio.load({str(path)!r}, "YX")[0].data_shape)
    except Exception as exc:
        out.append(repr(exc))
threads = [threading.Thread(target=go) for _ in range(32)]
[t.start() for t in threads]
[t.join() for t in threads]
print(sorted(set(map(str, out))))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['(1, 1, 8, 8)']"


def test_discovery_is_injectable_and_public() -> None:
    registry = Registry(entry_points=[_SlowEntryPoint("npytest", NpyPlugin("injected"), 0)])
    registry.discover()
    registry.discover()  # once only
    assert [f.name for f in registry.formats()] == ["array", "injected"]
    handle = registry.format("injected")
    assert handle is not None and handle.plugin == "npytest" and isinstance(handle, stackio.FormatHandle)


def test_handles_wrap_foreign_errors_once(fresh_registry: Registry, npy_file: tuple[Path, np.ndarray]) -> None:
    class Exploding(NpyPlugin):
        @hookimpl
        def stackio_load(self, source: stackio.Source) -> list[stackio.ImageStack]:
            raise KeyError("offset table")

        @hookimpl
        def stackio_validate(self, options: dict[str, Any]) -> None:
            if options.get("scale") == 0:
                raise ZeroDivisionError("scale")

    fresh_registry.register(Exploding(), name="exploding")
    handle = fresh_registry.format("npytest")
    assert handle is not None
    with pytest.raises(
        stackio.ReadError, match=r"stack\.npy: plugin 'exploding' \(built-in\) could not read it \(KeyError"
    ):
        stackio.load(npy_file[0], "TCYX")
    with pytest.raises(stackio.PluginError, match="crashed while validating: ZeroDivisionError"):
        stackio.load(npy_file[0], "TCYX", scale=0)


# -- declared options ------------------------------------------------------------------------


class Options(NpyPlugin):
    @hookimpl
    def stackio_register_formats(self, register: Callable[[FormatSpec], None]) -> None:
        register(
            FormatSpec(
                name="opts",
                suffixes=(".npy",),
                options=(
                    Option("series", int, "the image of the file", minimum=0, index=True),
                    Option("cache_mb", float, "MiB kept", minimum=0),
                    Option("fraction", float, "of the range", minimum=0, maximum=1),
                    Option("mode", str, "how", choices=("fast", "exact")),
                    Option("flag", bool, "a switch"),
                ),
            )
        )

    @hookimpl
    def stackio_load(
        self, source: stackio.Source, axes: str | None, options: dict[str, Any]
    ) -> list[stackio.ImageStack]:
        self.seen = dict(options)
        return NpyPlugin.stackio_load(self, source, axes)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"series": True}, r"series must be a non-negative int \(the image of the file\), not True"),
        ({"series": -1}, r"series must be a non-negative int"),
        ({"series": 1.0}, r"series must be a non-negative int"),
        ({"cache_mb": math.inf}, r"cache_mb must be a number >= 0 \(MiB kept\), not inf"),
        ({"cache_mb": math.nan}, r"cache_mb must be a number >= 0"),
        ({"cache_mb": False}, r"cache_mb must be a number >= 0"),
        ({"fraction": 1.5}, r"fraction must be a number from 0 to 1"),
        ({"mode": "quick"}, r"mode must be one of 'fast', 'exact'"),
        ({"flag": 1}, r"flag must be True or False"),
        ({"colour": "red"}, r"does not take the option\(s\) colour; it accepts: series, cache_mb, fraction"),
    ],
)
def test_the_core_checks_declared_options(
    fresh_registry: Registry, npy_file: tuple[Path, np.ndarray], options: dict[str, Any], message: str
) -> None:
    plugin = Options()
    fresh_registry.register(plugin, name="opts")
    with pytest.raises(stackio.ValidationError, match=message):
        stackio.load(npy_file[0], "TCYX", **options)
    assert plugin.loaded == []  # the plugin never saw them


def test_unknown_options_are_listed_with_their_declarations(
    fresh_registry: Registry, npy_file: tuple[Path, np.ndarray]
) -> None:
    fresh_registry.register(Options(), name="opts")
    with pytest.raises(stackio.ValidationError) as info:
        stackio.load(npy_file[0], "TCYX", colour="red")
    assert "  cache_mb (a number >= 0): MiB kept" in str(info.value)
    assert "  mode (one of 'fast', 'exact'): how" in str(info.value)


def test_file_at_n_fills_the_index_option(fresh_registry: Registry, npy_file: tuple[Path, np.ndarray]) -> None:
    plugin = Options()
    fresh_registry.register(plugin, name="opts")
    stackio.load(f"{npy_file[0]}@2", "TCYX", cache_mb=8, fraction=0.5, mode="fast", flag=True)
    assert plugin.seen == {"series": 2, "cache_mb": 8, "fraction": 0.5, "mode": "fast", "flag": True}
    with pytest.raises(
        stackio.ValidationError, match=r"the series is given twice, as '@2' in the path and as series=1"
    ):
        stackio.load(f"{npy_file[0]}@2", "TCYX", series=1)


def test_file_at_n_is_refused_where_the_format_would_ignore_it(
    fresh_registry: Registry, npy_file: tuple[Path, np.ndarray]
) -> None:
    # no option is named by @N and the plugin does not handle it: reading the whole file instead would be wrong
    plugin = NpyPlugin()
    fresh_registry.register(plugin, name="npytest")
    with pytest.raises(stackio.ValidationError, match=r"'@2' names nothing in the npytest format.*drop the '@2'"):
        stackio.load(f"{npy_file[0]}@2", "TCYX")
    assert plugin.loaded == []

    class Handles(NpyPlugin):
        @hookimpl
        def stackio_register_formats(self, register: Callable[[FormatSpec], None]) -> None:
            register(FormatSpec(name="handles", suffixes=(".npy",), handles_index=True))

    handles = Handles()
    fresh_registry.register(handles, name="handles")
    stackio.load(f"{npy_file[0]}@2", "TCYX", format="handles")  # the plugin reads Source.index itself
    assert handles.loaded == [f"{npy_file[0]}@2"]


def test_invalid_option_declarations_are_refused() -> None:
    class Twice(NpyPlugin):
        @hookimpl
        def stackio_register_formats(self, register: Callable[[FormatSpec], None]) -> None:
            register(FormatSpec(name="twice", options=(Option("a", index=True), Option("a", index=True))))

    with pytest.raises(stackio.PluginError, match="option 'a' is declared twice; at most one option"):
        Registry(entry_points=()).register(Twice(), name="twice")


# -- format facts ----------------------------------------------------------------------------


def test_the_hint_table_matches_the_installed_declarations() -> None:
    installed = {e.name: e for e in stackio.get_registry().formats() if e.spec.distribution not in (None, "stackio")}
    packaged = {n: e for n, e in installed.items() if not e.plugin.startswith("runtime:")}
    if not packaged:
        pytest.skip("no plugin is installed")
    for name, entry in packaged.items():
        known = known_by_name(name)
        assert known is not None, f"format {name} of {entry.distribution} has no row in stackio.hints.KNOWN_FORMATS"
        spec = entry.spec
        assert known.distribution == spec.distribution, name
        assert set(known.suffixes) == set(spec.suffixes), name
        assert set(known.magic) == set(spec.magic), name
        assert set(known.markers) == set(spec.markers), name
        assert bool(known.markers) == spec.owns_files, name


def test_jpeg_is_its_own_hint(fresh_registry: Registry, tmp_path: Path) -> None:
    assert known_by_name("jpeg") is not None and known_by_name("jpeg").distribution == "stackio-png"
    with pytest.raises(
        stackio.UnsupportedFormatError,
        match="format 'jpeg' is not installed. Install it with `pip install stackio-png`",
    ):
        stackio.load(tmp_path, format="jpeg")
    for suffix in (".jpe", ".jfif"):
        path = tmp_path / f"photo{suffix}"
        path.write_bytes(b"\xff\xd8\xff\xe0" + bytes(64))
        with pytest.raises(stackio.UnsupportedFormatError, match=r"It looks like jpeg: .*pip install stackio-png"):
            stackio.load(path, "YX")
    assert all(k.name != "png" or ".jpg" not in k.suffixes for k in KNOWN_FORMATS)


def test_dispatch_steps_run_in_the_documented_order() -> None:
    documented = re.findall(r"^\d+\. `(\w+)`", dispatch_module.__doc__ or "", flags=re.M)
    assert documented == [step.__name__ for step in dispatch_module.STEPS]


def test_verdict_status_is_an_enum_that_compares_and_serialises_as_text(
    fresh_registry: Registry, npy_file: tuple[Path, np.ndarray]
) -> None:
    fresh_registry.register(NpyPlugin(), name="a")
    (verdict,) = [v for v in stackio.diagnose(npy_file[0]).verdicts if v.format == "npytest"]
    assert isinstance(verdict.status, Status) and verdict.status is Status.ACCEPTED
    assert verdict.status == "accepted" and f"{verdict.status}" == "accepted"
    assert json.dumps({"status": verdict.status}) == '{"status": "accepted"}'


def test_a_file_inside_a_dataset_belongs_to_it(fresh_registry: Registry, tmp_path: Path) -> None:
    class Dataset(NpyPlugin):
        @hookimpl
        def stackio_register_formats(self, register: Callable[[FormatSpec], None]) -> None:
            register(FormatSpec(name="ds", directories=True, markers=("index.bin",), owns_files=True))

    fresh_registry.register(NpyPlugin(), name="npy")
    fresh_registry.register(Dataset(), name="ds")
    (tmp_path / "index.bin").write_bytes(b"x")
    np.save(tmp_path / "part.npy", np.zeros((2, 2)))
    decision = stackio.detect(tmp_path / "part.npy")
    assert decision.format == "ds" and decision.reason.startswith("a file inside a ds dataset")
    (tmp_path / "index.bin").unlink()
    assert stackio.detect(tmp_path / "part.npy").format == "npytest"
