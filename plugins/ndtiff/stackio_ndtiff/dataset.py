"""From an NDTiff folder and the user's axes and options to a `Plan` and stack layout.

Axis rules (documented in the plugin README): `channel` -> C, `z` -> Z, `time` -> T;
every other axis is merged into S, outer first: row, column (tiles, when not
stitched), position, time (unless T is the depth axis), the other axes by name,
z (unless Z is the depth axis). Values along an axis are in sorted order.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import numpy as np
from stackio import AxesError, Layout, Metadata, ReadError, ValidationError
from stackio.files import confined, require_regular
from stackio.openfiles import FileKey

from .image_meta import ImageIndex, image_index
from .index import (
    FULL_RESOLUTION,
    INDEX_NAME,
    PIXEL_TYPES,
    Index,
    IndexEntry,
    IndexFormatError,
    StackHeader,
    read_image_metadata,
    read_index,
    read_stack_header,
)
from .planes import Mosaic, Plan, new_table

TARGET_AXES = ("SCYX", "SCZYX", "SCTYX")
ROW, COLUMN, POSITION, TIME, CHANNEL, Z = "row", "column", "position", "time", "channel", "z"
_FIXED_LETTERS = {POSITION: "P", TIME: "T", Z: "Z", ROW: "R", COLUMN: "Q", CHANNEL: "C"}
_FREE_LETTERS = "ABDEFGHIJKLMNOUVW"
_DOWNSAMPLED = re.compile(r"^Downsampled_x(\d+)$")


class PartialIndexWarning(UserWarning):
    """The index ends in a partly written entry (an acquisition still running); it was skipped."""


class UnindexedImagesWarning(PartialIndexWarning):
    """The stack files hold images after the last one the index lists (an index cut short, or an
    acquisition still writing); those images are not loaded."""


# -- options ----------------------------------------------------------------------------


@attrs.frozen
class Options:
    """The load options of the ndtiff format, checked."""

    select: dict[str, Any] = attrs.field(factory=dict)
    stitched: bool | None = None
    level: int = 0


def check_axes(name: str, axes: str | None) -> None:
    if axes is not None and axes not in TARGET_AXES:
        raise AxesError(
            f"{name}: axes {axes!r} is not a layout an NDTiff dataset loads into; pass one of "
            f"{', '.join(TARGET_AXES)} (or None: SCZYX when the dataset has a z axis of size > 1, "
            "else SCYX). Dataset axes other than channel and the depth axis are merged into S.",
            source=name,
        )


def check_options(name: str, options: Mapping[str, Any]) -> Options:
    select = options.get("select")
    if select is None:
        select = {}
    if not isinstance(select, Mapping) or not all(isinstance(k, str) for k in select):
        raise ValidationError(
            f"{name}: select must map NDTiff axis names to values, e.g. select={{'time': 2, "
            f"'channel': 'DAPI'}}, not {select!r}",
            source=name,
        )
    for axis, value in select.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        if not values or not all(isinstance(v, (int, str)) and not isinstance(v, bool) for v in values):
            raise ValidationError(
                f"{name}: select[{axis!r}] must be an int or str axis value, or a non-empty list of them, "
                f"not {value!r}",
                source=name,
            )
        if isinstance(value, (list, tuple)) and len(set(values)) != len(values):
            raise ValidationError(f"{name}: select[{axis!r}] repeats a value: {value!r}", source=name)
    # the types and ranges of stitched and level are declared (stackio_ndtiff.OPTIONS) and checked by the core
    return Options(dict(select), options.get("stitched"), options.get("level") or 0)


# -- folders ----------------------------------------------------------------------------


def resolution_folders(root: Path, name: str) -> dict[int, Path]:
    """Level -> folder holding that level's NDTiff.index (0 is full resolution)."""
    full = root / FULL_RESOLUTION
    if (full / INDEX_NAME).is_file():
        levels = {0: full}
        for child in root.iterdir():
            match = _DOWNSAMPLED.match(child.name)
            if match and (child / INDEX_NAME).is_file():
                factor = int(match[1])
                if factor > 1 and factor & (factor - 1) == 0:
                    levels[factor.bit_length() - 1] = child
        return dict(sorted(levels.items()))
    if (root / INDEX_NAME).is_file():
        return {0: root}
    if full.is_dir():
        raise ReadError(
            f"{name}: the '{FULL_RESOLUTION}' folder has no {INDEX_NAME}; this looks like an NDTiff v1 "
            "dataset (before the index file), which stackio does not read. Open it with ndstorage, or "
            "re-save it with a current Micro-Manager.",
            source=name,
        )
    raise ReadError(
        f"{name}: no {INDEX_NAME} in this folder (nor in '{FULL_RESOLUTION}/'); an NDTiff dataset is the "
        f"folder that holds {INDEX_NAME} and its *_NDTiffStack.tif files. Pass that folder, not a stack "
        "file or a parent folder.",
        source=name,
    )


