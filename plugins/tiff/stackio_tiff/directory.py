"""The TIFF files of a folder, read as one group: multi-file sets (OME companion, Micro-Manager, split OME-TIFF) once.

The core hands the tiff format the TIFF files of a folder as one group
(`source.members`; the whole folder's TIFF files with `format="tiff"`), so
that a set's images are read once each: a companion file gives the images it
describes, and the files it lists are not read again; any other file gives
the images whose first plane it holds. Files of other formats never reach
this module: the core loads them with their own formats.
"""

from __future__ import annotations

import os
import stat
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stackio import ImageStack, ReadError, Source, ValidationError, natural_key
from stackio.files import list_folder, missing_path_error, require_regular
from stackio.progress import Progress

from . import SUFFIXES, file_set_kind
from .file_stacks import load_file
from .images import COMPANION_SUFFIX
from .shared import SharedLayouts


class RealPaths:
    """`os.path.realpath` of many files of a few folders, each folder resolved once.

    A file that is not itself a symbolic link resolves to its folder's real path joined with its name,
    as `realpath` resolves a path component by component: one `lstat` per file instead of one per component.
    """

    def __init__(self) -> None:
        self._folders: dict[str, str] = {}

    def __call__(self, path: str | os.PathLike[str]) -> str:
        text = os.fspath(path)
        head, name = os.path.split(text)
        if not head or name in ("", ".", ".."):
            return os.path.realpath(text)
        try:
            link = stat.S_ISLNK(os.lstat(text).st_mode)
        except OSError:  # missing: realpath keeps the name as it is
            link = True
        if link:
            return os.path.realpath(text)
        folder = self._folders.get(head)
        if folder is None:
            folder = self._folders[head] = os.path.realpath(head)
        return os.path.join(folder, name)


def companion_files(companion: Path) -> set[str]:
    """The file names a companion OME-XML lists."""
    try:
        root = ET.fromstring(companion.read_text(encoding="utf-8", errors="replace"))
    except ET.ParseError as exc:
        raise ReadError(f"{companion}: is not valid OME-XML ({exc})", source=str(companion)) from exc
    return {e.attrib["FileName"] for e in root.iter() if e.tag.endswith("UUID") and "FileName" in e.attrib}


def _members(source: Source) -> list[Path]:
    if source.members is not None:
        return list(source.members)
    assert source.path is not None
    names = sorted((n for n in list_folder(source.path, source) if not n.startswith(".")), key=natural_key)
    return [source.path / n for n in names if n.lower().endswith(SUFFIXES)]


def _is_tiff_file(path: Path) -> bool:
    """Whether a listed TIFF name is a file to read (a folder is skipped); one gone since the folder was
    listed, or a FIFO or device, is an error naming it."""
    try:
        info = os.stat(path)
    except OSError:
        raise missing_path_error(path, path, vanished=True) from None
    if stat.S_ISDIR(info.st_mode):
        return False
    require_regular(path, what="the TIFF file", info=info)
    return True


def folder_files(source: Source, series: int | None) -> list[Path]:
    """The TIFF files of the folder `source` to read, in order; `series` only for a folder of plain files."""
    folder = source.path
    assert folder is not None
    entries = [p for p in _members(source) if _is_tiff_file(p)]
    if series is not None and file_set_kind(p.name for p in entries) is not None:
        raise ValidationError(
            f"{folder}: series= selects an image of one file, not of a folder; pass the file "
            "(folder/file.ome.tif@N) instead",
            source=str(folder),
        )
    return entries


def load_directory(
    folder: Path, entries: Sequence[Path], axes: str | None, options: dict[str, Any]
) -> list[ImageStack]:
    """The stacks of `entries` (from `folder_files`), each multi-file set's images once."""
    if options.get("series") is not None:
        # plain files: series=N applies to each, as when each is loaded on its own
        return [s for p in entries for s in load_file(p, axes, options, index=options["series"])]
    companions = [p for p in entries if p.name.lower().endswith(COMPANION_SUFFIX)]
    covered: set[str] = set()  # real paths of files whose images were given already
    for companion in companions:
        covered |= {os.path.realpath(folder / name) for name in companion_files(companion)}
    stacks: list[ImageStack] = []
    plain = SharedLayouts(axes, options)  # files laid out like one already parsed are not parsed again
    real = RealPaths()
    with Progress(f"stackio: opening the TIFF files of {folder.name}", len(entries)) as progress:
        for path in entries:
            if path.name.lower().endswith(COMPANION_SUFFIX):
                stacks += load_file(path, axes, options, index=None)
            else:
                resolved = real(path)
                if resolved not in covered:
                    # every image of the file's set, once; the set's other files are then skipped
                    stacks += plain.load(path, covered, resolved)
            progress.advance()
    if not stacks:
        raise ReadError(f"{folder}: the folder holds no TIFF image stackio can read", source=str(folder))
    return stacks
