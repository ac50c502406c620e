"""Scenario 4: random 2-D and 3-D patches, lazy mode, per format, against the format library's most
direct read of the same region (the floor) and bioio's dask path; first, the core's own fixed cost per
call, through a reader that does no work."""

from __future__ import annotations

import contextlib
import io
import math
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import data as D
from .config import Config
from .util import Row, have, interleaved, median

P2 = (64, 64)
P3 = (16, 64, 64)
Coord = tuple[int, int, int]
Read = Callable[[Coord], np.ndarray]


class Skip(Exception):
    """A case that cannot run here (plugin or library missing)."""


@dataclass
class Side:
    name: str
    read2d: Read
    read3d: Read
    note: str = ""


@dataclass
class Case:
    name: str
    stackio: Side
    floor: Side
    bioio: Side | None = None
    #: stackio / bioio must be at most this (e.g. 0.01: 100x faster).
    bioio_limit: float | None = None
    #: Further baselines shown without a target (e.g. an uncached read).
    extra: tuple[Side, ...] = ()


def _need(cfg: Config, fmt: str) -> None:
    if fmt not in cfg.formats:
        raise Skip(f"the stackio '{fmt}' format is not installed")


def _stackio_side(source: Any, z: int, yx: tuple[int, int], axes2d: tuple[Any, ...], axes3d: tuple[Any, ...]) -> Side:
    """stackio reads: a 2-D stack (Z planes as samples) and a 3-D stack, with the first axes the format takes."""
    import stackio

    def first(candidates: tuple[Any, ...], shape: tuple[int, ...]) -> tuple[Any, Any, list[str]]:
        tried = []
        for axes in candidates:
            try:
                stacks = stackio.load(source, axes)
            except stackio.StackioError as exc:
                tried.append(f"{axes}: {type(exc).__name__}: {exc}")
                continue
            if len(stacks) == 1 and tuple(stacks[0].data_shape) == shape:
                return stacks[0], axes, tried
            tried.append(f"{axes}: {len(stacks)} stacks, shape {stacks[0].data_shape}")
        return None, None, tried

    s3, axes3, tried3 = first(axes3d, (1, 1, z, *yx))
    if s3 is None:
        raise RuntimeError(f"stackio could not load {source} as one Z stack: {tried3}")
    s2, axes2, _ = first(axes2d, (z, 1, *yx))
    note = f"axes {axes3!r}"
    if s2 is None:
        note += "; 2-D patches as 1x64x64 3-D patches (no 2-D axes accepted)"

        def read2d(c: Coord) -> np.ndarray:
            return s3.extract_patch(0, None, c, (1, *P2))
    else:
        note += f", 2-D with {axes2!r}"

        def read2d(c: Coord) -> np.ndarray:
            return s2.extract_patch(c[0], None, c[1:], P2)

    def read3d(c: Coord) -> np.ndarray:
        return s3.extract_patch(0, None, c, P3)

    return Side("stackio", read2d, read3d, note)


def _slices(c: Coord, depth: int) -> tuple[slice, slice, slice]:
    z, y, x = c
    return slice(z, z + depth), slice(y, y + P2[0]), slice(x, x + P2[1])


def _numpy_side(name: str, array: Any) -> Side:
    """Slicing an array-like (numpy, memory map, zarr array) with a copy into memory."""

    def read2d(c: Coord) -> np.ndarray:
        return np.array(array[(c[0], *_slices(c, 1)[1:])])

    def read3d(c: Coord) -> np.ndarray:
        return np.array(array[_slices(c, P3[0])])

    return Side(name, read2d, read3d)


def _bioio_side(path: Path, reader: Any) -> Side:
    from bioio import BioImage

    image = BioImage(path, reader=reader)
    dask_data = image.dask_data  # TCZYX

    def read2d(c: Coord) -> np.ndarray:
        z, y, x = c
        return dask_data[0, 0, z, y : y + P2[0], x : x + P2[1]].compute()

    def read3d(c: Coord) -> np.ndarray:
        return dask_data[(0, 0, *_slices(c, P3[0]))].compute()

    return Side("bioio (dask)", read2d, read3d)