def load_index(folder: Path, name: str) -> Index:
    nested = folder.name == FULL_RESOLUTION or _DOWNSAMPLED.match(folder.name)
    where = f"{name} ({folder.name})" if nested else name
    try:
        index = read_index(folder)
    except OSError as exc:
        raise ReadError(f"{where}: cannot read {INDEX_NAME} ({exc})", source=name) from exc
    except IndexFormatError as exc:
        raise ReadError(
            f"{where}: {INDEX_NAME} is corrupt: {exc}; the dataset cannot be read reliably",
            source=name,
        ) from exc
    check_stack_files(folder, index, where)
    if not index.entries:
        raise ReadError(
            f"{where}: {INDEX_NAME} holds no complete image entry ({index.size} bytes); the index is "
            "truncated or empty, or the acquisition has not written its first image yet",
            source=name,
        )
    if index.partial_bytes:
        warnings.warn(
            f"{where}: {INDEX_NAME} ends in a partly written entry ({index.partial_bytes} bytes); it was "
            f"skipped and the {len(index.entries)} complete image(s) are loaded. The acquisition may "
            "still be running.",
            PartialIndexWarning,
            stacklevel=4,
        )
    else:  # (a partly written entry already says that images are missing)
        _warn_unindexed(folder, index, where)
    return index


def check_stack_files(folder: Path, index: Index, where: str) -> None:
    """Every stack file the index names is inside the dataset's folder and, where present, a regular
    file: `../x` or `/etc/passwd` is never read as pixels, a FIFO never blocks the load."""
    for filename in dict.fromkeys(e.filename for e in index.entries):
        path = confined(folder, filename, source=where, what=f"the {INDEX_NAME} entry", container="the dataset folder")
        try:
            require_regular(path, source=where, what="the stack file")
        except OSError:
            continue  # a missing or unreadable file is reported where it is read, with what it holds


_STACK_FILE = re.compile(r"(^|_)NDTiffStack(_\d+)?\.tiff?$", re.IGNORECASE)
#: Most entries a TIFF image directory may plausibly have (NDTiff writers write 13).
_MAX_IFD_ENTRIES = 4096


def _entry_end(entry: IndexEntry) -> int:
    """Where an image's bytes (pixels, then its metadata) end in its stack file."""
    kind = PIXEL_TYPES.get(entry.pixel_type)
    pixels = entry.width * entry.height * kind[1] * np.dtype(kind[0]).itemsize if kind else 0
    return max(entry.pixel_offset + pixels, entry.metadata_offset + entry.metadata_length)


