"""Every plugin in this repository's plugins/ folder through the conformance suite.

A plugin that is not installed in this environment is skipped (install it with
`pip install -e plugins/<name>`, as .ci/install does for all of them).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from stackio.testing.conformance import PluginConformance

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"
#: The format library each plugin must import only when it reads.
HEAVY = {
    "tiff": ("tifffile", "imagecodecs"),
    "czi": ("pylibCZIrw",),
    "zarr": ("zarr",),
    "ndtiff": ("ndstorage", "ndtiff"),
    "png": ("PIL",),
    "custom": (),
}


def _is_format_plugin(folder: Path) -> bool:
    # plugins/napari is a napari plugin reading through the core, not a stackio format plugin
    pyproject = folder / "pyproject.toml"
    return pyproject.is_file() and "[project.entry-points.stackio]" in pyproject.read_text(encoding="utf-8")


def _plugin_dirs() -> list[Path]:
    return sorted(p for p in PLUGINS.iterdir() if _is_format_plugin(p) and not p.name.startswith("_"))


for _folder in _plugin_dirs():
    _module = f"stackio_{_folder.name}"
    _installed = importlib.util.find_spec(_module) is not None
    _cls = type(
        f"TestConformance_{_folder.name}",
        (PluginConformance,),
        {"plugin": _module, "heavy_modules": HEAVY.get(_folder.name, ()), "__module__": __name__},
    )
    globals()[_cls.__name__] = pytest.mark.skipif(
        not _installed, reason=f"{_module} is not installed (pip install -e plugins/{_folder.name})"
    )(_cls)


def test_every_plugin_folder_is_covered() -> None:
    names = {p.name for p in _plugin_dirs()}
    assert {"custom", "png"} <= names
    missing = sorted(n for n in names if f"TestConformance_{n}" not in globals())
    assert not missing, missing
