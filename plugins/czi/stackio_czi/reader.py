"""Reading CZI files through pylibCZIrw: one lazy stack per scene, each patch an ROI read per plane.

Dimension letters are CZI's own (T, Z, C, R, I, H, V, B); the file's S (scene) is not an axis of a
stack, since each scene is its own stack, and M (mosaic tile) is composed by pylibCZIrw.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import struct
import threading
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
from stackio import (
    AxesError,
    ImageStack,
    Layout,
    LazyStack,
    Metadata,
    ReadError,
    Source,
    ValidationError,
)

#: Dimensions merged into S, outermost first (CAREamics' order); the depth axis is left out.
SAMPLE_ORDER = "TZRIHVB"
#: The dimensions pylibCZIrw can select a plane by.
PLANE_DIMS = frozenset("TZCRIHVB")
MAGIC = b"ZISRAWFILE"

#: Gray pixel types and the dtype they read as.
GRAY = {"Gray8": "uint8", "Gray16": "uint16", "Gray32Float": "float32"}
#: Colour pixel types (stored B, G, R) and the dtype of each of their 3 channels.
RGB = {"Bgr24": "uint8", "Bgr48": "uint16"}
#: Pixel types pylibCZIrw cannot return as themselves, and what libCZI converts them to.
CONVERTED = {"Bgra32": "Bgr24"}
#: Pixel types pylibCZIrw finds but cannot compose, and why.
UNREADABLE = {
    "Bgr96Float": "libCZI's tile composition does not implement it (\"this pixeltype isn't implemented yet\")",
}
#: Conversions libCZI makes without changing values, used for files whose channels differ in type.
LOSSLESS = frozenset(
    {
        ("Gray8", "Gray16"),
        ("Gray8", "Gray32Float"),
        ("Gray16", "Gray32Float"),
        ("Gray8", "Bgr24"),
        ("Gray8", "Bgr48"),
        ("Gray16", "Bgr48"),
    }
)
_BITS = {"uint8": 0, "uint16": 1, "float32": 2}
_GRAY_BY_BITS = {_BITS[v]: k for k, v in GRAY.items()}
_RGB_BY_BITS = {_BITS[v]: k for k, v in RGB.items()}

Rect = tuple[int, int, int, int]  # x, y, w, h in the file's pixel coordinates


def _pyczi() -> Any:
    from pylibCZIrw import czi as pyczi

    return pyczi


# -- what one look at a file says ---------------------------------------------------


@attrs.frozen
class FileInfo:
    """A CZI file's dimensions, scenes and pixel types, read once at load."""

    path: str
    #: (start, size) per dimension letter the subblocks carry (S and M excluded).
    dims: dict[str, tuple[int, int]]
    #: Layer-0 bounding rectangle of each scene; empty when the file has no scenes.
    scenes: dict[int, Rect]
    #: Layer-0 bounding rectangle of the whole file.
    whole: Rect
    #: pylibCZIrw's pixel type name of each channel, in C order.
    pixel_types: tuple[str, ...]
    xml: str


def _rect(r: Any) -> Rect:
    return (int(r.x), int(r.y), int(r.w), int(r.h))


def _union(a: Rect | None, b: Rect) -> Rect:
    if a is None:
        return b
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return (x0, y0, x1 - x0, y1 - y0)


#: Most dimension entries a subblock directory entry can have (CZI defines X, Y, Z, C, T, R, S, I, H, V, B, M).
MAX_DIMENSIONS = 16
_SEGMENT = struct.Struct("<16sqq")  # id, allocated size, used size
_SUBBLOCK = struct.Struct("<16sqqiiq")  # segment header, then metadata, attachment and data sizes
_ENTRY = struct.Struct("<2siqiiB5si")  # schema, pixel type, file position, file part, compression, pyramid,
#                                        spare, dimension count; then 20 bytes per dimension