def _bioio(cfg: Config, module: str) -> Any:
    if not cfg.use_bioio or not have("bioio") or not have(module):
        return None
    import importlib

    return importlib.import_module(module).Reader


# -- the cases ----------------------------------------------------------------------------


def case_array(cfg: Config, vol: np.ndarray, work: Path) -> Case:
    stackio = _stackio_side(vol, vol.shape[0], vol.shape[1:], ("SYX",), ("ZYX",))
    return Case("in-memory array", stackio, _numpy_side("numpy slicing", vol))


def case_tiff_raw(cfg: Config, vol: np.ndarray, work: Path) -> Case:
    _need(cfg, "tiff")
    import tifffile

    path = D.write_tiff(work / "raw.tif", vol)
    stackio = _stackio_side(str(path), vol.shape[0], vol.shape[1:], ("SYX",), ("ZYX",))
    floor = _numpy_side("tifffile.memmap", tifffile.memmap(path, mode="r"))
    reader = _bioio(cfg, "bioio_tifffile")
    bioio = _bioio_side(path, reader) if reader else None
    return Case("TIFF uncompressed", stackio, floor, bioio, bioio_limit=0.01)


class TileFloor:
    """tifffile's own decode of exactly the tiles a region touches (seek, read, page.decode)."""

    def __init__(self, path: Path) -> None:
        import tifffile

        self.tif = tifffile.TiffFile(path)
        self.pages = [self.tif.pages[i] for i in range(len(self.tif.pages))]
        page = self.pages[0]
        self.th, self.tw = page.tilelength, page.tilewidth
        self.ntx = math.ceil(page.imagewidth / self.tw)
        self.dtype = page.dtype
        self.fh = self.tif.filehandle

    def region(self, z0: int, z1: int, y: int, x: int, h: int, w: int) -> np.ndarray:
        out = np.empty((z1 - z0, h, w), self.dtype)
        th, tw = self.th, self.tw
        for z in range(z0, z1):
            page = self.pages[z]
            decode = page.decode
            for ty in range(y // th, (y + h - 1) // th + 1):
                for tx in range(x // tw, (x + w - 1) // tw + 1):
                    index = ty * self.ntx + tx
                    self.fh.seek(page.dataoffsets[index])
                    tile = decode(self.fh.read(page.databytecounts[index]), index)[0]
                    tile = tile.reshape(th, tw)
                    y0, x0 = ty * th, tx * tw
                    ys, ye = max(y, y0), min(y + h, y0 + th)
                    xs, xe = max(x, x0), min(x + w, x0 + tw)
                    out[z - z0, ys - y : ye - y, xs - x : xe - x] = tile[ys - y0 : ye - y0, xs - x0 : xe - x0]
        return out

    def side(self) -> Side:
        return Side(
            "tifffile tile decode",
            lambda c: self.region(c[0], c[0] + 1, c[1], c[2], *P2)[0],
            lambda c: self.region(c[0], c[0] + P3[0], c[1], c[2], *P2),
        )


def case_tiff_tiled(cfg: Config, vol: np.ndarray, work: Path) -> Case:
    _need(cfg, "tiff")
    path = D.write_tiff_tiled(work / "tiled_zstd.tif", vol)
    stackio = _stackio_side(str(path), vol.shape[0], vol.shape[1:], ("SYX",), ("ZYX",))
    reader = _bioio(cfg, "bioio_tifffile")
    bioio = _bioio_side(path, reader) if reader else None
    return Case("TIFF tiled 128x128 zstd", stackio, TileFloor(path).side(), bioio)


def _case_zarr(cfg: Config, vol: np.ndarray, work: Path, shards: tuple[int, ...] | None) -> Case:
    _need(cfg, "zarr")
    import zarr

    chunks = (16, 128, 128)
    name = "sharded.ome.zarr" if shards else "chunked.ome.zarr"
    path = D.write_ome_zarr(work / name, vol, chunks, shards)
    stackio = _stackio_side(str(path), vol.shape[0], vol.shape[1:], ("SYX",), (None, "ZYX"))
    floor = _numpy_side("zarr slicing", zarr.open_array(str(D.zarr_level(path)), mode="r"))
    reader = _bioio(cfg, "bioio_ome_zarr")
    bioio = _bioio_side(path, reader) if reader else None
    label = f"OME-Zarr v3 chunks {'x'.join(map(str, chunks))}"
    if shards:
        label += f", shards {'x'.join(map(str, shards))}"
    return Case(label, stackio, floor, bioio, bioio_limit=1 / 3)


def case_zarr(cfg: Config, vol: np.ndarray, work: Path) -> Case:
    return _case_zarr(cfg, vol, work, None)


def case_zarr_sharded(cfg: Config, vol: np.ndarray, work: Path) -> Case:
    z, y, x = vol.shape
    return _case_zarr(cfg, vol, work, (min(32, z), min(512, y), min(512, x)))


def _czi_cache_mb() -> float:
    """The decoded-subblock cache each stackio CZI stack holds, so the floor may hold the same."""
    try:
        from stackio_czi.reader import DEFAULT_CACHE_MB
    except ImportError:
        return 0.0
    return float(DEFAULT_CACHE_MB)


def _czi_side(path: Path, cache_mb: float) -> Side:
    from pylibCZIrw import czi as pyczi

    options = pyczi.CacheOptions(max_memory_usage=int(cache_mb * 2**20)) if cache_mb > 0 else None
    reader = pyczi.CziReader(str(path), cache_options=options)

    def read2d(c: Coord) -> np.ndarray:
        z, y, x = c
        return reader.read(roi=(x, y, P2[1], P2[0]), plane={"Z": z, "C": 0, "T": 0})[..., 0]

    def read3d(c: Coord) -> np.ndarray:
        z, y, x = c
        planes = [reader.read(roi=(x, y, P2[1], P2[0]), plane={"Z": k, "C": 0, "T": 0}) for k in range(z, z + P3[0])]
        return np.stack(planes)[..., 0]

    name = "pylibCZIrw ROI read" + (f", {cache_mb:g} MB subblock cache" if cache_mb > 0 else "")
    return Side(name, read2d, read3d)


def _case_czi(cfg: Config, vol: np.ndarray, work: Path, compression: str | None) -> Case:
    _need(cfg, "czi")
    path = D.write_czi(work / ("zstd.czi" if compression else "plain.czi"), vol, compression)
    stackio = _stackio_side(str(path), vol.shape[0], vol.shape[1:], ("SCYX",), ("SCZYX", None))
    cache_mb = _czi_cache_mb() if compression else 0.0  # pylibCZIrw caches compressed subblocks only
    floor = _czi_side(path, cache_mb)
    extra = (_czi_side(path, 0.0),) if cache_mb > 0 else ()
    return Case(f"CZI {'zstd' if compression else 'uncompressed'} (1 subblock/plane)", stackio, floor, extra=extra)


def case_czi(cfg: Config, vol: np.ndarray, work: Path) -> Case:
    return _case_czi(cfg, vol, work, None)


def case_czi_zstd(cfg: Config, vol: np.ndarray, work: Path) -> Case:
    return _case_czi(cfg, vol, work, D.CZI_ZSTD)


def case_ndtiff(cfg: Config, vol: np.ndarray, work: Path) -> Case:
    _need(cfg, "ndtiff")
    from ndstorage import NDTiffDataset

    path = D.write_ndtiff(work / "ndtiff_z", vol)
    stackio = _stackio_side(str(path), vol.shape[0], vol.shape[1:], ("SYX", "SCYX"), (None, "ZYX", "SCZYX"))
    planes: dict[int, np.ndarray] = {}
    with contextlib.redirect_stdout(io.StringIO()):
        dataset = NDTiffDataset(str(path))
        for key, entry in dataset.index.items():
            z = dict(key)["z"]
            planes[z] = np.memmap(
                path / entry.filename,
                dtype=np.uint16,
                mode="r",
                offset=entry.pix_offset,
                shape=(entry.image_height, entry.image_width),
            )
        dataset.close()

    def read2d(c: Coord) -> np.ndarray:
        z, y, x = c
        return np.array(planes[z][y : y + P2[0], x : x + P2[1]])

    def read3d(c: Coord) -> np.ndarray:
        z, y, x = c
        return np.stack([planes[k][y : y + P2[0], x : x + P2[1]] for k in range(z, z + P3[0])])

    return Case("NDTiff", stackio, Side("memmap of each image's pixels", read2d, read3d))


class NullReader:
    """A reader that does no work: every key gets the same preallocated block, which the core returns
    as the patch (a block with no base is the reader's new array). What remains is the core's cost."""

    def __init__(self, shape: tuple[int, ...], block: tuple[int, ...]) -> None:
        self.shape = shape
        self.ndim = len(shape)
        self.dtype = np.dtype(np.uint16)
        self.block = np.zeros(block, self.dtype)

    def __getitem__(self, key: Any) -> np.ndarray:
        return self.block


def _null_sides(volume: tuple[int, int, int], depth: int) -> tuple[Read, Read]:
    """stackio's read of a 2-D (Z planes as samples) or 3-D patch over a `NullReader`, and the reader's own."""
    import stackio

    if depth == 1:
        layout = stackio.Layout.from_axes("SYX", volume)
        reader = NullReader(volume, P2)
        stack = stackio.LazyStack("<null reader>", layout, np.uint16, lambda: reader)
        return (
            lambda c: stack.extract_patch(c[0], None, c[1:], P2),
            lambda c: reader[(c[0], slice(c[1], c[1] + P2[0]), slice(c[2], c[2] + P2[1]))],
        )
    layout = stackio.Layout.from_axes("ZYX", volume)
    reader = NullReader(volume, P3)
    stack = stackio.LazyStack("<null reader>", layout, np.uint16, lambda: reader)
    return lambda c: stack.extract_patch(0, None, c, P3), lambda c: reader[_slices(c, P3[0])]


def run_null(cfg: Config, log: Callable[[str], None]) -> list[Row]:
    """`extract_patch` of a stack over a `NullReader` against the reader called with the same key."""
    rows = []
    for depth, size in ((1, P2), (P3[0], P3)):
        patch, floor = _null_sides(cfg.volume, depth)
        points = coords(cfg.volume, cfg.patches, depth, seed=depth)
        if patch(points[0]).shape != (1, *size):
            raise RuntimeError(f"the null reader's stack returned {patch(points[0]).shape}, not {(1, *size)}")
        times = interleaved({"stackio": patch, "floor": floor}, points, budget=cfg.budget)
        us = {k: median(v) * 1e6 for k, v in times.items()}
        title = f"null reader (the core's fixed cost), {len(size)}-D {'x'.join(map(str, size))}"
        rows.append(
            Row(
                "4",
                title,
                "us/patch",
                us["stackio"],
                "the reader called with the key",
                us["floor"],
                note=f"the core's cost per call: {us['stackio'] - us['floor']:.2f} us (median difference)",
                samples={k: len(v) for k, v in times.items()},
            )
        )
        log(f"  4 {title}: stackio {us['stackio']:.3g} us, reader alone {us['floor']:.3g} us")
    return rows


CASES = [
    case_tiff_raw,
    case_tiff_tiled,
    case_zarr,
    case_zarr_sharded,
    case_czi,
    case_czi_zstd,
    case_ndtiff,
    case_array,
]


def coords(shape: tuple[int, int, int], n: int, depth: int, seed: int) -> list[Coord]:
    rng = np.random.default_rng(seed)
    z, y, x = shape
    return [
        (int(a), int(b), int(c))
        for a, b, c in zip(
            rng.integers(0, z - depth + 1, n),
            rng.integers(0, y - P2[0] + 1, n),
            rng.integers(0, x - P2[1] + 1, n),
            strict=True,
        )
    ]


def _check(case: Case, dim: str, points: list[Coord]) -> str:
    """Every side must return the floor's pixels; the answer is '' or what differs."""
    sides = [case.stackio, *([case.bioio] if case.bioio else [])]
    for c in points:
        want = getattr(case.floor, dim)(c)
        for side in sides:
            got = np.asarray(getattr(side, dim)(c))
            if got.size != want.size or not np.array_equal(got.reshape(want.shape), want):
                return f"{side.name} {dim} patch at {c} differs from {case.floor.name}"
    return ""


def run(cfg: Config, log: Callable[[str], None]) -> list[Row]:
    vol = D.volume(cfg.volume)
    work = cfg.data / "patches"
    work.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = run_null(cfg, log)
    for build in CASES:
        label = build.__name__.removeprefix("case_")
        try:
            case = build(cfg, vol, work)
        except Skip as exc:
            log(f"  4 {label}: skipped ({exc})")
            rows.append(Row.skipped("4", label, "ms/patch", str(exc)))
            continue
        except Exception as exc:
            log(f"  4 {label}: could not set up:\n{traceback.format_exc()}")
            rows.append(Row("4", label, "ms/patch", None, "-", None, note=f"error: {type(exc).__name__}: {exc}"))
            continue
        for dim, depth, shape in (("read2d", 1, P2), ("read3d", P3[0], P3)):
            size = "x".join(map(str, shape))
            title = f"{case.name}, {len(shape)}-D {size}"
            points = coords(cfg.volume, cfg.patches, depth, seed=len(rows) + depth)
            try:
                mismatch = _check(case, dim, points[:10])
                calls = {"stackio": getattr(case.stackio, dim), "floor": getattr(case.floor, dim)}
                if case.bioio:
                    calls["bioio"] = getattr(case.bioio, dim)
                for k, side in enumerate(case.extra):
                    calls[f"extra{k}"] = getattr(side, dim)
                times = interleaved(calls, points, limits={"bioio": cfg.bioio_patches}, budget=cfg.budget)
            except Exception as exc:
                log(f"  4 {title}: failed:\n{traceback.format_exc()}")
                rows.append(Row("4", title, "ms/patch", None, "-", None, note=f"error: {type(exc).__name__}: {exc}"))
                continue
            ms = {k: median(v) * 1e3 for k, v in times.items()}
            mean = {k: sum(v) / len(v) * 1e3 for k, v in times.items()}
            n = {k: len(v) for k, v in times.items()}
            note = case.stackio.note
            mean_ratio = mean["stackio"] / mean["floor"]
            if abs(mean_ratio / (ms["stackio"] / ms["floor"]) - 1) > 0.25:  # bimodal times (e.g. cache hits)
                note += (
                    f"; means differ from medians: {mean['stackio']:.3g} vs {mean['floor']:.3g} ms, "
                    f"ratio {mean_ratio:.2f}"
                )
            if mismatch:
                note = f"WRONG PIXELS: {mismatch}; {note}"
            row = Row(
                "4",
                title,
                "ms/patch",
                ms["stackio"],
                case.floor.name,
                ms["floor"],
                "<= 1.2x",
                1.2,
                note=note,
                samples={"stackio": n["stackio"], "floor": n["floor"]},
            )
            if mismatch:
                row.passed = False
            rows.append(row)
            if "bioio" in ms:
                limit = case.bioio_limit
                target = "" if limit is None else f"<= {limit:.3g}x ({1 / limit:.0f}x faster)"
                rows.append(
                    Row(
                        "4",
                        title,
                        "ms/patch",
                        ms["stackio"],
                        "bioio (dask)",
                        ms["bioio"],
                        target,
                        limit,
                        samples={"stackio": n["stackio"], "bioio": n["bioio"]},
                    )
                )
            for k, side in enumerate(case.extra):
                rows.append(
                    Row(
                        "4",
                        title,
                        "ms/patch",
                        ms["stackio"],
                        side.name,
                        ms[f"extra{k}"],
                        samples={"stackio": n["stackio"], side.name: n[f"extra{k}"]},
                    )
                )
            log(f"  4 {title}: " + ", ".join(f"{k} {v:.4g} ms (n={n[k]})" for k, v in ms.items()))
    return rows
