"""Opening TIFF files with tifffile and listing the images they hold.

An image is a tifffile series (an OME Image, an ImageJ hyperstack, a page
series), or one position of a Micro-Manager stack. Each image knows the file
that holds its first plane (its owner): a file of a multi-file set returns
only the images it owns unless one is asked for by index, so that no set is
read twice (see README, "Multi-file sets").
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
from stackio import ReadError, StackioError
from stackio.files import confined, open_regular, require_regular
from stackio.forksafe import track_library
from stackio.memory import ensure_segment_fits

from . import MAGIC
from .files import FileKey
from .pages import Codec, MemmapStore, Plane, PlaneStore
from .tiles import Direct

COMPANION_SUFFIX = ".companion.ome"

track_library("tifffile")  # its series and pages are cached properties


@attrs.define(eq=False)
class Image:
    """One image of a file: a series, or one position of a Micro-Manager stack."""

    #: Index in the file's image list (what `file@N` and `series=N` select).
    index: int
    name: str
    #: tifffile's series kind: 'ome', 'imagej', 'shaped', 'mmstack', 'generic', ...
    kind: str
    #: tifffile's axis letters and shape, as the image is exposed.
    axes: str
    shape: tuple[int, ...]
    dtype: np.dtype
    series: Any
    #: Micro-Manager position this image is, or None.
    position: int | None = None
    #: Number of pyramid levels.
    levels: int = 1
    #: Whether tifffile guessed `axes` (no axis metadata: 'shaped' without axes, 'generic', 'uniform').
    guessed: bool = False


@attrs.frozen
class Opened:
    """A file opened with tifffile, and its images."""

    path: Path
    tif: Any
    images: list[Image]
    #: The external OME-XML used (companion file), or None.
    companion: Path | None = None

    def close(self) -> None:
        self.tif.close()


# -- opening -----------------------------------------------------------------------------


def read_error(path: Path | str, exc: BaseException, what: str = "could not be read as TIFF") -> ReadError:
    return ReadError(
        f"{path}: {what} ({type(exc).__name__}: {exc}); check that the file is a complete TIFF "
        "(a truncated or corrupt file cannot be read)",
        source=str(path),
    )


def companion_of(path: Path, xml: str | None) -> Path | None:
    """The companion metadata file a 'BinaryOnly' OME-TIFF points to, if it says so."""
    if not xml or "BinaryOnly" not in xml:
        return None
    import xml.etree.ElementTree as ET  # imported by OME files only

    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    for element in root:
        if element.tag.endswith("BinaryOnly") and element.attrib.get("MetadataFile"):
            name = element.attrib["MetadataFile"]
            return confined(path.parent, name, source=path, what="the BinaryOnly MetadataFile", container=_OWN)
    return None


def _companion_first_file(companion: Path, xml: str) -> Path:
    import xml.etree.ElementTree as ET  # imported by OME files only

    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise read_error(companion, exc, "is not valid OME-XML") from exc
    for element in root.iter():
        if element.tag.endswith("UUID") and element.attrib.get("FileName"):
            name = element.attrib["FileName"]
            return confined(companion.parent, name, source=companion, what="the UUID FileName", container=_OWN)
    raise ReadError(
        f"{companion}: the companion OME-XML names no TIFF file (no TiffData/UUID FileName); "
        "it describes no image stackio can read",
        source=str(companion),
    )


def open_file(path: Path, *, allow_missing: bool = False) -> Opened:
    """Open a TIFF (or an OME companion file) and list its images; errors name the file."""
    import tifffile

    companion: Path | None = None
    xml: str | None = None
    tiff_path = path
    if path.name.lower().endswith(COMPANION_SUFFIX):
        companion = path
        xml = path.read_text(encoding="utf-8", errors="replace")
        tiff_path = _companion_first_file(path, xml)
        if not tiff_path.is_file():
            raise ReadError(
                f"{path}: the companion file's first image file {tiff_path.name} is missing; "
                "keep the companion next to all the TIFF files it lists",
                source=str(path),
            )
    with open_regular(tiff_path) as f:  # a FIFO in its place must not block
        head = f.read(4)
    if head not in MAGIC:
        raise ReadError(
            f"{tiff_path}: is not a TIFF file: it starts with {head!r}, not a TIFF header (II*\\0 or MM\\0*, "
            "BigTIFF II+\\0 or MM\\0+)"
            + (" (the file is empty)" if not head else "")
            + "; is it another format with a .tif name, or a file that was not written?",
            source=str(tiff_path),
        )
    with _TiffWarnings() as warnings:
        try:
            tif = tifffile.TiffFile(tiff_path, omexml=xml)
        except Exception as exc:
            raise read_error(tiff_path, exc) from exc
    _refuse_corrupt(tif, tiff_path, warnings)
    try:
        if companion is None and tif.is_ome:
            linked = companion_of(path, tif.ome_metadata)
            if linked is not None and linked.is_file():
                xml = linked.read_text(encoding="utf-8", errors="replace")
                tif.close()
                tif = tifffile.TiffFile(tiff_path, omexml=xml)
                companion = linked
        check_linked_files(tif, tiff_path, xml)
        with _TiffWarnings() as warnings:
            images = list_images(tif, path)
        _refuse_corrupt(tif, tiff_path, warnings)
        if not allow_missing:
            _refuse_partial(tif, tiff_path, warnings)
    except StackioError:
        tif.close()
        raise
    except Exception as exc:
        tif.close()
        raise read_error(path, exc) from exc
    if not images:
        tif.close()
        raise ReadError(f"{path}: the TIFF holds no image (no readable page)", source=str(path))
    return Opened(path, tif, images, companion)


def check_linked_files(tif: Any, path: Path, xml: str | None) -> None:
    """The other files tifffile opens for `path` (an OME multi-file set's `UUID FileName`s, a
    Micro-Manager stack's `_MMStack` files) are inside its folder and regular files: never a file
    elsewhere, never a FIFO that would block."""
    folder = path.parent
    names: list[str] = []
    xml = xml if xml is not None else (tif.ome_metadata if tif.is_ome else None)
    if xml and "FileName" in xml:  # (a single-file OME-TIFF mostly names no file: no second parse)
        import xml.etree.ElementTree as ET  # imported by OME files only

        try:
            root = ET.fromstring(xml)
        except ET.ParseError:
            root = None  # tifffile then reads no multi-file series either
        if root is not None:
            found = (e.attrib.get("FileName") for e in root.iter() if e.tag.endswith("UUID"))
            names += [n for n in dict.fromkeys(found) if n and n.lower() != path.name.lower()]
    if "_MMStack" in path.name:  # tifffile reads every <prefix>_MMStack*.tif beside it
        names += [p.name for p in folder.glob("*_MMStack*.tif") if p.name != path.name]
    for name in names:
        linked = confined(folder, name, source=path, what="the UUID FileName", container=_OWN)
        try:
            require_regular(linked, source=path, what="the file of its multi-file set")
        except OSError:
            continue  # a missing file of the set is reported with the planes it holds


#: Where a file name a TIFF records must stay.
_OWN = "the TIFF's folder"

#: tifffile warnings that mean the file's structure is broken (a pointer past the end of the file).
_CORRUPT = ("invalid page offset", "invalid tag offset", "invalid offset to first page")


class _TiffWarnings(logging.Handler):
    """Collects what tifffile logs on this thread while a file is opened."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(record.getMessage())

    def __enter__(self) -> list[str]:
        logging.getLogger("tifffile").addHandler(self)
        return self.messages

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("tifffile").removeHandler(self)


def _refuse_corrupt(tif: Any, path: Path, messages: list[str]) -> None:
    bad = [m for m in messages if any(c in m for c in _CORRUPT)]
    if bad:
        tif.close()
        raise ReadError(
            f"{path}: the file is truncated or corrupt: {bad[0].split('> ', 1)[-1]} (the file has "
            f"{os.path.getsize(path)} bytes); it was probably not written completely",
            source=str(path),
        )


def _refuse_partial(tif: Any, path: Path, messages: list[str]) -> None:
    if any("MMStack series is missing files" in m for m in messages):
        tif.close()
        raise ReadError(
            f"{path}: this Micro-Manager stack continues in other files ({path.name.split('_MMStack')[0]}"
            "_MMStack*.tif) that are missing or renamed, so tifffile can read only part of it. Keep the "
            "dataset's files together with their names, or pass allow_missing=True to read the part "
            "this file holds",
            source=str(path),
        )


def list_images(tif: Any, path: Path) -> list[Image]:
    series = tif.series
    images: list[Image] = []
    for s in series:
        if s.kind == "mmstack":
            images += _positions(s, start=len(images))
            continue
        images.append(
            Image(
                len(images),
                s.name or "",
                s.kind,
                s.axes,
                tuple(s.shape),
                np.dtype(s.dtype),
                s,
                levels=len(s.levels),
                guessed=axes_guessed(s),
            )
        )
    return images


def axes_guessed(series: Any) -> bool:
    """Whether tifffile guessed the series' axes: no OME/ImageJ/... metadata and no shaped "axes"."""
    if series.kind in ("generic", "uniform"):
        return True
    if series.kind != "shaped":
        return False
    try:
        described = json.loads(series.keyframe.shaped_description or "{}")
    except (ValueError, TypeError):
        return True
    axes = described.get("axes") if isinstance(described, dict) else None
    return axes != series.axes  # tifffile falls back to its guess when the declared axes do not fit


def _positions(series: Any, start: int) -> list[Image]:
    axes, shape = series.get_axes(False), series.get_shape(False)
    if "R" not in axes or shape[axes.index("R")] == 1:
        return [
            Image(start, series.name or "", "mmstack", series.axes, tuple(series.shape), np.dtype(series.dtype), series)
        ]
    r = axes.index("R")
    kept = [i for i, n in enumerate(shape) if i != r and (n > 1 or axes[i] in "YX")]
    sub_axes = "".join(axes[i] for i in kept)
    sub_shape = tuple(shape[i] for i in kept)
    return [
        Image(start + p, f"Pos{p}", "mmstack", sub_axes, sub_shape, np.dtype(series.dtype), series, position=p)
        for p in range(shape[r])
    ]


# -- planes and stores -------------------------------------------------------------------


def _codec(keyframe: Any) -> Codec:
    decode = keyframe.decode
    if keyframe.is_tiled:
        segment = (keyframe.tiledepth, keyframe.tilelength, keyframe.tilewidth)
    else:
        segment = (
            1,
            max(1, min(keyframe.rowsperstrip or keyframe.imagelength, keyframe.imagelength)),
            keyframe.imagewidth,
        )
    raw = None
    stored = getattr(keyframe, "_dtype", None)
    if (
        keyframe.is_final
        and stored is not None
        and keyframe.dtype is not None
        and np.dtype(stored) == np.dtype(keyframe.dtype)
        and keyframe.bitspersample == np.dtype(stored).itemsize * 8
    ):
        raw = np.dtype(stored).newbyteorder(keyframe.parent.byteorder)
    nodata = keyframe.nodata if keyframe.nodata is not None else 0
    direct = Direct.of(keyframe) if raw is None else None
    return Codec(
        decode, tuple(keyframe.shaped), bool(keyframe.is_tiled), segment, raw, nodata, keyframe.jpegheader, direct
    )


def page_file(page: Any) -> str:
    return str(page.parent.filehandle.path)


def _split(shape: Sequence[int], shaped: Sequence[int]) -> tuple[int, list[int]] | None:
    """Where the page dimensions start in `shape`, and which normalized page dimension each is."""
    size = math.prod(shaped)
    product = 1
    split = None
    for i in range(len(shape) - 1, -1, -1):
        product *= shape[i]
        if product == size:
            split = i
            break
    if split is None:
        return None
    mapping: list[int] = []
    j = 0
    for n in shape[split:]:
        while j < 5 and shaped[j] != n and shaped[j] == 1:
            j += 1
        if j == 5 or shaped[j] != n:
            return None
        mapping.append(j)
        j += 1
    used = set(mapping)
    if any(shaped[k] != 1 for k in range(5) if k not in used):
        return None
    return split, mapping


@attrs.frozen
class PlaneSet:
    """The planes of one series (possibly across files; None where a plane is missing)."""

    planes: list[Plane | None]


def collect_planes(series: Any, codecs: dict[int, Codec] | None = None) -> PlaneSet:
    codecs = {} if codecs is None else codecs
    keys: dict[str, FileKey] = {}
    planes: list[Plane | None] = []
    for page in series:
        if page is None:
            planes.append(None)
            continue
        keyframe = page.keyframe
        codec = codecs.get(id(keyframe))
        if codec is None:
            codec = codecs[id(keyframe)] = _codec(keyframe)
        path = page_file(page)
        key = keys.get(path)
        if key is None:
            key = keys[path] = FileKey.of(path)
        tables = getattr(page, "jpegtables", None) or getattr(keyframe, "jpegtables", None)
        planes.append(Plane(key, tuple(page.dataoffsets), tuple(page.databytecounts), codec, tables))
    return PlaneSet(planes)


def image_owner(image: Image) -> str:
    """The file holding the image's first plane (its owner); "" when that plane is missing."""
    series = image.series
    index = 0
    if image.position is not None:
        axes, shape = series.get_axes(False), series.get_shape(False)
        split = _split(shape, series.keyframe.shaped)
        if split is None:
            return ""
        outer = [0] * split[0]
        outer[axes.index("R")] = image.position
        index = int(np.ravel_multi_index(outer, shape[: split[0]]))
    page = series[index]
    return page_file(page) if page is not None else ""


def is_contiguous(series: Any, path: Path) -> int | None:
    """The offset of the series' raw, contiguous data in `path`, or None."""
    if getattr(series, "is_multifile", False):
        return None
    keyframe = series.keyframe
    try:
        offset = series.dataoffset
    except Exception:
        return None
    if offset is None or not keyframe.is_memmappable or keyframe.dtype is None:
        return None
    if page_file(keyframe) != str(path) and os.path.realpath(page_file(keyframe)) != os.path.realpath(path):
        return None
    return int(offset)


def make_store(
    image: Image, level: int, path: Path, cache: dict[int, PlaneSet] | None = None
) -> MemmapStore | PlaneStore | WholeSeriesStore:
    """The array-like that reads `image` at pyramid `level`, checked against the file sizes.

    `cache` keeps the planes of series already collected (the positions of one Micro-Manager
    stack share a series).
    """
    series = image.series.levels[level] if level else image.series
    keyframe = series.keyframe
    if image.position is None:
        offset = is_contiguous(series, Path(page_file(keyframe)))
        if offset is not None:
            file = FileKey.of(page_file(keyframe))
            raw = np.dtype(keyframe._dtype).newbyteorder(keyframe.parent.byteorder)
            shape = tuple(series.shape)
            end = offset + math.prod(shape) * raw.itemsize
            if end > file.size:
                raise ReadError(
                    f"{path}: the file is truncated: its image data should end at byte {end} but the "
                    f"file has {file.size} bytes; the file was not written completely",
                    source=str(path),
                )
            return MemmapStore(file, offset, shape, raw)
    cache = {} if cache is None else cache
    planes = cache.get(id(series))
    if planes is None:
        planes = cache[id(series)] = collect_planes(series)
        check_truncation(planes, path)
    if image.position is None:
        shape, fixed = tuple(series.shape), {}
        split = _split(shape, keyframe.shaped)
        if split is None or math.prod(shape[: split[0]]) != len(planes.planes):
            return _whole_series_store(image, level, path)
        exposed = [("outer", k) for k in range(split[0])] + [("page", j) for j in split[1]]
        outer = shape[: split[0]]
    else:
        axes, shape = series.get_axes(False), series.get_shape(False)
        split = _split(shape, keyframe.shaped)
        if split is None:
            raise ReadError(
                f"{path}: cannot map the Micro-Manager stack's pages onto its axes {axes}", source=str(path)
            )
        outer = shape[: split[0]]
        r = axes.index("R")
        fixed = {r: image.position}
        exposed = [("outer", k) for k in range(split[0]) if k != r and outer[k] > 1]
        exposed += [
            ("page", j)
            for k, j in zip(range(split[0], len(shape)), split[1], strict=True)
            if shape[k] > 1 or axes[k] in "YX"
        ]
    return PlaneStore(planes.planes, outer, exposed, series.dtype, tuple(keyframe.shaped), fixed=fixed)


def check_truncation(planes: PlaneSet, path: Path) -> None:
    sizes: dict[str, int] = {}
    for i, plane in enumerate(planes.planes):
        if plane is None:
            continue
        size = sizes.setdefault(plane.file.path, plane.file.size)
        if plane.codec.raw_dtype is not None:
            end = plane.offsets[0] + math.prod(plane.codec.shaped) * plane.codec.raw_dtype.itemsize
        else:
            ends = np.asarray(plane.offsets, dtype=np.int64) + np.asarray(plane.counts, dtype=np.int64)
            end = int(ends.max()) if ends.size else 0
        if end > size:
            where = "" if plane.file.path == str(path) else f" (in {Path(plane.file.path).name})"
            raise ReadError(
                f"{path}: the file is truncated: page {i}{where} needs bytes up to {end} but the file "
                f"has {size} bytes; the file was not written completely",
                source=str(path),
            )


class WholeSeriesStore:
    """Fallback for series whose pages do not map onto their axes: tifffile reads it whole, once."""

    def __init__(self, path: str, index: int, level: int, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.path, self.index, self.level = path, index, level
        self.shape, self.dtype, self.ndim = shape, np.dtype(dtype).newbyteorder("="), len(shape)
        self._data: np.ndarray | None = None
        import threading

        self._lock = threading.Lock()

    def __getitem__(self, key: Any) -> np.ndarray:
        with self._lock:
            if self._data is None:
                ensure_segment_fits(
                    math.prod(self.shape) * self.dtype.itemsize,
                    self.path,
                    f"image {self.index} (its pages are read whole: they do not map onto its axes)",
                    "re-save it as one page per plane, e.g. with stackio.save or tifffile.imwrite",
                )
                opened = open_file(Path(self.path))
                try:
                    series = opened.images[self.index].series
                    series = series.levels[self.level] if self.level else series
                    self._data = np.asarray(series.asarray(), dtype=self.dtype).reshape(self.shape)
                finally:
                    opened.close()
        return self._data[key]

    def close(self) -> None:
        self._data = None


def _whole_series_store(image: Image, level: int, path: Path) -> WholeSeriesStore:
    series = image.series.levels[level] if level else image.series
    return WholeSeriesStore(str(path), image.index, level, tuple(series.shape), series.dtype)