def check_directory(path: str) -> None:
    """Validate the file header and the subblock directory's entry sizes before libCZI parses them.

    libCZI trusts each entry's dimension count: a corrupt one (e.g. 119, or negative) makes it read
    past its buffer and crash the process (segfault) instead of raising. Everything else libCZI checks.
    """

    def corrupt(what: str) -> ReadError:
        return ReadError(f"{path}: the CZI file is corrupt ({what}); it cannot be read safely", source=path)

    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        header = f.read(_SEGMENT.size + 60)
        if len(header) < _SEGMENT.size + 60 or not header.startswith(MAGIC):
            return  # not a CZI at all, or truncated in the header: libCZI says so without crashing
        (position,) = struct.unpack_from("<q", header, _SEGMENT.size + 52)
        if not 0 < position <= size - _SEGMENT.size - 128:
            return  # libCZI reports a directory outside the file itself
        f.seek(position)
        segment = f.read(_SEGMENT.size + 128)
        ident, _allocated, used = _SEGMENT.unpack_from(segment)
        if not ident.startswith(b"ZISRAWDIRECTORY"):
            return
        (count,) = struct.unpack_from("<i", segment, _SEGMENT.size)
        end = min(position + _SEGMENT.size + max(used, 0), size)
        data = f.read(max(0, end - f.tell()))
    offset = 0
    positions = []
    for index in range(max(count, 0)):
        if offset + _ENTRY.size > len(data):
            break  # fewer entries than declared: libCZI reports "data too small"
        schema, _pixel_type, position, *_, dimensions = _ENTRY.unpack_from(data, offset)
        if schema != b"DV":
            break  # another entry schema: left to libCZI
        if not 0 < dimensions <= MAX_DIMENSIONS:
            raise corrupt(f"subblock directory entry {index} declares {dimensions} dimensions")
        entry = data[offset : offset + _ENTRY.size + 20 * dimensions]
        positions.append((index, position, entry))
        offset += len(entry)
    _check_subblocks(path, positions, size, corrupt)


def _same_entry(directory: bytes, own: bytes) -> bool:
    """A subblock's own copy of its directory entry says the same (file position and the float start
    coordinates aside): schema, pixel type, compression, and every dimension's index, size and stored size."""
    # bytes 0-6 schema and pixel type, 18-23 compression and pyramid type, 28-32 dimension count
    if len(own) != len(directory) or any(own[a:b] != directory[a:b] for a, b in ((0, 6), (18, 23), (28, 32))):
        return False
    dims = range(_ENTRY.size, len(directory), 20)
    return all(
        own[i : i + 12] == directory[i : i + 12] and own[i + 16 : i + 20] == directory[i + 16 : i + 20] for i in dims
    )


