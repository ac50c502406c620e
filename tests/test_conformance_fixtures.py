"""The pytest fixtures stackio ships for plugin authors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import stackio
from stackio import ArrayStack, FormatSpec, hookimpl


class TinyPlugin:
    @hookimpl
    def stackio_register_formats(self, register: Any) -> None:
        register(FormatSpec(name="tiny", suffixes=(".tiny",), description="4x4 zeros"))

    @hookimpl
    def stackio_load(self, source: Any) -> list[Any]:
        return [ArrayStack.from_axes(np.zeros((4, 4), np.uint8), "YX", source=str(source))]


def test_stackio_register_adds_a_plugin_for_one_test(stackio_register: Any, tmp_path: Any) -> None:
    stackio_register(TinyPlugin(), "tiny-plugin")
    (tmp_path / "a.tiny").write_bytes(b"x")
    assert stackio.load(tmp_path / "a.tiny")[0].data_shape == (1, 1, 4, 4)


def test_the_registered_plugin_is_gone_afterwards() -> None:
    assert "tiny" not in [f.name for f in stackio.formats()]


def test_stackio_entry_points_simulates_installed_plugins(stackio_entry_points: Any) -> None:
    registry = stackio_entry_points({"tiny": TinyPlugin(), "broken": ImportError("no module named tinylib")})
    assert [f.name for f in registry.formats()] == ["array", "tiny"]
    assert [(b.name, b.stage) for b in stackio.broken_plugins()] == [("broken", "import")]
    assert "tinylib" in stackio.broken_plugins()[0].reason


def test_stackio_isolated_has_built_ins_only(stackio_isolated: Any) -> None:
    assert [f.name for f in stackio.formats()] == ["array"]


@pytest.mark.parametrize("when", ["before", "after"])
def test_the_real_registry_is_back(when: str) -> None:
    assert "custom" in [f.name for f in stackio.formats()]
