"""Loading TIFF sources as stacks: locate the source, plan what to read, build the stacks.

A URL is read by `remote`, a folder's TIFF files as one group by `directory`, one file by `file_stacks`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import attrs
from stackio import ImageStack, Source, ValidationError

from . import file_stacks, shared


@attrs.frozen
class Located:
    """Where a source is: a URL, a local folder or a local file (`path` for the last two)."""

    source: Source
    kind: Literal["url", "folder", "file"]
    path: Path | None = None


@attrs.frozen
class Plan:
    """What `build` reads: the located source, the series asked for, and for a folder its TIFF files in order."""

    located: Located
    series: int | None
    files: tuple[Path, ...] = ()


def load(source: Source, axes: str | None, options: dict[str, Any]) -> list[ImageStack]:
    """The stacks of a file (`options["series"]` is `file@N` already), of a folder's TIFF files, or of a URL."""
    located = locate(source, options)
    read = plan(located, options)
    return build(read, axes, options)


def locate(source: Source, options: dict[str, Any]) -> Located:
    """What kind of place `source` is; storage options are refused for local ones."""
    path = source.path
    if path is None and source.uri is not None:
        return Located(source, "url")
    if path is None:
        raise ValidationError(f"{source}: the tiff format reads local files and URLs only", source=str(source))
    if options.get("storage_options") is not None:
        raise ValidationError(
            f"{source}: storage_options= is for URLs (https://, s3://, ...); a local file takes none",
            source=str(source),
        )
    return Located(source, "folder" if path.is_dir() else "file", path)


def plan(located: Located, options: dict[str, Any]) -> Plan:
    """The series to read and, for a folder, the TIFF files handed to this format."""
    series = options.get("series")
    if located.kind == "folder":
        from . import directory  # a single file's load needs none of it

        return Plan(located, series, tuple(directory.folder_files(located.source, series)))
    return Plan(located, series)


def build(read: Plan, axes: str | None, options: dict[str, Any]) -> list[ImageStack]:
    """The stacks of the planned URL, folder or file."""
    located = read.located
    if located.kind == "url":
        from . import remote  # fsspec is imported only now

        return remote.load(located.source, axes, options, read.series)
    assert located.path is not None
    if located.kind == "folder":
        from . import directory

        return directory.load_directory(located.path, read.files, axes, options)
    if read.series is None:
        return shared.load_single(located.path, axes, options)  # no parse when a recent file had its layout
    return file_stacks.load_file(located.path, axes, options, index=read.series)