def _check_subblocks(path: str, positions: list[tuple[int, int, bytes]], size: int, corrupt: Any) -> None:
    """Each subblock's sizes must fit in the file, and its header must repeat its directory entry.

    libCZI allocates and decodes by the declared sizes and trusts the subblock's own entry: a corrupt
    data size of 2**40 (or negative), or a corrupt dimension count in the subblock's header, segfaults
    it; 2**32 makes it allocate 4 GiB before failing; a tile position that differs from the directory's
    makes patches disagree with the whole image. Real files repeat the entry byte for byte.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        for index, position, entry in positions:
            if not 0 <= position <= size - _SUBBLOCK.size - len(entry):
                continue  # libCZI reports a subblock outside the file itself
            head = os.pread(fd, _SUBBLOCK.size + len(entry), position)
            ident, _allocated, _used, metadata, attachment, data = _SUBBLOCK.unpack_from(head)
            if not ident.startswith(b"ZISRAWSUBBLOCK"):
                continue  # libCZI reports a wrong segment
            # the subblock's own header takes at least 256 bytes after the segment header
            end = position + _SEGMENT.size + 256 + metadata + attachment + data
            if min(metadata, attachment, data) < 0 or end > size:
                raise corrupt(
                    f"subblock {index} declares {data} bytes of data, {metadata} of metadata and {attachment} "
                    f"of attachments, more than the file holds"
                )
            if not _same_entry(entry, head[_SUBBLOCK.size :]):
                raise corrupt(f"subblock {index}'s header disagrees with its subblock directory entry")
    finally:
        os.close(fd)


def _open_reader(path: str, cache_mb: float = 0.0) -> Any:
    """A pylibCZIrw reader, with libCZI's failures turned into a ReadError naming the file.

    With `cache_mb > 0`, decoded compressed subblocks are kept up to that size (pylibCZIrw
    caches only compressed subblocks of local files), so neighbouring patches decode a tile once.
    """
    check_directory(path)
    pyczi = _pyczi()
    cache = pyczi.CacheOptions(max_memory_usage=int(cache_mb * 2**20)) if cache_mb > 0 else None
    try:
        return pyczi.CziReader(path, cache_options=cache)
    except Exception as exc:
        raise ReadError(
            f"{path}: pylibCZIrw cannot open it as CZI ({type(exc).__name__}: {exc}); "
            "the file may be truncated or corrupt",
            source=path,
        ) from exc


#: A dimension may span at most this many indices more than it has subblocks (sparse files leave gaps).
MAX_GAP = 1024


def _check_extents(path: str, dims: dict[str, tuple[int, int]], subblocks: int) -> None:
    """Refuse a directory whose index ranges no real file has: a corrupt coordinate (e.g. C = -2**31)
    would otherwise make a dimension of billions of planes, and every read loop over them."""
    for dim, (start, size) in dims.items():
        if size > subblocks + MAX_GAP:
            raise ReadError(
                f"{path}: the subblock directory is corrupt: dimension {dim} spans indices {start} to "
                f"{start + size - 1} but the file has only {subblocks} subblock(s); the file may be damaged",
                source=path,
            )


def inspect(path: str) -> FileInfo:
    """Read a CZI file's subblock directory and metadata (no pixel data)."""
    reader = _open_reader(path)
    try:
        lo: dict[str, int] = {}
        hi: dict[str, int] = {}
        scene_rects: dict[int, Rect] = {}
        count = [0]

        def visit(_index: int, info: Any) -> bool:
            count[0] += 1
            coord = info.coordinate.to_dict()
            for dim, value in coord.items():
                lo[dim] = min(lo.get(dim, value), value)
                hi[dim] = max(hi.get(dim, value), value)
            rect, size = info.logicalRect, info.physicalSize
            if "S" in coord and rect.w == size.w and rect.h == size.h:  # layer 0 only
                scene_rects[coord["S"]] = _union(scene_rects.get(coord["S"]), _rect(rect))
            return True

        try:
            reader.enumerate_subblocks(visit)
            whole = _rect(reader.total_bounding_rectangle_no_pyramid)
            try:
                scenes = {int(k): _rect(v) for k, v in reader.scenes_bounding_rectangle_no_pyramid.items()}
            except ValueError:
                # pylibCZIrw refuses scene indices with gaps (e.g. 0 and 2); the directory still says.
                scenes = scene_rects
            xml = reader.raw_metadata
            dims = {d: (lo[d], hi[d] - lo[d] + 1) for d in lo if d in PLANE_DIMS}
            _check_extents(path, dims, count[0])
            c_start, n_c = dims.get("C", (0, 1))
            pixel_types = tuple(reader.get_channel_pixel_type(c_start + i) for i in range(n_c))
        except ReadError:
            raise
        except Exception as exc:
            raise ReadError(
                f"{path}: pylibCZIrw cannot read its directory or metadata ({type(exc).__name__}: {exc}); "
                "the file may be truncated or corrupt",
                source=path,
            ) from exc
    finally:
        reader.close()
    if whole[2] <= 0 or whole[3] <= 0:
        raise ReadError(f"{path}: the CZI holds no image data (no subblocks)", source=path)
    return FileInfo(path, dims, dict(sorted(scenes.items())), whole, pixel_types, xml)


def scene_rectangles(path: str | Path) -> dict[int | None, Rect]:
    """Each scene's layer-0 bounding rectangle (x, y, w, h) in the file's pixel coordinates.

    A file without scenes gives `{None: <whole-image rectangle>}`.
    """
    info = inspect(str(Path(path).expanduser()))
    if info.scenes:
        return dict(info.scenes)
    return {None: info.whole}


