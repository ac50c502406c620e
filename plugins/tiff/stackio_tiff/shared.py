"""TIFF files that share one layout are parsed once: a folder's files, and files loaded one by one.

Thousands of small files written by one program usually differ only in their pixels. A file
is taken as laid out like one already parsed (a template) only when that is proven from its
bytes: the same size, and the same bytes wherever the template's structure lies (the header,
every IFD and every tag value outside an IFD). tifffile reads nothing else of such a file to
parse it, so it would find the same images, shapes, offsets and metadata; the file's stacks are
the template's, made for its own path. Any file that differs anywhere there is parsed in full.
A folder's load keeps its own templates; single files loaded in this process share a few recent
ones (`RECENT`), so that loading files one by one, or one file again, costs a comparison, not a parse.
Only plain layouts qualify: no sub-IFDs or EXIF/GPS directories, no tag outside a list of plain
data tags (formats like LSM, STK or Micro-Manager point from tags into further structures), and
only series kinds whose stacks depend on nothing but the file (see `file_stacks.SELF_CONTAINED_KINDS`).
"""

from __future__ import annotations

import os
import stat
import struct
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
from stackio import ImageStack, ReadError

from .file_stacks import StackRecipe, load_file
from .files import FileKey
from .pages import MemmapStore, PlaneStore

#: Tags whose values are plain data (tifffile follows no offset in them to further structures).
PLAIN_TAGS = frozenset(
    {*range(254, 330), *range(331, 348), 529, 530, 531, 532}
    | {32995, 32996, 32997, 32998, 33432, 33550, 33922, 34264, 34735, 34736, 34737, 42112, 42113, 50838, 50839}
)
#: Bytes per value of each TIFF field type; IFD (13) and IFD8 (18) point to structures, so they are absent.
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 16: 8, 17: 8}
#: Limits beyond which a file is parsed in full rather than compared (many pages, huge tags).
MAX_IFDS = 4096
MAX_STRUCTURE_BYTES = 4 * 2**20
#: Structures ending within this many bytes are read with one call.
ONE_READ = 256 * 1024
#: Layouts remembered per folder (a folder of several kinds of files).
MAX_TEMPLATES = 8
#: Layouts of single files remembered by the process.
MAX_RECENT = 16


def structure(read: Any, size: int) -> tuple[tuple[int, int], ...] | None:
    """The (offset, length) ranges of a TIFF's structure, merged; None when it is not a plain layout.

    `read(offset, length)` returns the file's bytes there.
    """
    head = read(0, 16)
    order = {b"II": "<", b"MM": ">"}.get(head[:2])
    if order is None or len(head) < 8:
        return None
    version = struct.unpack(order + "H", head[2:4])[0]
    if version == 42:
        header, count_fmt, entry, off_fmt = 8, "H", 12, "I"
        first = struct.unpack(order + "I", head[4:8])[0]
    elif version == 43 and len(head) == 16:
        header, count_fmt, entry, off_fmt = 16, "Q", 20, "Q"
        first = struct.unpack(order + "Q", head[8:16])[0]
    else:
        return None
    count_size, off_size = struct.calcsize(count_fmt), struct.calcsize(off_fmt)
    value_fmt = order + "HH" + off_fmt + off_fmt
    ranges = [(0, header)]
    seen: set[int] = set()
    offset = first
    while offset:
        if offset in seen or len(seen) >= MAX_IFDS or offset + count_size > size:
            return None
        seen.add(offset)
        count = struct.unpack(order + count_fmt, read(offset, count_size))[0]
        length = count_size + count * entry + off_size
        if offset + length > size:
            return None
        ifd = read(offset, length)
        ranges.append((offset, length))
        for i in range(count):
            start = count_size + i * entry
            code, kind, n, value = struct.unpack(value_fmt, ifd[start : start + entry])
            item = _TYPE_SIZES.get(kind)
            if code not in PLAIN_TAGS or item is None:
                return None
            nbytes = n * item
            if nbytes > off_size:  # stored outside the IFD
                if value + nbytes > size:
                    return None
                ranges.append((value, nbytes))
        offset = struct.unpack(order + off_fmt, ifd[-off_size:])[0]
    merged = _merge(ranges)
    if sum(n for _, n in merged) > MAX_STRUCTURE_BYTES:
        return None
    return merged


