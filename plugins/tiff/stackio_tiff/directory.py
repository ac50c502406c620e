"""A folder holding multi-file sets (OME companion, Micro-Manager stacks, split OME-TIFF): each image once.

The core loads a plain folder file by file; the tiff plugin takes a folder
over only when it holds a multi-file set (see `_detect_directory`), so that a
set's images are read once each: a companion file gives the images it
describes, and the files it lists are not read again; any other file gives
the images whose first plane it holds.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import stackio
from stackio import ImageStack, ReadError, Source, ValidationError, natural_key
from stackio.dispatch import claims_by_suffix

from .images import COMPANION_SUFFIX
from .reader import load_file, refuse_ndtiff

TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".tf2", ".svs", ".qptiff", ".ndpi", ".scn", ".lsm", ".stk")


def companion_files(companion: Path) -> set[str]:
    """The file names a companion OME-XML lists."""
    try:
        root = ET.fromstring(companion.read_text(encoding="utf-8", errors="replace"))
    except ET.ParseError as exc:
        raise ReadError(f"{companion}: is not valid OME-XML ({exc})", source=str(companion)) from exc
    return {e.attrib["FileName"] for e in root.iter() if e.tag.endswith("UUID") and "FileName" in e.attrib}


def _other_formats() -> list[Any]:
    return [e for e in stackio.formats() if e.name != "tiff"]


def load_directory(source: Source, axes: str | None, options: dict[str, Any], in_memory: bool) -> list[ImageStack]:
    folder = source.path
    assert folder is not None
    if options.get("series") is not None:
        raise ValidationError(
            f"{folder}: series= selects an image of one file, not of a folder; pass the file "
            "(folder/file.ome.tif@N) instead",
            source=str(folder),
        )
    entries = sorted((p for p in folder.iterdir() if not p.name.startswith(".")), key=lambda p: natural_key(p.name))
    companions = [p for p in entries if p.name.lower().endswith(COMPANION_SUFFIX)]
    covered: set[str] = set()  # real paths of files whose images were given already
    for companion in companions:
        covered |= {os.path.realpath(folder / name) for name in companion_files(companion)}
    others = _other_formats()
    stacks: list[ImageStack] = []
    for path in entries:
        name = path.name.lower()
        if (path.is_dir() or not name.endswith((*TIFF_SUFFIXES, COMPANION_SUFFIX))) and claims_by_suffix(
            others, Source.parse(path)
        ):
            # another format's file or dataset beside a multi-file set: stackio loads it as it would
            stacks += stackio.load(path, axes, in_memory=in_memory)
        elif path.is_dir():
            continue
        elif name.endswith(COMPANION_SUFFIX):
            stacks += load_file(path, axes, options, index=None)
        elif name.endswith(TIFF_SUFFIXES) and os.path.realpath(path) not in covered:
            refuse_ndtiff(path)
            if path.stat().st_size == 0:
                raise ReadError(
                    f"{path}: the file is empty (0 bytes); it may not have been written completely", source=str(path)
                )
            # every image of the file's set, once; the set's other files are then skipped
            stacks += load_file(path, axes, options, index=None, covered=covered)
    if not stacks:
        raise ReadError(f"{folder}: the folder holds no TIFF image stackio can read", source=str(folder))
    return stacks