def _warn_unindexed(folder: Path, index: Index, where: str) -> None:
    """Warn when the stack files go on past the last image the index lists.

    NDTiff writers put each image's directory right after the previous image's metadata and cut the
    file there when they finish, so a directory after the last indexed image is an image the index
    lost. (A file preallocated by a running acquisition holds zeros there, which is no directory.)
    A stack file the index never names holds lost images too.
    """
    ends: dict[str, int] = {}
    for entry in index.entries:
        ends[entry.filename] = max(ends.get(entry.filename, 0), _entry_end(entry))
    found: list[str] = []
    for filename, end in ends.items():
        position = end + (end & 1)  # the next directory starts on a word boundary
        try:
            with open(folder / filename, "rb") as f:
                f.seek(position)
                head = f.read(2)
        except (OSError, ValueError, OverflowError):
            continue  # a missing or unreadable file is reported when it is read
        if len(head) == 2 and 0 < int.from_bytes(head, "little") <= _MAX_IFD_ENTRIES:
            found.append(f"{filename!r} goes on past its last indexed image (an image directory at byte {position})")
    try:
        unnamed = sorted(p.name for p in folder.iterdir() if _STACK_FILE.search(p.name) and p.name not in ends)
    except OSError:
        unnamed = []
    found += [f"{n!r} is not named by the index" for n in unnamed]
    if found:
        warnings.warn(
            f"{where}: the stack files hold images that {INDEX_NAME} does not list: {'; '.join(found)}. "
            f"The {len(index.entries)} indexed image(s) are loaded; the others are left out (a place they "
            "would fill in the stack reads as zeros). The index is cut short, or the acquisition is still "
            "writing.",
            UnindexedImagesWarning,
            stacklevel=5,
        )


def load_header(folder: Path, entry: IndexEntry, name: str) -> StackHeader:
    try:
        return read_stack_header(folder / entry.filename)
    except FileNotFoundError as exc:
        raise ReadError(
            f"{name}: the stack file {entry.filename!r} that {INDEX_NAME} refers to is missing from "
            f"{folder.name!r}; the dataset is incomplete",
            source=name,
        ) from exc
    except (OSError, ValueError) as exc:
        raise ReadError(f"{name}: cannot read the stack file {entry.filename!r}: {exc}", source=name) from exc


# -- axes -------------------------------------------------------------------------------


def _sort_key(value: Any) -> tuple[int, Any]:
    return (1, value) if isinstance(value, str) else (0, value)


def axis_values(entries: Sequence[IndexEntry]) -> dict[str, list[Any]]:
    seen: dict[str, set[Any]] = {}
    for entry in entries:
        for axis, value in entry.axes.items():
            seen.setdefault(axis, set()).add(value)
    return {axis: sorted(values, key=_sort_key) for axis, values in seen.items()}


def sample_order(names: Sequence[str], *, stitched: bool, depth: str | None) -> list[str]:
    """Dataset axes merged into S, outer first."""
    order = [] if stitched else [ROW, COLUMN]
    order += [POSITION] + ([TIME] if depth != TIME else [])
    standard = {ROW, COLUMN, POSITION, TIME, CHANNEL, Z}
    order += sorted(n for n in names if n not in standard)
    order += [Z] if depth != Z else []
    return [n for n in order if n in names]


def channel_names(
    folder: Path, entries: Sequence[IndexEntry], values: list[Any], summary: Mapping[str, Any]
) -> list[str] | None:
    """Names of the channel axis values: the values themselves when strings, else from metadata."""
    if all(isinstance(v, str) for v in values):
        return [str(v) for v in values]
    names = summary.get("ChNames")
    if isinstance(names, list) and all(isinstance(v, int) and 0 <= v < len(names) for v in values):
        found = [str(names[v]) for v in values]
    else:
        first: dict[Any, IndexEntry] = {}
        for entry in entries:
            first.setdefault(entry.axes.get(CHANNEL), entry)
        found = []
        for value in values:
            try:
                found.append(str(read_image_metadata(folder, first[value])["Channel"]))
            except (OSError, ValueError, KeyError, TypeError):
                return None
    return found if any(found) else None


# -- the plan ---------------------------------------------------------------------------


@attrs.frozen
class Loaded:
    """What `build` returns: the plan for the reader, and the stack's layout and metadata."""

    plan: Plan
    layout: Layout
    metadata: Metadata
    chunks: tuple[int, ...] | None
    #: Where each image's own metadata is (read only when asked).
    images: ImageIndex | None = None


def _pick(name: str, axis: str, wanted: Any, values: list[Any], names: list[str] | None) -> list[Any]:
    chosen = []
    for value in wanted if isinstance(wanted, (list, tuple)) else [wanted]:
        if value in values and type(value) is type(values[values.index(value)]):
            chosen.append(value)
        elif axis == CHANNEL and names is not None and isinstance(value, str) and value in names:
            chosen.append(values[names.index(value)])
        else:
            shown = ", ".join(repr(v) for v in values)
            extra = f" (channel names: {', '.join(names)})" if axis == CHANNEL and names else ""
            raise ValidationError(
                f"{name}: select[{axis!r}] = {value!r} is not a value of that axis; it has {shown}{extra}",
                source=name,
            )
    return chosen


