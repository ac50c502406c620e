"""pytest fixtures for stackio plugin authors (loaded automatically when stackio is installed)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from ..registry import Registry, get_registry
from .plugins import simulated_entry_points


@pytest.fixture
def stackio_register() -> Iterator[Callable[[object, str], Any]]:
    """Register plugin objects in-process; they are unregistered after the test."""
    registry = get_registry()
    registry._discover()
    names: list[str] = []

    def register(plugin: object, name: str) -> Any:
        info = registry.register(plugin, name=name)
        names.append(name)
        return info

    yield register
    for name in names:
        registry.unregister(name)


@pytest.fixture
def stackio_entry_points() -> Iterator[Callable[..., Registry]]:
    """Simulate installed plugins: call with {entry-point name: plugin object, or an exception to raise}.

    Returns the fresh registry discovered from them (only them, unless `replace=False`); the real
    registry is back after the test.
    """
    with ExitStack() as stack:

        def simulate(entry_points: dict[str, Any], *, replace: bool = True) -> Registry:
            return stack.enter_context(simulated_entry_points(entry_points, replace=replace))

        yield simulate


@pytest.fixture
def stackio_isolated() -> Iterator[Registry]:
    """A registry with the built-in formats only, as if no plugin were installed."""
    with simulated_entry_points({}) as registry:
        yield registry


@pytest.fixture(scope="session")
def stackio_realdata(request: pytest.FixtureRequest) -> Any:
    """The shared real-file folder; the test is skipped when it is absent."""
    from .realdata import find_realdata

    root = find_realdata(Path(str(request.config.rootpath)))
    if root is None:
        pytest.skip("no ../shared/realdata beside this checkout (set STACKIO_REALDATA to use one)")
    return root
