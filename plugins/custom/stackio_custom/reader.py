"""Reading for both formats of the custom plugin: ``numpy`` files, and ``custom`` (a user's read function or loader).

`load` goes locate (the files: the .npy or .npz file, or the files a read function reads; a loader is
handed the source as the user gave it) -> plan (how they are read) -> build (the stacks: memory maps,
archive members read when opened, file-backed read-function calls, or the loader's own stacks).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import attrs
from stackio import ImageStack, Source

from . import numpy_files, readers


@attrs.frozen
class Plan:
    """How the located files become stacks."""

    way: Literal["npy", "npz", "read_func", "loader"]
    files: tuple[Path, ...]
    #: The read function's call per file (way "read_func").
    call: readers.ReadCall | None = None
    #: The loader and its keyword arguments (way "loader").
    loader: Callable[..., Any] | None = None
    loader_kwargs: dict[str, Any] = attrs.field(factory=dict)


def load(source: Source, axes: str | None, options: Mapping[str, Any], *, format: str = "custom") -> list[ImageStack]:
    """The stacks of `source` read as `format`, "custom" or "numpy" (lazy: the core reads them into memory)."""
    files = locate(source, axes, options, format)
    how = plan(source, axes, options, format, files)
    return build(how, source, axes)


def locate(source: Source, axes: str | None, options: Mapping[str, Any], format: str) -> tuple[Path, ...]:
    """The files to read, once the options are known to go together."""
    if format == "numpy":
        return (numpy_files.locate(source),)
    readers.validate_custom(source, axes, options)
    if options.get("read_func") is None:
        return ()  # a loader finds its data from the source as given
    return tuple(readers.files_of(source, options.get("suffix")))


def plan(source: Source, axes: str | None, options: Mapping[str, Any], format: str, files: tuple[Path, ...]) -> Plan:
    """The way the files are read."""
    if format == "numpy":
        return Plan("npz" if numpy_files.is_archive(source) else "npy", files)
    if options.get("read_func") is not None:
        assert axes is not None  # validate_custom asked for them
        return Plan("read_func", files, call=readers.read_call(source, axes, options))
    return Plan("loader", files, loader=options["loader"], loader_kwargs=readers.loader_kwargs(source, options))


def build(how: Plan, source: Source, axes: str | None) -> list[ImageStack]:
    """The stacks the plan gives."""
    if how.way == "npy":
        return numpy_files.npy_stacks(source, how.files[0], axes)
    if how.way == "npz":
        return numpy_files.npz_stacks(source, how.files[0], axes)
    if how.way == "read_func":
        assert how.call is not None
        return readers.read_func_stacks(how.call, how.files, in_memory=False)
    assert how.loader is not None
    return readers.call_loader(how.loader, source.given, source, axes, how.loader_kwargs)
