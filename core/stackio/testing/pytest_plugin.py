"""pytest fixtures for stackio plugin authors (loaded automatically when stackio is installed)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ..registry import get_registry


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


@pytest.fixture(scope="session")
def stackio_realdata(request: pytest.FixtureRequest) -> Any:
    """The shared real-file folder; the test is skipped when it is absent."""
    from .realdata import find_realdata

    root = find_realdata(Path(str(request.config.rootpath)))
    if root is None:
        pytest.skip("no ../shared/realdata beside this checkout (set STACKIO_REALDATA to use one)")
    return root