def _check_files(folder: Path, entries: Sequence[IndexEntry], name: str, image_bytes: int) -> tuple[str, ...]:
    ends: dict[str, int] = {}
    for entry in entries:
        ends[entry.filename] = max(ends.get(entry.filename, 0), entry.pixel_offset + image_bytes)
    for filename, end in ends.items():
        path = folder / filename
        try:
            size = path.stat().st_size
        except FileNotFoundError as exc:
            raise ReadError(
                f"{name}: the stack file {filename!r} that {INDEX_NAME} refers to is missing from "
                f"{str(folder)!r}; the dataset is incomplete",
                source=name,
            ) from exc
        if size < end:
            raise ReadError(
                f"{name}: the stack file {filename!r} is {size} bytes but {INDEX_NAME} places pixels up "
                f"to byte {end}; the file is truncated",
                source=name,
            )
    return tuple(ends)


def _image_format(entries: Sequence[IndexEntry], name: str) -> tuple[int, int, str, int]:
    sizes = {(e.height, e.width) for e in entries}
    if len(sizes) > 1:
        shown = ", ".join(f"{h}x{w}" for h, w in sorted(sizes))
        raise ReadError(
            f"{name}: its images have different sizes ({shown}); stackio stacks images of one size. "
            "Select part of the dataset with select={...} to load images of one size",
            source=name,
        )
    bad = sorted({e.pixel_type for e in entries if e.pixel_type not in PIXEL_TYPES})
    if bad:
        raise ReadError(f"{name}: unknown NDTiff pixel type(s) {bad}; known: {sorted(PIXEL_TYPES)}", source=name)
    kinds = {PIXEL_TYPES[e.pixel_type] for e in entries}
    if len(kinds) > 1:
        raise ReadError(f"{name}: its images mix pixel types {sorted(kinds)}; stackio needs one", source=name)
    if any(e.pixel_compression != 0 for e in entries):
        raise ReadError(f"{name}: compressed NDTiff pixels are not supported (only uncompressed)", source=name)
    (height, width), (dtype, spp) = sizes.pop(), kinds.pop()
    return height, width, dtype, spp


def _overlap(summary: Mapping[str, Any]) -> tuple[int, int] | None:
    y, x = summary.get("GridPixelOverlapY"), summary.get("GridPixelOverlapX")
    if isinstance(y, (int, float)) and isinstance(x, (int, float)):
        return int(y), int(x)
    return None


def _apply_select(
    name: str, select: Mapping[str, Any], values: dict[str, list[Any]], stitched: bool, ch_names: list[str] | None
) -> tuple[dict[str, Any], list[str] | None]:
    """Narrow `values` in place: a scalar fixes an axis (returned, and gone from `values`), a list
    keeps those values in the order given. Returns the fixed axes and the remaining channel names."""
    fixed: dict[str, Any] = {}
    names_all = sorted(values)
    for axis, wanted in select.items():
        if axis not in values:
            raise ValidationError(
                f"{name}: select names the axis {axis!r}, which the dataset does not have; its axes are "
                f"{', '.join(names_all)}",
                source=name,
            )
        if stitched and axis in (ROW, COLUMN):
            raise ValidationError(
                f"{name}: select[{axis!r}] picks tiles, but the tiles are stitched into one plane; pass "
                "stitched=False to select tiles",
                source=name,
            )
        chosen = _pick(name, axis, wanted, values[axis], ch_names if axis == CHANNEL else None)
        if axis == CHANNEL and ch_names is not None:
            ch_names = [ch_names[values[axis].index(v)] for v in chosen]
        if isinstance(wanted, (list, tuple)):
            values[axis] = chosen
        else:
            fixed[axis] = chosen[0]
            del values[axis]
    return fixed, ch_names


