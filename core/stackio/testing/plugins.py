"""Register plugins in-process for a test, and simulate installed entry points."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..registry import Registry, get_registry, installed_entry_points, use_registry


@contextmanager
def registered_plugin(plugin: object, name: str) -> Iterator[Registry]:
    """Register `plugin` under `name` for the duration of the block."""
    registry = get_registry()
    registry.discover()
    registry.register(plugin, name=name)
    try:
        yield registry
    finally:
        registry.unregister(name)


class _FakeDist:
    def __init__(self, name: str, version: str) -> None:
        self.name = name
        self.version = version


class _FakeEntryPoint:
    def __init__(self, name: str, target: Any, dist: str, version: str) -> None:
        self.name = name
        self._target = target
        self.dist = _FakeDist(dist, version)
        self.value = getattr(target, "__name__", repr(target))

    def load(self) -> Any:
        if isinstance(self._target, BaseException):
            raise self._target
        return self._target


@contextmanager
def simulated_entry_points(entry_points: dict[str, Any], *, replace: bool = True) -> Iterator[Registry]:
    """Discover with these entry points (name -> plugin object, or an exception raised at load).

    With `replace=True` only these are seen; otherwise they add to the installed ones.
    Yields a fresh registry that is in use for the block.
    """
    simulated = [_FakeEntryPoint(n, t, f"fake-{n}", "0.0") for n, t in entry_points.items()]
    registry = Registry(entry_points=simulated if replace else [*installed_entry_points(), *simulated])
    with use_registry(registry):
        registry.discover()
        yield registry
