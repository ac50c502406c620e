"""Decoding the tiles or strips of a compressed page that a region touches, straight into the region.

A small patch of a tiled file touches a few tiles, and each costs a decode (tens of microseconds) plus
whatever Python runs around it; on a busy machine that Python is as costly as the decode. So one plane's
segments are read with one lease of the file and as few reads as their places in the file allow
(`runs`), decoded one after the other and copied into the output as each is decoded.

Segments in the common codecs (LZW, Deflate, LZMA, Zstandard; no predictor or horizontal differencing)
are decoded by `Direct`: the decompressor and predictor tifffile itself uses for the page, called with
the same arguments, without tifffile's per-segment bookkeeping. Any segment it does not fully recognise
(another size than the segment's, another codec or layout) is decoded by the page's own tifffile decode.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import numpy as np
from stackio.memory import SEGMENT_CHECK_BYTES, ensure_segment_fits

from .files import POOL

if TYPE_CHECKING:
    from stackio.openfiles import OpenFile

    from .pages import Codec, Plane, ReadStats

#: Segments whose bytes are at most this far apart in the file are read with one read (copying 16 KiB costs
#: about what a read call costs).
GAP_BYTES = 16 * 1024
#: One read takes at most this many bytes (beyond it, segments are read apart).
RUN_BYTES = 16 * 2**20
#: Compressions `Direct` decodes: LZW, Adobe Deflate, Deflate, LZMA, Zstandard.
DIRECT_COMPRESSIONS = frozenset({5, 8, 32946, 34925, 50000})
#: Predictors `Direct` undoes: none, horizontal differencing.
DIRECT_PREDICTORS = frozenset({1, 2})


@attrs.frozen(eq=False)
class Direct:
    """The decompressor and predictor of pages whose segments are plain samples once decompressed."""

    decompress: Callable[..., Any]
    #: The samples' dtype in the file's byte order.
    file_dtype: np.dtype
    #: tifffile's predictor decode (differencing along the width), or None.
    unpredict: Callable[..., Any] | None
    #: The page's (length, width) and samples per segment pixel: the shape of each segment follows.
    image: tuple[int, int, int]
    #: A tile's shape (depth, length, width, samples) and decoded bytes (0 for strips).
    tile: tuple[int, int, int, int] = (0, 0, 0, 0)
    tile_bytes: int = 0

    @classmethod
    def of(cls, keyframe: Any) -> Direct | None:
        """The direct decoder of a tifffile page's segments, or None where tifffile's decode must run."""
        import tifffile

        stored = getattr(keyframe, "_dtype", None)
        if (
            keyframe.compression not in DIRECT_COMPRESSIONS
            or keyframe.predictor not in DIRECT_PREDICTORS
            or keyframe.fillorder != 1
            or keyframe.is_subsampled
            or stored is None
            or keyframe.dtype is None
            or np.dtype(stored) != np.dtype(keyframe.dtype)
            or np.dtype(stored).kind not in "uif"
            or keyframe.bitspersample != np.dtype(stored).itemsize * 8
        ):
            return None
        sampleformat = keyframe.tags.get(339)
        if sampleformat is not None and sampleformat.count != 1 and len(set(sampleformat.value)) != 1:
            return None  # tifffile refuses mixed sample formats
        try:
            decompress = tifffile.TIFF.DECOMPRESSORS[keyframe.compression]
            unpredict = None if keyframe.predictor == 1 else tifffile.TIFF.UNPREDICTORS[keyframe.predictor]
        except (KeyError, ImportError):
            return None
        samples = keyframe.samplesperpixel if keyframe.planarconfig == 1 else 1
        file_dtype = np.dtype(stored).newbyteorder(keyframe.parent.byteorder)
        image = (keyframe.imagelength, keyframe.imagewidth, samples)
        if not keyframe.is_tiled:
            return cls(decompress, file_dtype, unpredict, image)
        tile = (keyframe.tiledepth, keyframe.tilelength, keyframe.tilewidth, samples)
        return cls(decompress, file_dtype, unpredict, image, tile, math.prod(tile) * file_dtype.itemsize)


def origin(codec: Codec, index: int) -> tuple[int, int, int, int]:
    """Where segment `index` starts in the page: (separate sample, depth, row, column)."""
    _, nd, ny, nx = codec.grid
    sd, sy, sx = codec.segment
    if codec.tiled:
        return index // (nx * ny * nd), index // (nx * ny) % nd * sd, index // nx % ny * sy, index % nx * sx
    return index // (ny * nd), index // ny % nd, index % ny * sy, 0


def decode(codec: Codec, data: bytes | memoryview, index: int, jpegtables: bytes | None) -> np.ndarray:
    """Segment `index` from its bytes, as (depth, length, width, samples) in native byte order."""
    direct = codec.direct
    if direct is not None:
        if codec.tiled:
            shape: tuple[int, ...] = direct.tile
            size = direct.tile_bytes
        else:  # the last strip stops at the image's end
            sy = codec.segment[1]
            length, width, samples = direct.image
            shape = (1, min(sy, length - index % codec.grid[2] * sy), width, samples)
            size = shape[1] * width * samples * direct.file_dtype.itemsize
        # told the size, as tifffile tells it: a frame claiming more cannot allocate more (a decompression bomb)
        raw = direct.decompress(data, out=size)
        if len(raw) == size:
            array = np.frombuffer(raw, direct.file_dtype).reshape(shape)
            if direct.unpredict is None:
                return array
            array = array.astype(direct.file_dtype.newbyteorder("="))
            return direct.unpredict(array, axis=-2, out=array)
    kwargs: dict[str, Any] = {}
    if jpegtables is not None:
        kwargs["jpegtables"] = jpegtables
    if codec.jpegheader is not None:
        kwargs["jpegheader"] = codec.jpegheader
    decoded, _, _ = codec.decode(bytes(data), index, **kwargs)
    return decoded


Place = TypeVar("Place", bound=tuple[Any, ...])


def runs(places: Sequence[Place]) -> list[tuple[int, int, list[Place]]]:
    """Segments (tuples starting with offset and count) grouped into reads: (start, end, members), in
    file order."""
    out: list[tuple[int, int, list[Place]]] = []
    for place in sorted(places):
        offset, count = place[0], place[1]
        if out:
            start, end, members = out[-1]
            if offset - end <= GAP_BYTES and offset >= start and max(end, offset + count) - start <= RUN_BYTES:
                out[-1] = (start, max(end, offset + count), members)
                members.append(place)
                continue
        out.append((offset, offset + count, [place]))
    return out


def read_plane(
    plane: Plane, region: list[tuple[int, int]], out: np.ndarray, stats: ReadStats, file: OpenFile | None = None
) -> None:
    """Decode the segments of `plane` that `region` (5-D, page order) touches into `out` (its shape).

    `file` is the plane's file already leased by the caller (one lease for many planes), else leased here.
    """
    codec = plane.codec
    (s0, s1), (d0, d1), (y0, y1), (x0, x1), _ = region
    sd, sy, sx = codec.segment
    _, nd, ny, nx = codec.grid
    tiled = codec.tiled
    if tiled:
        ds, xs = range(d0 // sd, (d1 - 1) // sd + 1), range(x0 // sx, (x1 - 1) // sx + 1)
    else:
        ds, xs, sd = range(d0, d1), range(1), 1
    ys = range(y0 // sy, (y1 - 1) // sy + 1)
    offsets, counts = plane.offsets, plane.counts
    # (offset, count, index, where it starts in the page)
    places: list[tuple[int, int, int, tuple[int, int, int, int]]] = []
    for s in range(s0, s1):
        for d in ds:
            for y in ys:
                base = ((s * nd + d) * ny + y) * nx
                for x in xs:
                    index = base + x
                    offset, count = offsets[index], counts[index]
                    if offset == 0 or count == 0:  # a segment never written: the page's no-data value
                        _paste(out, codec.nodata, (s, d * sd, y * sy, x * sx), _extent(codec), region)
                    else:
                        places.append((offset, count, index, (s, d * sd, y * sy, x * sx)))
    if not places:
        return
    segment_bytes = codec.segment[0] * sy * sx * codec.shaped[4] * out.dtype.itemsize
    if segment_bytes >= SEGMENT_CHECK_BYTES:  # (below it the check returns at once; its message costs more)
        ensure_segment_fits(
            segment_bytes,
            plane.file.path,
            f"one {'tile' if tiled else 'strip'} of {sy}x{sx} pixels",
            "re-save it with smaller tiles, e.g. tifffile.imwrite(path, data, tile=(512, 512), compression=...)",
        )
    leased = POOL.acquire(plane.file) if file is None else None
    try:
        source: Any = file if leased is None else leased
        tables = plane.jpegtables
        if len(places) == 1:
            ((offset, count, index, at),) = places
            tile = decode(codec, source.read_bytes(offset, count), index, tables)
            stats.bytes_read += count
            stats.segments_decoded += 1
            _paste(out, tile, at, tile.shape, region)
            return
        for start, end, members in runs(places):
            data = source.read_bytes(start, end - start)
            stats.bytes_read += end - start
            whole = len(members) == 1
            view = memoryview(data)
            for offset, count, index, at in members:
                tile = decode(codec, data if whole else view[offset - start : offset - start + count], index, tables)
                stats.segments_decoded += 1
                _paste(out, tile, at, tile.shape, region)
    finally:
        if leased is not None:
            POOL.release(leased)


def _extent(codec: Codec) -> tuple[int, int, int]:
    sd, sy, sx = codec.segment
    return (sd, sy, sx if codec.tiled else codec.shaped[3])


def _paste(
    out: np.ndarray,
    data: np.ndarray | float,
    at: tuple[int, int, int, int],
    extent: Sequence[int],
    region: list[tuple[int, int]],
) -> None:
    """Copy the part of a segment at `at` (of `extent` depth, length, width) inside `region` into `out`."""
    s, d, y, x = at
    nd, ny, nx = extent[0], extent[1], extent[2]
    (s0, s1), (d0, d1), (y0, y1), (x0, x1), (c0, c1) = region
    lo_d, hi_d = (d0 if d0 > d else d), (d1 if d1 < d + nd else d + nd)
    lo_y, hi_y = (y0 if y0 > y else y), (y1 if y1 < y + ny else y + ny)
    lo_x, hi_x = (x0 if x0 > x else x), (x1 if x1 < x + nx else x + nx)
    if not s0 <= s < s1 or lo_d >= hi_d or lo_y >= hi_y or lo_x >= hi_x:
        return
    target = out[s - s0, lo_d - d0 : hi_d - d0, lo_y - y0 : hi_y - y0, lo_x - x0 : hi_x - x0]
    if isinstance(data, np.ndarray):
        target[...] = data[lo_d - d : hi_d - d, lo_y - y : hi_y - y, lo_x - x : hi_x - x, c0:c1]
    else:
        target[...] = data