def _depth_axis(name: str, axes: str | None, values: dict[str, list[Any]], fixed: dict[str, Any]) -> str | None:
    """The NDTiff axis that is the stack's depth (None for SCYX); it must have size > 1."""
    if axes is None:
        axes = "SCZYX" if len(values.get(Z, ())) > 1 else "SCYX"
    depth = {"SCYX": None, "SCZYX": Z, "SCTYX": TIME}[axes]
    if depth is not None and len(values.get(depth, ())) < 2:
        sizes = ", ".join(f"{a}={len(v)}" for a, v in sorted(values.items()))
        why = (
            f"select fixes {depth}"
            if depth in fixed
            else f"its {depth} axis has size 1"
            if depth in values
            else f"it has no {depth} axis"
        )
        others = [a for a, d in (("SCZYX", Z), ("SCTYX", TIME)) if len(values.get(d, ())) > 1]
        raise AxesError(
            f"{name}: axes {axes!r} makes {depth} the depth axis, but {why} (axes: {sizes or 'none'}); "
            f"use {', '.join(['SCYX', *others])}",
            source=name,
        )
    return depth


def build(root: Path, name: str, axes: str | None, options: Options) -> Loaded:
    """Read the index (and headers) of the dataset at `root` and lay out the requested stack."""
    levels = resolution_folders(root, name)
    if options.level not in levels:
        available = ", ".join(f"{lv} ({p.name})" for lv, p in levels.items())
        raise ValidationError(
            f"{name}: resolution level {options.level} does not exist; the dataset has level(s) {available}",
            source=name,
        )
    folder = levels[options.level]
    index = load_index(folder, name)
    full_index = index if options.level == 0 else load_index(levels[0], name)
    header = load_header(levels[0], full_index.entries[0], name)
    summary = header.summary
    entries = index.entries
    values = axis_values(entries)
    names_all = sorted(values)

    grid = ROW in values and COLUMN in values
    overlap = _overlap(summary)
    stitched = options.stitched
    if stitched is None:
        stitched = grid and overlap is not None
    elif stitched and not grid:
        raise ValidationError(
            f"{name}: stitched=True needs row and column axes, but the dataset's axes are "
            f"{', '.join(names_all)}; pass stitched=False or leave it out",
            source=name,
        )
    elif stitched and overlap is None:
        raise ValidationError(
            f"{name}: stitched=True needs the tile overlap, but the summary metadata declares no "
            "GridPixelOverlapX/Y; pass stitched=False to read the tiles as samples",
            source=name,
        )

    channel_values = values.get(CHANNEL)
    ch_names = channel_names(folder, entries, channel_values, summary) if channel_values is not None else None

    fixed, ch_names = _apply_select(name, options.select, values, stitched, ch_names)
    depth = _depth_axis(name, axes, values, fixed)

    samples = sample_order(list(values), stitched=stitched, depth=depth)
    letters: dict[str, str] = {}
    free = iter(_FREE_LETTERS)
    for axis in samples:
        letters[axis] = _FIXED_LETTERS.get(axis) or next(free, "")
        if not letters[axis]:
            raise ReadError(f"{name}: too many axes ({', '.join(names_all)}) to lay out", source=name)

    # table dimensions: sample axes, channel, depth, then row and column when stitched
    table_axes = samples + [a for a in (CHANNEL, depth) if a is not None and a in values]
    if stitched:
        table_axes += [ROW, COLUMN]
    positions: dict[str, dict[Any, int]] = {}
    spans: dict[str, int] = {}
    for axis in table_axes:
        if stitched and axis in (ROW, COLUMN):
            present = values[axis]
            if not all(isinstance(v, int) for v in present):
                raise ReadError(f"{name}: the {axis} axis has non-integer values {present}", source=name)
            if header.major_version < 3:  # v2 lays out the rows and columns present side by side
                positions[axis] = {v: i for i, v in enumerate(present)}
            else:  # v3 lays out every row and column from the first to the last, present or not
                positions[axis] = {v: v - present[0] for v in present}
            spans[axis] = max(positions[axis].values()) + 1
        else:
            positions[axis] = {v: i for i, v in enumerate(values[axis])}
            spans[axis] = len(positions[axis])
    table_shape = tuple(spans[a] for a in table_axes)
    table = new_table(table_shape, len(entries))
    all_names = set(names_all)
    kept: list[IndexEntry] = []
    numbers: list[int] = []  # each kept image's entry number in the index, for errors
    for number, entry in enumerate(entries):
        if set(entry.axes) != all_names:
            raise _partial_coordinates(name, folder, number, entry, names_all)
        if any(entry.axes[a] != v for a, v in fixed.items()):
            continue
        try:
            cell = tuple(positions[a][entry.axes[a]] for a in table_axes)
        except KeyError:  # a value left out by select
            continue
        held = int(table[cell]) if isinstance(table, np.ndarray) else table.get(cell, -1)
        if held >= 0:
            raise _duplicate_coordinates(name, folder, numbers[held], number, entry)
        table[cell] = len(kept)
        kept.append(entry)
        numbers.append(number)
    # only the images selected need to agree in size and exist on disk
    height, width, dtype, spp = _image_format(kept or entries, name)
    filenames = _check_files(folder, kept, name, height * width * spp * np.dtype(dtype).itemsize)
    file_number = {f: i for i, f in enumerate(filenames)}
    file_of = np.array([file_number[e.filename] for e in kept], dtype=np.int32)
    offset_of = np.array([e.pixel_offset for e in kept], dtype=np.int64)

    mosaic = None
    if stitched:
        mosaic = _mosaic(name, options.level, full_index, overlap or (0, 0), height, width, positions, spans)
        plane = (mosaic.height, mosaic.width)
    else:
        plane = (height, width)

    original = "".join(letters[a] for a in samples) + "C"
    shape = [len(values[a]) for a in samples]
    n_channels = (len(values[CHANNEL]) if CHANNEL in values else 1) * spp
    shape.append(n_channels)
    if depth is not None:
        original += "Z" if depth == Z else "T"
        shape.append(len(values[depth]) if depth in values else 1)
    original += "YX"
    shape += list(plane)
    table_dims = tuple(
        table_axes.index(a) if a in table_axes else -1 for a in [*samples, CHANNEL, *([depth] if depth else [])]
    )
    absolute = os.path.abspath(folder)
    plan = Plan(
        folder=absolute,
        filenames=filenames,
        files=tuple(FileKey.of(os.path.join(absolute, f), appendable=True) for f in filenames),
        table=table,
        table_shape=table_shape,
        file_of=file_of,
        offset_of=offset_of,
        image_height=height,
        image_width=width,
        dtype=dtype,
        samples_per_pixel=spp,
        table_dims=table_dims,
        channel_axis=len(samples),
        shape=tuple(shape),
        mosaic=mosaic,
    )
    depth_letter = {Z: "Z", TIME: "T", None: None}[depth]
    layout = Layout(original, tuple(shape), "".join(letters[a] for a in samples), depth_letter)
    chunks = None
    if mosaic is None or (mosaic.origin_y, mosaic.origin_x) == (0, 0):
        tile = (mosaic.step_y, mosaic.step_x) if mosaic else (height, width)
        chunks = (*([1] * (len(shape) - 2)), *tile)

    if ch_names is not None and spp == 3:
        ch_names = [f"{n} {c}" for n in ch_names for c in "RGB"]
    elif ch_names is None and spp == 3 and CHANNEL not in values:
        ch_names = ["R", "G", "B"]
    axis_names = [*samples, CHANNEL, *([depth] if depth else []), "y", "x"]
    metadata = Metadata(
        voxel_size=_voxel_size(summary, depth, options.level),
        units=_units(summary, depth),
        axis_names=tuple(axis_names),
        channel_names=tuple(ch_names) if ch_names else None,
        raw=partial(summary_metadata, str(levels[0] / full_index.entries[0].filename)),
    )
    return Loaded(plan, layout, metadata, chunks, image_index(kept, table_axes, positions, fixed, entries[0]))


