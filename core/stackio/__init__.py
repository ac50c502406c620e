"""stackio: load any microscopy format as lazy, patch-addressable image stacks.

    stacks = stackio.load("cells.czi", "SCZYX")
    patch = stacks[0].extract_patch(sample_idx=0, channels=None, coords=(0, 0, 0), patch_size=(8, 64, 64))

Format plugins are separate distributions found through the "stackio" entry
point group; none is imported until a source needs it.
"""

from .api import Diagnosis, Part, detect, diagnose, load, load_pairs, natural_key, plan, require_axes
from .axes import KNOWN_AXES, Layout, normalize_axes
from .batch import read_patches
from .convert import convert
from .dispatch import claims_by_suffix
from .errors import (
    AxesError,
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
from .registry import Registry, get_registry, register_plugin, unregister_plugin
from .saving import save
from .source import Source
from .stacks import ArrayStack, FileBackedStack, LazyStack
from .streaming import StreamWriter, create
from .verdict import Decision, Status, Verdict

__version__ = "0.1.0"


def formats() -> list:
    """The installed formats, highest priority first (see `stackio formats`)."""
    return get_registry().formats()


def plugins() -> list:
    """The registered plugins (built-ins first)."""
    return get_registry().plugins()


def broken_plugins() -> list:
    """Plugins that failed to import or register, with their reasons."""
    return get_registry().broken()


__all__ = [
    "KNOWN_AXES",
    "ArrayStack",
    "AxesError",
    "Decision",
    "Detection",
    "Diagnosis",
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
    "unregister_plugin",
]