def read_pixel_type(pixel_types: Sequence[str], path: str) -> tuple[str, bool]:
    """The one pylibCZIrw pixel type all channels are read as, and whether it is RGB.

    Channels of mixed types are read as the widest type present (colour if any channel is
    colour), but only where libCZI's conversion keeps the values (see `LOSSLESS`).
    """
    present = [p for p in pixel_types if p != "Invalid"]
    if not present:
        raise ReadError(f"{path}: no channel has a valid pixel type; the file may be corrupt", source=path)
    unreadable = sorted({p for p in present if p in UNREADABLE})
    if unreadable:
        raise ReadError(
            f"{path}: pixel type {', '.join(unreadable)} cannot be read: {UNREADABLE[unreadable[0]]}",
            source=path,
        )
    known = [CONVERTED.get(p, p) for p in present]
    unknown = sorted({p for p in known if p not in GRAY and p not in RGB})
    if unknown:
        raise ReadError(
            f"{path}: pixel type {', '.join(unknown)} is not supported; this plugin reads "
            f"{', '.join([*GRAY, *RGB, *CONVERTED])}",
            source=path,
        )
    bits = max(_BITS[GRAY.get(p) or RGB[p]] for p in known)
    rgb = any(p in RGB for p in known)
    target = (_RGB_BY_BITS if rgb else _GRAY_BY_BITS).get(bits)
    lossy = sorted({p for p in known if p != target and (p, target) not in LOSSLESS})
    if target is None:  # colour with float channels: no RGB float type libCZI composes
        lossy = sorted(set(known))
    if lossy:
        raise ReadError(
            f"{path}: its channels have pixel types {', '.join(sorted(set(pixel_types)))}, and libCZI "
            f"cannot convert {', '.join(lossy)} to {target or 'one colour type'} without changing "
            "values; such files are not supported (convert the channels to one pixel type in ZEN)",
            source=path,
        )
    return target, rgb


# -- the array a LazyStack reads patches from ---------------------------------------------


@attrs.frozen
class CziPlan:
    """Everything needed to read one scene as an array in `original_axes`; picklable."""

    path: str
    scene: int | None
    rect: Rect
    #: (letter, start, size) of each non-C, non-YX original axis, in original order.
    plane_dims: tuple[tuple[str, int, int], ...]
    channel_start: int
    n_czi_channels: int
    pixel_type: str
    rgb: bool
    background: float
    cache_mb: float = 0.0

    @property
    def original_axes(self) -> str:
        return "".join(d for d, _, _ in self.plane_dims) + "CYX"

    @property
    def shape(self) -> tuple[int, ...]:
        channels = self.n_czi_channels * (3 if self.rgb else 1)
        return (*(n for _, _, n in self.plane_dims), channels, self.rect[3], self.rect[2])

    @property
    def dtype(self) -> np.dtype:
        return np.dtype((RGB if self.rgb else GRAY)[self.pixel_type])


@attrs.frozen
class CziOpener:
    """Picklable opener for `LazyStack`: opens the file and gives a `CziArray`."""

    plan: CziPlan

    def __call__(self) -> CziArray:
        return CziArray(self.plan)


def _indices(key: Any, size: int, axis: str) -> tuple[range, bool]:
    """The indices one key entry selects along an axis, and whether the axis is dropped."""
    if isinstance(key, slice):
        return range(*key.indices(size)), False
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        index = int(key) + (size if key < 0 else 0)
        if not 0 <= index < size:
            raise IndexError(f"index {int(key)} is out of bounds for axis {axis} with size {size}")
        return range(index, index + 1), True
    raise TypeError(f"CZI arrays take ints and slices only, not {type(key).__name__} (axis {axis})")