def _coordinates(axes: Mapping[str, Any]) -> str:
    return ", ".join(f"{a}={v!r}" for a, v in sorted(axes.items())) or "no axes"


def _duplicate_coordinates(name: str, folder: Path, first: int, second: int, entry: IndexEntry) -> ReadError:
    """Two index entries at one coordinate: keeping either would silently drop the other image."""
    return ReadError(
        f"{name}: {folder / INDEX_NAME} lists two images at the same coordinates ({_coordinates(entry.axes)}): "
        f"entries {first} and {second}; which one belongs there is ambiguous, so the dataset is refused rather "
        "than one image silently dropped. Leave those coordinates out with select= (e.g. select a value of "
        "another axis), or repair the acquisition's index",
        source=name,
    )


def _partial_coordinates(name: str, folder: Path, number: int, entry: IndexEntry, names: Sequence[str]) -> ReadError:
    """An index entry without every axis the others have: it has no place in the stack."""
    missing = sorted(set(names) - set(entry.axes))
    return ReadError(
        f"{name}: {folder / INDEX_NAME} entry {number} ({_coordinates(entry.axes)}) does not give the "
        f"axis/axes {', '.join(missing)} that other images have (the dataset's axes: {', '.join(names)}); "
        "an image without a value on every axis has no place in the stack, so the dataset is refused rather "
        "than the image silently dropped. Read that image with ndstorage's read_image, or repair the index",
        source=name,
    )


