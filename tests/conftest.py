"""Shared fixtures for the core's tests: small in-process plugins that read real .npy files."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stackio
from stackio import Detection, FormatSpec, Layout, LazyStack, hookimpl
from stackio.registry import Registry, use_registry

NPY_MAGIC = b"\x93NUMPY"


def open_npy(path: str) -> np.ndarray:
    return np.load(path, mmap_mode="r")


class NpyPlugin:
    """Reads .npy files lazily through a memory map; `name`/`suffixes`/`priority` vary per test."""

    def __init__(
        self, name: str = "npytest", suffixes: tuple[str, ...] = (".npy",), priority: int = 0, accept: bool = True
    ) -> None:
        self.name = name
        self.suffixes = suffixes
        self.priority = priority
        self.accept = accept
        self.loaded: list[str] = []

    @hookimpl
    def stackio_register_formats(self, register: Callable[[FormatSpec], None]) -> None:
        register(FormatSpec(name=self.name, suffixes=self.suffixes, priority=self.priority, options=("scale",)))

    @hookimpl
    def stackio_detect(self, source: stackio.Source) -> Detection:
        if self.accept and source.header.startswith(NPY_MAGIC):
            return Detection.accept("numpy magic")
        return Detection.refuse("no numpy magic" if self.accept else "refuses everything")

    @hookimpl
    def stackio_validate(self, source: stackio.Source, options: dict[str, Any]) -> None:
        if "scale" in options and not isinstance(options["scale"], (int, float)):
            raise stackio.ValidationError(f"{source}: scale must be a number")

    @hookimpl
    def stackio_load(self, source: stackio.Source, axes: str | None) -> list[stackio.ImageStack]:
        self.loaded.append(str(source))
        array = open_npy(str(source.path))
        axes = stackio.require_axes(axes, array.shape, source)
        layout = Layout.from_axes(axes, array.shape, source=source)
        opener = functools.partial(open_npy, str(source.path.resolve()))
        return [LazyStack(str(source.path.resolve()), layout, array.dtype, opener)]


@pytest.fixture
def fresh_registry() -> Iterator[Registry]:
    """A registry with only the built-ins: installed entry points are not consulted."""
    with use_registry(Registry(entry_points=())) as registry:
        yield registry


@pytest.fixture
def npy_plugin(fresh_registry: Registry) -> NpyPlugin:
    """The .npy test format alone (installed plugins that read .npy are out of the way)."""
    plugin = NpyPlugin()
    fresh_registry.register(plugin, name="npytest")
    return plugin


@pytest.fixture
def npy_file(tmp_path: Path) -> tuple[Path, np.ndarray]:
    data = np.random.default_rng(0).integers(0, 60000, size=(3, 2, 20, 30), dtype=np.uint16)
    path = tmp_path / "stack.npy"
    np.save(path, data)
    return path, data