class CziArray:
    """One scene of an open CZI file, indexed like a numpy array in the plan's original axes.

    Each index reads, for every selected plane and channel, the selected Y/X region through
    pylibCZIrw's ROI read, offset by the scene rectangle. RGB channels come out R, G, B.
    """

    def __init__(self, plan: CziPlan) -> None:
        self.plan = plan
        self.axes = plan.original_axes
        self.shape = plan.shape
        self.dtype = plan.dtype
        self.ndim = len(self.shape)
        #: Number of pylibCZIrw `read` calls made, for tests of laziness.
        self.reads = 0
        self._lock = threading.Lock()
        self._reader: Any = _open_reader(plan.path, plan.cache_mb)
        self._background = (plan.background,) * 3

    def close(self) -> None:
        with self._lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    def _read(self, roi: Rect, plane: dict[str, int]) -> np.ndarray:
        with self._lock:
            if self._reader is None:
                raise ValueError(f"{self.plan.path}: the CZI reader is closed")
            self.reads += 1
            return np.asarray(
                self._reader.read(
                    roi=roi,
                    plane=plane,
                    scene=self.plan.scene,
                    pixel_type=self.plan.pixel_type,
                    background_pixel=self._background,
                )
            )

    def __getitem__(self, key: Any) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (key,)
        if len(key) > self.ndim:
            raise IndexError(f"too many indices for a {self.ndim}-d CZI array ({self.axes})")
        key = key + (slice(None),) * (self.ndim - len(key))
        picks = [_indices(k, n, a) for k, n, a in zip(key, self.shape, self.axes, strict=True)]
        out = np.zeros(tuple(len(r) for r, _ in picks), dtype=self.dtype)
        drop = tuple(0 if dropped else slice(None) for _, dropped in picks)
        if out.size == 0:
            return out[drop]
        *plane_picks, (channels, _), (ys, _), (xs, _) = picks
        x0, y0, _, _ = self.plan.rect
        ylo, yhi = (ys[0], ys[-1] + 1) if ys.step > 0 else (ys[-1], ys[0] + 1)
        xlo, xhi = (xs[0], xs[-1] + 1) if xs.step > 0 else (xs[-1], xs[0] + 1)
        roi = (x0 + xlo, y0 + ylo, xhi - xlo, yhi - ylo)
        dense = ys.step == 1 and xs.step == 1
        if not dense:
            rows, cols = np.asarray(ys) - ylo, np.asarray(xs) - xlo
        per = 3 if self.plan.rgb else 1
        wanted: dict[int, list[tuple[int, int]]] = {}  # CZI channel -> [(output position, component)]
        for position, channel in enumerate(channels):
            wanted.setdefault(channel // per, []).append((position, channel % per))
        dims = self.plan.plane_dims
        for combo in itertools.product(*(enumerate(r) for r, _ in plane_picks)):
            plane = {dim: start + index for (dim, start, _), (_, index) in zip(dims, combo, strict=True)}
            where = tuple(position for position, _ in combo)
            for czi_channel, targets in wanted.items():
                plane["C"] = self.plan.channel_start + czi_channel
                tile = self._read(roi, plane)
                if not dense:
                    tile = tile[np.ix_(rows, cols)]
                for position, component in targets:
                    # pylibCZIrw returns colour as B, G, R; component 0 is R.
                    out[(*where, position)] = tile[..., per - 1 - component]
        return out[drop]

    def __repr__(self) -> str:
        return f"<CziArray {self.plan.path!r} scene={self.plan.scene} {self.axes}{self.shape} {self.dtype}>"


# -- metadata ---------------------------------------------------------------------------


def _parse_xml(xml: str) -> ET.Element | None:
    try:
        return ET.fromstring(xml)
    except ET.ParseError:
        return None


def voxel_size_um(root: ET.Element | None) -> dict[str, float]:
    """Scaling/Items/Distance values in micrometres (values of 0 mean 'not declared')."""
    out: dict[str, float] = {}
    if root is None:
        return out
    for distance in root.findall("./Metadata/Scaling/Items/Distance"):
        axis, value = distance.get("Id"), distance.findtext("Value")
        try:
            metres = float(value) if value is not None else 0.0
        except ValueError:
            continue
        if axis and metres > 0 and math.isfinite(metres):
            out[axis.upper()] = metres * 1e6
    return out


def channel_names(root: ET.Element | None, start: int, count: int) -> tuple[str, ...] | None:
    """Names of channels start..start+count-1: Information's Channel names, else DisplaySetting's."""
    if root is None:
        return None
    for where in (
        "./Metadata/Information/Image/Dimensions/Channels/Channel",
        "./Metadata/DisplaySetting/Channels/Channel",
    ):
        names = [c.get("Name") for c in root.findall(where)]
        chosen = names[start : start + count]
        if len(chosen) == count and all(chosen):
            return tuple(chosen)  # type: ignore[arg-type]
    return None


def read_raw_metadata(path: str) -> str:
    """The file's XML metadata, read anew (so `Metadata.raw` stays picklable)."""
    reader = _open_reader(path)
    try:
        return reader.raw_metadata
    finally:
        reader.close()


def build_metadata(info: FileInfo, plan: CziPlan, layout: Layout) -> Metadata:
    root = _parse_xml(info.xml)
    declared = voxel_size_um(root)
    voxel = {a: declared[a] for a in layout.spatial_axes if a in declared and a in "ZYX"}
    names = channel_names(root, plan.channel_start, plan.n_czi_channels)
    if names is not None and plan.rgb:
        names = tuple(f"{n} {rgb}" for n in names for rgb in "RGB")
    return Metadata(
        voxel_size=voxel or None,
        units={a: "micrometer" for a in voxel} or None,
        axis_names=tuple(layout.original_axes),
        channel_names=names,
        raw=functools.partial(read_raw_metadata, info.path),
    )


# -- load ------------------------------------------------------------------------------


def _choose_axes(info: FileInfo, axes: str | None, where: str) -> str:
    sizes = {d: n for d, (_, n) in info.dims.items()}
    z, t = sizes.get("Z", 1), sizes.get("T", 1)
    if axes is None:
        return "SCZYX" if z > 1 else "SCYX"
    depth = {"SCZYX": ("Z", z), "SCTYX": ("T", t)}.get(axes)
    if depth is not None and depth[1] <= 1:
        have = ", ".join(f"{d}={n}" for d, n in sizes.items() if d != "C") or "no Z or T"
        other = "SCTYX" if depth[0] == "Z" and t > 1 else "SCZYX" if depth[0] == "T" and z > 1 else None
        hint = f"use SCYX, or {other}" if other else "use SCYX"
        raise AxesError(
            f"{where}: axes {axes!r} need a {depth[0]} dimension of size > 1 as depth, but the file has {have}; {hint}",
            source=where,
        )
    return axes


def _check_header(source: Source, where: str) -> None:
    header = source.header
    if not header.startswith(MAGIC):
        what = "is empty" if not header else "does not start with the CZI magic 'ZISRAWFILE'"
        raise ReadError(f"{where}: not a CZI file: it {what}; check the file or its suffix", source=where)


#: Default size of each open stack's cache of decoded compressed subblocks.
DEFAULT_CACHE_MB = 32.0


def load(
    source: Source,
    axes: str | None,
    *,
    scene: int | None = None,
    background: float | None = None,
    cache_mb: float | None = None,
) -> list[ImageStack]:
    """One lazy stack per scene of `source` (or the one scene chosen by '@N' or `scene=`)."""
    path = source.path
    if path is None:
        raise ValidationError(f"{source}: the CZI reader needs a local file path", source=str(source))
    resolved = str(path.resolve())
    _check_header(source, str(path))
    info = inspect(resolved)
    chosen = source.index if source.index is not None else (None if scene is None else int(scene))
    if info.scenes:
        available = ", ".join(str(s) for s in info.scenes)
        if chosen is not None and chosen not in info.scenes:
            raise ValidationError(
                f"{path}: scene {chosen} does not exist; the file has scene(s) {available}",
                source=str(source),
            )
        selected: list[int | None] = [chosen] if chosen is not None else list(info.scenes)
    else:
        if chosen is not None:
            raise ValidationError(
                f"{path}: scene {chosen} does not exist; the file has no scenes, so load it without '@N' or scene=",
                source=str(source),
            )
        selected = [None]
    axes = _choose_axes(info, axes, str(path))
    depth = {"SCZYX": "Z", "SCTYX": "T"}.get(axes)
    pixel_type, rgb = read_pixel_type(info.pixel_types, str(path))
    present = [d for d in SAMPLE_ORDER if d in info.dims or d == depth]
    plane_dims = tuple((d, *info.dims.get(d, (0, 1))) for d in present)
    sample_axes = "".join(d for d in present if d != depth)
    c_start, n_c = info.dims.get("C", (0, 1))
    stacks: list[ImageStack] = []
    for index in selected:
        rect = info.scenes[index] if index is not None else info.whole
        plan = CziPlan(
            path=resolved,
            scene=index,
            rect=rect,
            plane_dims=plane_dims,
            channel_start=c_start,
            n_czi_channels=n_c,
            pixel_type=pixel_type,
            rgb=rgb,
            background=float(background or 0.0),
            cache_mb=DEFAULT_CACHE_MB if cache_mb is None else float(cache_mb),
        )
        layout = Layout(plan.original_axes, plan.shape, sample_axes, depth)
        name = resolved if index is None else f"{resolved}@{index}"
        stacks.append(LazyStack(name, layout, plan.dtype, CziOpener(plan), metadata=build_metadata(info, plan, layout)))
    return stacks
