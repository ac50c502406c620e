"""Register plugins in-process for a test, and simulate installed entry points."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..registry import Registry, get_registry


@contextmanager
def registered_plugin(plugin: object, name: str) -> Iterator[Registry]:
    """Register `plugin` under `name` for the duration of the block."""
    registry = get_registry()
    registry._discover()
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
    import importlib_metadata

    from .. import registry as registry_module

    real = importlib_metadata.entry_points

    def fake(**params: Any) -> list[Any]:
        extra = [_FakeEntryPoint(n, t, f"fake-{n}", "0.0") for n, t in entry_points.items()]
        if params.get("group") != registry_module.ENTRY_POINT_GROUP:
            return real(**params)
        return extra if replace else [*real(**params), *extra]

    previous = registry_module._registry
    importlib_metadata.entry_points = fake  # type: ignore[assignment]
    registry_module._registry = Registry()
    try:
        registry_module._registry._discover()
        yield registry_module._registry
    finally:
        importlib_metadata.entry_points = real  # type: ignore[assignment]
        registry_module._registry = previous
