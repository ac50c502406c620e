"""stackio: load any microscopy format as lazy, patch-addressable image stacks.

    stacks = stackio.load("cells.czi", "SCZYX")
    patch = stacks[0].extract_patch(sample_idx=0, channels=None, coords=(0, 0, 0), patch_size=(8, 64, 64))

Format plugins are separate distributions found through the "stackio" entry
point group; none is imported until a source needs it. The core's own modules
are imported on first use of a name too, so `import stackio` costs next to nothing.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import Diagnosis, Part, detect, diagnose, load, load_pairs, natural_key, plan, require_axes
    from .axes import KNOWN_AXES, Layout, normalize_axes
    from .batch import read_patches
    from .convert import convert
    from .dispatch import claims_by_suffix
    from .errors import (
        AxesError,
        FileAccessError,
        PatchBoundsError,
        PluginError,
        ReadError,
        SourceNotFoundError,
        StackioError,
        UnsupportedFormatError,
        ValidationError,
        WriteError,
    )
    from .formats import FormatSpec
    from .handles import FormatHandle
    from .hookspecs import Detection, Sample, hookimpl
    from .image_metadata import ImageMetadata, image_metadata
    from .metadata import Metadata
    from .options import Option
    from .patches import check_patch_request, read_patch
    from .protocol import ImageStack
    from .readmode import set_file_reads
    from .registry import BrokenPlugin, PluginInfo, Registry, get_registry, register_plugin, unregister_plugin
    from .saving import save
    from .source import Source
    from .stacks import ArrayStack, FileBackedStack, LazyStack
    from .streaming import StreamWriter, create
    from .verdict import Decision, Status, Verdict

#: Each public name and the module defining it, imported on first use so that `import stackio` stays cheap.
_EXPORTS = {
    "Diagnosis": "api",
    "Part": "api",
    "detect": "api",
    "diagnose": "api",
    "load": "api",
    "load_pairs": "api",
    "natural_key": "api",
    "plan": "api",
    "require_axes": "api",
    "KNOWN_AXES": "axes",
    "Layout": "axes",
    "normalize_axes": "axes",
    "read_patches": "batch",
    "convert": "convert",
    "claims_by_suffix": "dispatch",
    "AxesError": "errors",
    "FileAccessError": "errors",
    "PatchBoundsError": "errors",
    "PluginError": "errors",
    "ReadError": "errors",
    "SourceNotFoundError": "errors",
    "StackioError": "errors",
    "UnsupportedFormatError": "errors",
    "ValidationError": "errors",
    "WriteError": "errors",
    "FormatSpec": "formats",
    "FormatHandle": "handles",
    "Detection": "hookspecs",
    "Sample": "hookspecs",
    "hookimpl": "hookspecs",
    "ImageMetadata": "image_metadata",
    "image_metadata": "image_metadata",
    "Metadata": "metadata",
    "set_file_reads": "readmode",
    "Option": "options",
    "check_patch_request": "patches",
    "read_patch": "patches",
    "ImageStack": "protocol",
    "Registry": "registry",
    "get_registry": "registry",
    "register_plugin": "registry",
    "unregister_plugin": "registry",
    "save": "saving",
    "Source": "source",
    "ArrayStack": "stacks",
    "FileBackedStack": "stacks",
    "LazyStack": "stacks",
    "StreamWriter": "streaming",
    "create": "streaming",
    "Decision": "verdict",
    "Status": "verdict",
    "Verdict": "verdict",
}

__version__ = "0.1.0"


#: Public functions named like a module of the package.
_SHADOWED = frozenset({"convert", "formats", "image_metadata"})


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        # Importing `stackio.convert` would bind the module over the function `stackio.convert`; keep the function.
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        if name.startswith("__"):
            raise AttributeError(f"module 'stackio' has no attribute {name!r}")
        try:  # a submodule, as `import stackio; stackio.registry` found it when everything was imported eagerly
            return importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module 'stackio' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


def formats() -> list[FormatHandle]:
    """The installed formats, highest priority first (see `stackio formats`)."""
    from .registry import get_registry

    return get_registry().formats()


def plugins() -> list[PluginInfo]:
    """The registered plugins (built-ins first)."""
    from .registry import get_registry

    return get_registry().plugins()


def broken_plugins() -> list[BrokenPlugin]:
    """Plugins that failed to import or register, with their reasons."""
    from .registry import get_registry

    return get_registry().broken()


__all__ = [
    "KNOWN_AXES",
    "ArrayStack",
    "AxesError",
    "Decision",
    "Detection",
    "Diagnosis",
    "FileAccessError",
    "FileBackedStack",
    "FormatHandle",
    "FormatSpec",
    "ImageMetadata",
    "ImageStack",
    "Layout",
    "LazyStack",
    "Metadata",
    "Option",
    "Part",
    "PatchBoundsError",
    "PluginError",
    "ReadError",
    "Registry",
    "Sample",
    "Source",
    "SourceNotFoundError",
    "Status",
    "StackioError",
    "UnsupportedFormatError",
    "StreamWriter",
    "ValidationError",
    "Verdict",
    "WriteError",
    "broken_plugins",
    "check_patch_request",
    "claims_by_suffix",
    "convert",
    "create",
    "detect",
    "diagnose",
    "formats",
    "get_registry",
    "hookimpl",
    "image_metadata",
    "load",
    "load_pairs",
    "natural_key",
    "normalize_axes",
    "plan",
    "plugins",
    "read_patch",
    "read_patches",
    "register_plugin",
    "require_axes",
    "save",
    "set_file_reads",
    "unregister_plugin",
]
