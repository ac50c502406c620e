"""stackio plugin for formats nobody packaged: numpy files, read functions, your own loaders.

Two formats are declared:

- ``numpy``: ``.npy`` (memory-mapped, lazy) and ``.npz`` files.
- ``custom``: chosen whenever ``load`` is given ``read_func=`` or ``loader=``,
  whatever the source looks like.

`register_format` names a new format at run time without packaging it.
This module stays tiny: reading lives in `readers` and `numpy_files`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from stackio import Detection, FormatSpec, ImageStack, Option, Sample, Source, hookimpl

from .runtime import register_format, registered_formats, unregister_format

__all__ = ["register_format", "registered_formats", "unregister_format"]

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"

#: Options of the ``custom`` format; any other option goes to the loader when the core allows it.
CUSTOM_OPTIONS = (
    Option("read_func", Callable, "a function (path, **read_kwargs) -> numpy array"),
    Option("read_kwargs", Mapping, "keyword arguments for read_func"),
    Option("suffix", str, "which files of a directory read_func reads, e.g. '.npy'"),
    Option("loader", Callable, "a function (source, axes, **kwargs) -> list of ImageStacks"),
    Option("loader_kwargs", Mapping, "keyword arguments for loader"),
)


@hookimpl
def stackio_register_formats(register: Callable[[FormatSpec], None]) -> None:
    register(
        FormatSpec(
            name="numpy",
            suffixes=(".npy", ".npz"),
            magic=(NPY_MAGIC,),
            handles_index=True,  # name.npz@N: the archive's N-th array; refused for a .npy
            description="numpy .npy (memory-mapped) and .npz files",
        )
    )
    register(
        FormatSpec(
            name="custom",
            options=CUSTOM_OPTIONS,
            selected_by=("read_func", "loader"),
            description="any format, through read_func= (a function returning an array) or loader= "
            "(a function returning ImageStacks)",
            pass_through_options=True,
            handles_index=True,  # a loader gets the source as given, @N included; read_func refuses it
            in_memory_default=True,
        )
    )


@hookimpl
def stackio_detect(format: str, source: Source) -> Detection:
    if format != "numpy":
        return Detection.refuse("the custom format is chosen by the read_func= or loader= option only")
    header = source.header
    if header.startswith(NPY_MAGIC):
        return Detection.accept("numpy .npy magic bytes")
    if header.startswith(ZIP_MAGIC) and ".npz" in source.suffixes:
        return Detection.accept("a zip archive named .npz")
    return Detection.refuse("neither .npy magic bytes nor a .npz zip archive")


@hookimpl
def stackio_validate(format: str, source: Source, axes: str | None, options: dict[str, Any]) -> None:
    from . import readers

    if format == "custom":
        readers.validate_custom(source, axes, options)


@hookimpl
def stackio_load(format: str, source: Source, axes: str | None, options: dict[str, Any]) -> Sequence[ImageStack]:
    from . import reader  # lazy stacks: the core reads them into memory when in_memory is True (custom's default)

    return reader.load(source, axes, options, format=format)


@hookimpl
def stackio_write_samples(directory: Path) -> list[Sample]:
    from . import samples

    return samples.write_samples(directory)