def _mosaic(
    name: str,
    level: int,
    full_index: Index,
    overlap: tuple[int, int],
    height: int,
    width: int,
    positions: dict[str, dict[Any, int]],
    spans: dict[str, int],
) -> Mosaic:
    rows, columns = spans[ROW], spans[COLUMN]
    if level == 0:
        oy, ox = overlap
        if not (0 <= oy < height and 0 <= ox < width):
            raise ReadError(
                f"{name}: the tile overlap {overlap} (GridPixelOverlapY/X) does not fit tiles of {height}x{width}",
                source=name,
            )
        # half the overlap comes off each side, the odd pixel off the far side (as ndstorage does)
        return Mosaic(height - oy, width - ox, oy // 2, ox // 2, 0, 0, rows * (height - oy), columns * (width - ox))
    # a downsampled level shows the full-resolution extent, scaled (as ndstorage's pyramid does)
    full_values = axis_values(full_index.entries)
    full = full_index.entries[0]
    tile_y, tile_x = full.height - overlap[0], full.width - overlap[1]
    factor = 2**level
    y_min = math.trunc(min(full_values[ROW]) * tile_y / factor)
    y_max = math.trunc((max(full_values[ROW]) + 1) * tile_y / factor)
    x_min = math.trunc(min(full_values[COLUMN]) * tile_x / factor)
    x_max = math.trunc((max(full_values[COLUMN]) + 1) * tile_x / factor)
    first_row, first_column = min(positions[ROW]), min(positions[COLUMN])
    return Mosaic(
        height,
        width,
        0,
        0,
        y_min - first_row * height,
        x_min - first_column * width,
        max(y_max - y_min, 1),
        max(x_max - x_min, 1),
    )


def _positive(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else None


def _voxel_size(summary: Mapping[str, Any], depth: str | None, level: int) -> dict[str, float] | None:
    out: dict[str, float] = {}
    pixel = _positive(summary.get("PixelSize_um"))
    if pixel is not None:
        out["Y"] = out["X"] = pixel * 2**level
    if depth == Z and _positive(summary.get("z-step_um")) is not None:
        out["Z"] = float(summary["z-step_um"])
    if depth == TIME and _positive(summary.get("Interval_ms")) is not None:
        out["T"] = float(summary["Interval_ms"])
    return out or None


def _units(summary: Mapping[str, Any], depth: str | None) -> dict[str, str] | None:
    out: dict[str, str] = {}
    if _positive(summary.get("PixelSize_um")) is not None:
        out["Y"] = out["X"] = "micrometer"
    if depth == Z and _positive(summary.get("z-step_um")) is not None:
        out["Z"] = "micrometer"
    if depth == TIME and _positive(summary.get("Interval_ms")) is not None:
        out["T"] = "millisecond"
    return out or None


def summary_metadata(stack_file: str) -> dict[str, Any]:
    """The dataset's summary metadata (raw JSON), read again from its first stack file."""
    return read_stack_header(Path(stack_file)).summary
