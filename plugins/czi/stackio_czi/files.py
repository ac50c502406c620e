"""Opening a CZI file with pylibCZIrw, and the one look at its subblock directory that loading needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
from stackio import ReadError

from .document import Described, describe, read_xml
from .integrity import check_directory
from .remote import is_url
from .sigpipe import keep_sigpipe_ignored

#: The dimensions pylibCZIrw can select a plane by.
PLANE_DIMS = frozenset("TZCRIHVB")

Rect = tuple[int, int, int, int]  # x, y, w, h in the file's pixel coordinates


def _pyczi() -> Any:
    from pylibCZIrw import czi as pyczi

    return pyczi


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
    #: What the stacks carry of the metadata XML (read from its segment; libCZI's XML is read only on request).
    described: Described


def _rect(r: Any) -> Rect:
    return (int(r.x), int(r.y), int(r.w), int(r.h))


def _union(a: Rect | None, b: Rect) -> Rect:
    if a is None:
        return b
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return (x0, y0, x1 - x0, y1 - y0)


def open_reader(path: str, cache_mb: float = 0.0) -> Any:
    """A pylibCZIrw reader, with libCZI's failures turned into a ReadError naming the file.

    With `cache_mb > 0`, decoded compressed subblocks are kept up to that size (pylibCZIrw
    caches only compressed subblocks of local files), so neighbouring patches decode a tile once.
    """
    if is_url(path):
        from . import remote

        return remote.open_reader(path, cache_mb)
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
    """Read a CZI file's subblock directory, and the voxel size and channel names of its XML (no pixel data)."""
    reader = open_reader(path)
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
        if is_url(path):
            keep_sigpipe_ignored()  # libcurl reset it
    if whole[2] <= 0 or whole[3] <= 0:
        raise ReadError(f"{path}: the CZI holds no image data (no subblocks)", source=path)
    return FileInfo(path, dims, dict(sorted(scenes.items())), whole, pixel_types, _described(path))


def _described(path: str) -> Described:
    from .remote import RemoteBytes, is_url

    try:
        return describe(read_xml(path, RemoteBytes(path) if is_url(path) else None))
    except OSError:  # unreadable now: the stacks simply carry no voxel size or channel names
        return Described()


def scene_rectangles(path: str | Path) -> dict[int | None, Rect]:
    """Each scene's layer-0 bounding rectangle (x, y, w, h) in the file's pixel coordinates.

    A file without scenes gives `{None: <whole-image rectangle>}`.
    """
    info = inspect(str(Path(path).expanduser()))
    if info.scenes:
        return {scene: rect for scene, rect in info.scenes.items()}
    return {None: info.whole}
