"""The ``numpy`` format: ``.npy`` files read lazily, ``.npz`` archives one stack per array.

A ``.npy`` file's header is parsed once at load; patches are read through the core's bounded pool of
open files (`stackio.openfiles`: a memory map or windows, no descriptor held per stack, and a file
changed under an open stack is an error, not a crash).

A ``.npz`` member is read whole on the first patch (zip members cannot be
sliced) and kept until the stack is closed; ``name.npz@N`` is its N-th array.
"""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path

import numpy as np
from stackio import (
    ArrayStack,
    AxesError,
    ImageStack,
    Layout,
    LazyStack,
    Metadata,
    ReadError,
    Source,
    ValidationError,
    require_axes,
)
from stackio.memory import ensure_fits_in_memory, ensure_segment_fits
from stackio.openfiles import FileKey, RawArray


def _layout(axes: str | None, shape: tuple[int, ...], where: str) -> Layout:
    axes = require_axes(axes, shape, where, " for a numpy array (it carries no axes)")
    return Layout.from_axes(axes, shape, source=where)


def parse_npy(path: str) -> RawArray:
    """Where the array of the .npy file at `path` lies; ValueError if it is not a numeric .npy array."""
    fmt = np.lib.format
    with open(path, "rb") as f:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, fortran_order, dtype = fmt.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran_order, dtype = fmt.read_array_header_2_0(f)
        else:  # version 3.0 (utf-8 field names) has no public reader of its own
            shape, fortran_order, dtype = fmt._read_array_header(f, version)  # type: ignore[attr-defined]
        offset = f.tell()
        size = os.fstat(f.fileno()).st_size
    dtype = np.dtype(dtype)
    if dtype.hasobject:
        raise ValueError("the array holds Python objects")
    end = offset + math.prod(int(n) for n in shape) * dtype.itemsize
    if end > size:
        raise OSError(f"its header places the array's last byte at {end} but the file has {size} bytes")
    return RawArray(FileKey.of(path), offset, tuple(int(n) for n in shape), dtype.str, bool(fortran_order))


class NpzMember:
    """Opener of one .npz member: reads it whole, once per open, after checking that it fits in memory.

    `nbytes` is the member's size in memory (its header's shape and dtype), `source` the stack's name.
    """

    def __init__(self, path: str, key: str, nbytes: int = 0, source: str | None = None) -> None:
        self.path = path
        self.key = key
        self.nbytes = nbytes
        self.source = source or path

    def __call__(self) -> np.ndarray:
        ensure_segment_fits(
            self.nbytes,
            self.source,
            f"array {self.key!r} (a .npz member is decompressed whole)",
            "save the array with numpy.save as a .npy file, which is memory-mapped and read patch by patch",
        )
        with np.load(self.path, allow_pickle=False) as archive:
            return archive[self.key]


def npy_stacks(source: Source, path: Path, axes: str | None, in_memory: bool = False) -> list[ImageStack]:
    """The one stack of a .npy file, read lazily."""
    where = str(path)
    if source.index is not None:
        raise ValidationError(
            f"{source}: a .npy file holds a single array; drop the '@{source.index}'", source=str(source)
        )
    try:
        npy = parse_npy(where)
    except ValueError as exc:
        raise ReadError(
            f"{where}: is not a readable numeric .npy array ({exc}); stackio reads numeric arrays "
            "written by numpy.save, not pickled Python objects",
            source=where,
        ) from exc
    except OSError as exc:
        raise ReadError(f"{where}: could not be read as .npy ({exc}); the file may be truncated", source=where) from exc
    layout = _layout(axes, npy.shape, where)
    if in_memory:
        ensure_fits_in_memory(npy.shape, np.dtype(npy.dtype), where)
        return [ArrayStack(npy()[...], layout, source=where)]
    return [LazyStack(where, layout, np.dtype(npy.dtype), npy, metadata=Metadata())]


def _member_header(archive: zipfile.ZipFile, member: str) -> tuple[tuple[int, ...], np.dtype]:
    with archive.open(member) as fp:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
        else:  # rare versions: read the member to learn its header
            fp.close()
            with archive.open(member) as whole:
                array = np.lib.format.read_array(whole, allow_pickle=False)
            return array.shape, array.dtype
    return tuple(shape), np.dtype(dtype)


def npz_stacks(source: Source, path: Path, axes: str | None, in_memory: bool = False) -> list[ImageStack]:
    """One stack per array of a .npz archive (or the one '@N' names), each member read whole when opened."""
    where = str(path)
    try:
        with zipfile.ZipFile(where) as archive:
            members = [m for m in archive.namelist() if m.endswith(".npy")]
            headers = [_member_header(archive, m) for m in members]
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ReadError(
            f"{where}: is not a readable .npz archive ({type(exc).__name__}: {exc}); it may be truncated",
            source=where,
        ) from exc
    if not members:
        raise ReadError(f"{where}: the .npz archive holds no array", source=where)
    names = [m[: -len(".npy")] for m in members]
    chosen = range(len(members))
    if source.index is not None:
        if source.index >= len(members):
            listing = ", ".join(f"{i} ({n})" for i, n in enumerate(names))
            raise ValidationError(
                f"{source}: array {source.index} does not exist; the archive has arrays {listing}",
                source=str(source),
            )
        chosen = range(source.index, source.index + 1)
    stacks: list[ImageStack] = []
    for i in chosen:
        shape, dtype = headers[i]
        member_source = f"{where}@{i}"
        if dtype.hasobject:
            raise ReadError(
                f"{member_source}: array {names[i]!r} holds Python objects; stackio reads numeric arrays",
                source=member_source,
            )
        try:
            layout = _layout(axes, shape, f"{member_source} (array {names[i]!r})")
        except AxesError as exc:
            raise AxesError(str(exc), source=member_source) from None
        opener = NpzMember(where, names[i], math.prod(shape) * dtype.itemsize, member_source)
        metadata = Metadata(axis_names=None, raw=None)
        if in_memory:
            ensure_fits_in_memory(shape, dtype, member_source)  # before decompressing a member
            stacks.append(ArrayStack(opener(), layout, source=member_source, metadata=metadata))
        else:
            stacks.append(LazyStack(member_source, layout, dtype, opener, metadata=metadata))
    return stacks


def locate(source: Source) -> Path:
    """The .npy or .npz file, resolved."""
    path = source.path
    if path is None or not path.is_file():
        raise ValidationError(f"{source}: the numpy format reads .npy and .npz files", source=str(source))
    return path.resolve()


def is_archive(source: Source) -> bool:
    """Whether the file is a .npz (zip) archive rather than a .npy array."""
    return source.header.startswith(b"PK")


def load(source: Source, axes: str | None, *, in_memory: bool) -> list[ImageStack]:
    path = locate(source)
    if is_archive(source):
        return npz_stacks(source, path, axes, in_memory)
    return npy_stacks(source, path, axes, in_memory)