def _merge(ranges: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    out: list[list[int]] = []
    for start, length in sorted(ranges):
        if out and start <= out[-1][0] + out[-1][1]:
            out[-1][1] = max(out[-1][1], start + length - out[-1][0])
        else:
            out.append([start, length])
    return tuple((a, n) for a, n in out)


def _reader(fd: int) -> Any:
    return lambda offset, length: os.pread(fd, length, offset)


def _bytes_at(fd: int, ranges: Sequence[tuple[int, int]]) -> bytes:
    end = ranges[-1][0] + ranges[-1][1]
    if end <= ONE_READ:
        data = os.pread(fd, end, 0)
        return b"".join(data[a : a + n] for a, n in ranges)
    return b"".join(os.pread(fd, n, a) for a, n in ranges)


@attrs.frozen(eq=False)
class Template:
    """A parsed file's structure bytes and the recipes of its stacks."""

    size: int
    ranges: tuple[tuple[int, int], ...]
    content: bytes
    #: Each stack's recipe, with the template's store whose offsets every file laid out the same shares.
    recipes: tuple[tuple[StackRecipe, MemmapStore | PlaneStore], ...]

    def matches(self, fd: int, size: int) -> bool:
        return size == self.size and _bytes_at(fd, self.ranges) == self.content

    def build(self, path: Path, key: FileKey) -> list[ImageStack]:
        return [recipe.build(path, _store_for(store, key)) for recipe, store in self.recipes]


def _store_for(store: Any, key: FileKey) -> MemmapStore | PlaneStore:
    """The template's store, reading `key`'s file instead."""
    if isinstance(store, MemmapStore):
        return MemmapStore(key, store.offset, store.shape, store.file_dtype)
    planes = [attrs.evolve(p, file=key) if p is not None else None for p in store.planes]
    return PlaneStore(planes, store.outer_shape, store.exposed, store.dtype, store.shaped, fixed=store.fixed)


class Templates:
    """Parsed layouts, most recently used first, at most `limit`; safe from several threads."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: list[tuple[Any, Template]] = []
        self._lock = threading.Lock()

    def match(self, context: Any, fd: int, size: int) -> Template | None:
        with self._lock:
            candidates = [t for c, t in self._items if c == context and t.size == size]
        for template in candidates:
            if template.matches(fd, size):
                with self._lock:
                    self._items.sort(key=lambda item: item[1] is not template)
                return template
        return None

    def full(self) -> bool:
        return len(self._items) >= self.limit

    def add(self, context: Any, template: Template) -> None:
        with self._lock:
            self._items.insert(0, (context, template))
            del self._items[self.limit :]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


#: The layouts of single files loaded recently in this process.
RECENT = Templates(MAX_RECENT)


def _context(axes: str | None, options: dict[str, Any]) -> tuple[Any, ...]:
    """What besides the bytes shapes the stacks (the axes given, the options): templates apply within one."""
    return (axes, tuple(sorted((k, repr(v)) for k, v in options.items())))


class SharedLayouts:
    """Loads plain TIFF files, parsing in full only files unlike any parsed before (a folder's, or `RECENT`)."""

    def __init__(self, axes: str | None, options: dict[str, Any], templates: Templates | None = None) -> None:
        self.axes = axes
        self.options = options
        self.templates = Templates(MAX_TEMPLATES) if templates is None else templates
        self.context = _context(axes, options)
        #: How many files were parsed in full, and how many were taken from a template (for tests).
        self.parsed = 0
        self.shared = 0

    def load(self, path: Path, covered: set[str] | None, real: str | None = None) -> list[ImageStack]:
        """The stacks of `path`, as `load_file(path, covered=covered)` gives them (None: a file loaded alone).

        `real`: `os.path.realpath(path)`, where the caller knows it already.
        """
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not block here
        except OSError:
            return self._parse(path, covered)  # the full parse reports it with its usual message
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                os.close(fd)
                fd = -1
                return self._parse(path, covered)  # refused there, naming what it is
            if st.st_size == 0:
                raise ReadError(
                    f"{path}: the file is empty (0 bytes); it may not have been written completely", source=str(path)
                )
            template = self.templates.match(self.context, fd, st.st_size)
            if template is not None:
                self.shared += 1
                if covered is not None:
                    covered.add(os.path.realpath(path) if real is None else real)
                key = FileKey(os.path.abspath(path), st.st_size, st.st_mtime_ns)  # as `FileKey.of` names it
                return template.build(path.absolute(), key)
            found = structure(_reader(fd), st.st_size) if covered is None or not self.templates.full() else None
            content = _bytes_at(fd, found) if found else b""
        finally:
            if fd != -1:
                os.close(fd)
        recipes: list[tuple[StackRecipe, MemmapStore | PlaneStore]] = []
        stacks = self._parse(path, covered, recipes)
        if found and recipes and len(recipes) == len(stacks):
            self.templates.add(self.context, Template(st.st_size, found, content, tuple(recipes)))
        return stacks

    def _parse(
        self,
        path: Path,
        covered: set[str] | None,
        recipes: list[tuple[StackRecipe, MemmapStore | PlaneStore]] | None = None,
    ) -> list[ImageStack]:
        self.parsed += 1
        return load_file(path, self.axes, self.options, index=None, covered=covered, recipes=recipes)


def load_single(path: Path, axes: str | None, options: dict[str, Any]) -> list[ImageStack]:
    """`load_file(path, axes, options, index=None)`, without a parse when a recent file had this layout."""
    return SharedLayouts(axes, options, RECENT).load(path, None)
