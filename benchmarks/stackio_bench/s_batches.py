"""Scenario 9: batches of 64 random 2-D and 3-D patches per format.

stackio's batched read (`read_patches`) against (a) the format library's floor called per patch (the
floors of scenario 4), (b) stackio's own per-patch loop, and (c) for compressed chunked formats the true
floor: the format library with each tile, chunk or subblock the batch touches decoded once. Then PyTorch
DataLoader throughput over the same files with 0 and 2 workers, against CAREamics' own dataset where it
is installed. All in one run, interleaved.
"""

from __future__ import annotations

import itertools
import math
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from . import data as D
from . import s_patches as P
from .config import Config
from .util import Row, have, interleaved, median

BATCH = 64
Batch = np.ndarray  # (BATCH, 3) corners z, y, x
Read = Callable[[Batch], np.ndarray]


def _load(source: str, shape: tuple[int, ...], candidates: tuple[Any, ...]) -> Any:
    import stackio

    for axes in candidates:
        try:
            stacks = stackio.load(source, axes)
        except stackio.StackioError:
            continue
        if len(stacks) == 1 and tuple(stacks[0].data_shape) == shape:
            return stacks[0]
    return None


def _batched(s2: Any, s3: Any) -> tuple[Read, Read]:
    import stackio

    def read2d(b: Batch) -> np.ndarray:
        if s2 is None:
            return stackio.read_patches(s3, 0, b, (1, *P.P2))[:, :, 0]
        return stackio.read_patches(s2, b[:, 0], b[:, 1:], P.P2)

    def read3d(b: Batch) -> np.ndarray:
        return stackio.read_patches(s3, 0, b, P.P3)

    return read2d, read3d


def _per_patch(side: P.Side) -> tuple[Read, Read]:
    def read2d(b: Batch) -> np.ndarray:
        return np.stack([np.asarray(side.read2d(tuple(int(v) for v in c))).reshape(P.P2) for c in b])

    def read3d(b: Batch) -> np.ndarray:
        return np.stack([np.asarray(side.read3d(tuple(int(v) for v in c))).reshape(P.P3) for c in b])

    return read2d, read3d


# -- true floors: each tile, chunk or subblock of a batch decoded once ---------------------------------


class TileOnce(P.TileFloor):
    """tifffile's tile decode, each tile a batch touches decoded once."""

    def batch(self, b: Batch, depth: int) -> np.ndarray:
        cache: dict[tuple[int, int], np.ndarray] = {}
        th, tw = self.th, self.tw
        h, w = P.P2
        out = np.empty((len(b), depth, h, w), self.dtype)
        for i, (z0, y, x) in enumerate(b.tolist()):
            for z in range(z0, z0 + depth):
                page = self.pages[z]
                for ty in range(y // th, (y + h - 1) // th + 1):
                    for tx in range(x // tw, (x + w - 1) // tw + 1):
                        index = ty * self.ntx + tx
                        tile = cache.get((z, index))
                        if tile is None:
                            self.fh.seek(page.dataoffsets[index])
                            tile = page.decode(self.fh.read(page.databytecounts[index]), index)[0].reshape(th, tw)
                            cache[(z, index)] = tile
                        y0, x0 = ty * th, tx * tw
                        ys, ye = max(y, y0), min(y + h, y0 + th)
                        xs, xe = max(x, x0), min(x + w, x0 + tw)
                        out[i, z - z0, ys - y : ye - y, xs - x : xe - x] = tile[ys - y0 : ye - y0, xs - x0 : xe - x0]
        return out

    def reads(self) -> tuple[Read, Read]:
        return (lambda b: self.batch(b, 1)[:, 0]), (lambda b: self.batch(b, P.P3[0]))


def _zarr_once(array: Any) -> tuple[Read, Read]:
    """zarr reading each chunk a batch touches once (one slice per chunk), assembled in numpy."""
    chunks = tuple(int(c) for c in array.chunks)
    shape = tuple(int(n) for n in array.shape)

    def batch(b: Batch, depth: int) -> np.ndarray:
        size = (depth, *P.P2)
        out = np.empty((len(b), *size), array.dtype)
        cache: dict[tuple[int, ...], np.ndarray] = {}
        for i, corner in enumerate(b.tolist()):
            ranges = [range(c // k, (c + s - 1) // k + 1) for c, s, k in zip(corner, size, chunks, strict=True)]
            for index in itertools.product(*ranges):
                block = cache.get(index)
                if block is None:
                    key = tuple(slice(j * k, min((j + 1) * k, n)) for j, k, n in zip(index, chunks, shape, strict=True))
                    block = cache[index] = np.asarray(array[key])
                src, dst = [], []
                for c, s, j, k in zip(corner, size, index, chunks, strict=True):
                    lo, hi = max(c, j * k), min(c + s, (j + 1) * k)
                    src.append(slice(lo - j * k, hi - j * k))
                    dst.append(slice(lo - c, hi - c))
                out[(i, *dst)] = block[tuple(src)]
        return out

    return (lambda b: batch(b, 1)[:, 0]), (lambda b: batch(b, P.P3[0]))


def _czi_once(path: Path) -> tuple[Read, Read]:
    """pylibCZIrw reading each plane a batch touches once (one subblock per plane), patches cropped."""
    from pylibCZIrw import czi as pyczi

    reader = pyczi.CziReader(str(path))
    box = reader.total_bounding_rectangle
    h, w = P.P2

    def batch(b: Batch, depth: int) -> np.ndarray:
        out = np.empty((len(b), depth, h, w), np.uint16)
        planes: dict[int, np.ndarray] = {}
        for i, (z0, y, x) in enumerate(b.tolist()):
            for z in range(z0, z0 + depth):
                plane = planes.get(z)
                if plane is None:
                    roi = (box.x, box.y, box.w, box.h)
                    plane = planes[z] = reader.read(roi=roi, plane={"Z": z, "C": 0, "T": 0})[..., 0]
                out[i, z - z0] = plane[y : y + h, x : x + w]
        return out

    return (lambda b: batch(b, 1)[:, 0]), (lambda b: batch(b, P.P3[0]))


# -- the cases --------------------------------------------------------------------------------------------


def _cases(cfg: Config, vol: np.ndarray, work: Path) -> list[tuple[str, Callable[[], Any]]]:
    z, y, x = vol.shape
    s3 = (1, 1, z, y, x)
    s2 = (z, 1, y, x)

    def tiff_raw() -> Any:
        case = P.case_tiff_raw(cfg, vol, work)
        path = str(work / "raw.tif")
        return case, _load(path, s2, ("SYX",)), _load(path, s3, ("ZYX",)), None, False

    def tiff_tiled() -> Any:
        case = P.case_tiff_tiled(cfg, vol, work)
        path = work / "tiled_zstd.tif"
        return case, _load(str(path), s2, ("SYX",)), _load(str(path), s3, ("ZYX",)), TileOnce(path).reads(), True

    def zarr_case(sharded: bool) -> Callable[[], Any]:
        def build() -> Any:
            import zarr

            case = P.case_zarr_sharded(cfg, vol, work) if sharded else P.case_zarr(cfg, vol, work)
            path = work / ("sharded.ome.zarr" if sharded else "chunked.ome.zarr")
            once = _zarr_once(zarr.open_array(str(D.zarr_level(path)), mode="r"))
            return case, _load(str(path), s2, ("SYX",)), _load(str(path), s3, (None, "ZYX")), once, True

        return build

    def czi_case(compressed: bool) -> Callable[[], Any]:
        def build() -> Any:
            case = P.case_czi_zstd(cfg, vol, work) if compressed else P.case_czi(cfg, vol, work)
            path = work / ("zstd.czi" if compressed else "plain.czi")
            once = _czi_once(path) if compressed else None
            return case, _load(str(path), s2, ("SCYX",)), _load(str(path), s3, ("SCZYX", None)), once, compressed

        return build

    def ndtiff() -> Any:
        case = P.case_ndtiff(cfg, vol, work)
        path = str(work / "ndtiff_z")
        return case, _load(path, s2, ("SYX", "SCYX")), _load(path, s3, (None, "ZYX", "SCZYX")), None, False

    def array() -> Any:
        case = P.case_array(cfg, vol, work)
        return case, _load(vol, s2, ("SYX",)), _load(vol, s3, ("ZYX",)), None, False

    return [
        ("tiff_raw", tiff_raw),
        ("tiff_tiled", tiff_tiled),
        ("zarr", zarr_case(False)),
        ("zarr_sharded", zarr_case(True)),
        ("czi", czi_case(False)),
        ("czi_zstd", czi_case(True)),
        ("ndtiff", ndtiff),
        ("array", array),
    ]


def batches(shape: tuple[int, int, int], n: int, depth: int, seed: int) -> list[Batch]:
    rng = np.random.default_rng(seed)
    z, y, x = shape
    return [
        np.stack(
            [
                rng.integers(0, z - depth + 1, BATCH),
                rng.integers(0, y - P.P2[0] + 1, BATCH),
                rng.integers(0, x - P.P2[1] + 1, BATCH),
            ],
            axis=1,
        )
        for _ in range(n)
    ]


def run(cfg: Config, log: Callable[[str], None]) -> list[Row]:
    vol = D.volume(cfg.volume)
    work = cfg.data / "patches"
    work.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    n_batches = max(6, math.ceil(cfg.patches / BATCH) * 2)
    for label, build in _cases(cfg, vol, work):
        try:
            case, s2, s3, once, compressed = build()
            if s3 is None:
                raise RuntimeError("stackio could not load the file as one Z stack")
        except P.Skip as exc:
            log(f"  9 {label}: skipped ({exc})")
            rows.append(Row.skipped("9", label, "ms/patch", str(exc)))
            continue
        except Exception as exc:
            log(f"  9 {label}: could not set up:\n{traceback.format_exc()}")
            rows.append(Row("9", label, "ms/patch", None, "-", None, note=f"error: {type(exc).__name__}: {exc}"))
            continue
        batched = _batched(s2, s3)
        loop = _per_patch(case.stackio)
        floor = _per_patch(case.floor)
        for k, (dim, depth, size) in enumerate((("2-D", 1, P.P2), ("3-D", P.P3[0], P.P3))):
            title = f"{case.name}, batches of {BATCH} {dim} {'x'.join(map(str, size))}"
            calls = {"batched": batched[k], "loop": loop[k], "floor": floor[k]}
            if once is not None:
                calls["once"] = once[k]
            args = batches(cfg.volume, n_batches, depth, seed=100 + len(rows))
            try:
                want = calls["floor"](args[0])
                wrong = [
                    n
                    for n, call in calls.items()
                    if not np.array_equal(np.asarray(call(args[0])).reshape(want.shape), want)
                ]
                times = interleaved(calls, args, budget=cfg.budget, min_samples=5, warmup=1)
            except Exception as exc:
                log(f"  9 {title}: failed:\n{traceback.format_exc()}")
                rows.append(Row("9", title, "ms/patch", None, "-", None, note=f"error: {type(exc).__name__}: {exc}"))
                continue
            ms = {n: median(v) * 1e3 / BATCH for n, v in times.items()}
            n = {k2: len(v) for k2, v in times.items()}
            note = f"WRONG PIXELS from {wrong}" if wrong else ""
            limit, target = (1.0, "< 1x (shared decodes)") if compressed else (1.1, "<= 1.1x")
            row = Row(
                "9",
                title,
                "ms/patch",
                ms["batched"],
                f"floor per patch: {case.floor.name}",
                ms["floor"],
                target,
                limit,
                note=note,
                samples={"batched": n["batched"], "floor": n["floor"]},
            )
            if wrong:
                row.passed = False
            rows.append(row)
            rows.append(
                Row(
                    "9",
                    title,
                    "ms/patch",
                    ms["batched"],
                    "stackio per-patch loop",
                    ms["loop"],
                    samples={"batched": n["batched"], "loop": n["loop"]},
                )
            )
            if "once" in ms:
                rows.append(
                    Row(
                        "9",
                        title,
                        "ms/patch",
                        ms["batched"],
                        "true floor: each chunk decoded once",
                        ms["once"],
                        samples={"batched": n["batched"], "once": n["once"]},
                    )
                )
            log(f"  9 {title}: " + ", ".join(f"{k2} {v:.4g} ms/patch (n={n[k2]})" for k2, v in ms.items()))
        for stack in (s2, s3):
            close = getattr(stack, "close", None)
            if callable(close):
                close()
    rows += _dataloader(cfg, vol, work, log)
    return rows


# -- DataLoader throughput ------------------------------------------------------------------------------


def careamics_version() -> str:
    from importlib.metadata import version

    return version("careamics")


def _dataloader(cfg: Config, vol: np.ndarray, work: Path, log: Callable[[str], None]) -> list[Row]:
    if not have("torch"):
        return [Row.skipped("9", "DataLoader", "patches/s", "torch is not installed (pip install 'stackio[torch]')")]
    rows: list[Row] = []
    n_patches = max(BATCH * 4, cfg.patches)
    try:
        from stackio.testing.careamics import import_careamics

        import_careamics()
        careamics_missing = None
    except Exception as exc:  # not installed, or its torchvision does not import with this torch
        careamics_missing = f"careamics not importable ({type(exc).__name__}: {exc})"
    work_zarr = work / "chunked.ome.zarr"
    sources = {
        # name: (stackio's source, CAREamics' data type and source for the same pixels)
        "TIFF uncompressed": (str(work / "raw.tif"), ("tiff", [work / "raw.tif"])),
        "OME-Zarr chunked": (str(work_zarr), ("zarr", [f"file://{D.zarr_level(work_zarr)}"])),
    }
    for name, (source, theirs) in sources.items():
        if not Path(source).exists():
            rows.append(Row.skipped("9", f"DataLoader, {name}", "patches/s", "file not written (format not installed)"))
            continue
        rows += _loader_rows(name, source, None if careamics_missing else theirs, n_patches, log)
        if careamics_missing:
            case = f"DataLoader vs CAREamics' own dataset, {name}"
            rows.append(Row.skipped("9", case, "patches/s", careamics_missing))
    return rows


class _Epochs:
    """One DataLoader kept for the whole run, its workers persistent (as CAREamics configures its own):
    the first epoch starts the workers and is timed apart (`startup`, seconds); each later call is one epoch."""

    def __init__(self, make: Callable[[], Any], new_epoch: Callable[[int], None]) -> None:
        self.make = make
        self.new_epoch = new_epoch
        self.loader: Any = None
        self.epoch = 0
        self.startup = 0.0

    def start(self) -> None:
        t0 = time.perf_counter()
        self.loader = self.make()
        self()
        self.startup = time.perf_counter() - t0

    def __call__(self) -> None:
        self.new_epoch(self.epoch)
        self.epoch += 1
        for _ in self.loader:
            pass

    def close(self) -> None:
        shutdown = getattr(getattr(self.loader, "_iterator", None), "_shutdown_workers", None)
        if shutdown is not None:  # persistent workers: stop them now, not when the loader is collected
            shutdown()
        self.loader = None


def _careamics_epochs(data_type: str, source: list[Any], n_patches: int, workers: int) -> _Epochs:
    """`n_patches` random 64x64 patches per epoch through CAREamics' own dataset and a DataLoader (its
    collate, persistent workers as CAREamics sets them), the Z planes as samples, no normalization or
    augmentation (stackio's dataset does neither); new random patches each epoch."""
    import torch
    from careamics.config import create_advanced_n2v_config
    from careamics.dataset.factory.factory import create_dataset

    config = create_advanced_n2v_config(
        experiment_name="bench",
        data_type=data_type,
        axes="SYX",
        patch_size=P.P2,
        batch_size=BATCH,
        augmentations=[],
        normalization="none",
        num_workers=workers,
        seed=1,
    )
    dataset = create_dataset(config.data_config, source, None)
    generator = torch.Generator().manual_seed(1)

    def make() -> Any:
        # random patches drawn from CAREamics' own patch grid, as many as stackio's epoch has
        sampler = torch.utils.data.RandomSampler(dataset, replacement=True, num_samples=n_patches, generator=generator)
        context = "fork" if workers else None
        return torch.utils.data.DataLoader(
            dataset,
            batch_size=BATCH,
            sampler=sampler,
            num_workers=workers,
            multiprocessing_context=context,
            persistent_workers=workers > 0,
        )

    return _Epochs(make, lambda epoch: None)


def _loader_rows(
    name: str, source: str, theirs: tuple[str, list[Any]] | None, n_patches: int, log: Callable[[str], None]
) -> list[Row]:
    """Epochs of `n_patches` 64x64 patches through a DataLoader (0 and 2 persistent fork workers, new
    patches each epoch) and in-process; with `theirs` (CAREamics' data type and sources), the same through
    CAREamics' own dataset. Worker start-up (the first epoch) is reported apart from the epochs timed."""
    import stackio
    import stackio.torch as st
    from stackio.sampling import RandomPatches

    stacks = stackio.load(source, None)  # Z x Y x X; 2-D patches are 1 x 64 x 64
    size = (1, *P.P2)
    sampler = RandomPatches(stacks, size, n_patches, seed=1)
    table = sampler.table()

    def in_process() -> None:
        for i in range(0, n_patches, BATCH):
            stackio.read_patches(stacks[0], table["sample"][i : i + BATCH], table["coords"][i : i + BATCH], size)

    def ours(workers: int) -> _Epochs:
        dataset = st.PatchDataset(RandomPatches(stacks, size, n_patches, seed=1))
        context = "fork" if workers else None
        options = {"num_workers": workers, "multiprocessing_context": context, "persistent_workers": workers > 0}
        return _Epochs(lambda: st.loader(dataset, BATCH, **options), dataset.set_epoch)

    epochs = {"workers0": ours(0), "workers2": ours(2)}
    rows: list[Row] = []
    if theirs is not None:
        try:
            epochs |= {f"careamics{k}": _careamics_epochs(*theirs, n_patches, k) for k in (0, 2)}
        except Exception as exc:
            log(f"  9 CAREamics' dataset over {name}: could not set up:\n{traceback.format_exc()}")
            case = f"DataLoader vs CAREamics' own dataset, {name}"
            rows.append(Row("9", case, "patches/s", None, "-", None, note=f"error: {type(exc).__name__}: {exc}"))
            theirs = None
    try:
        for loader in epochs.values():
            loader.start()
        calls: dict[str, Callable[[], None]] = {"read_patches": in_process, **epochs}
        times: dict[str, list[float]] = {k: [] for k in calls}
        for _ in range(3):
            for k, call in calls.items():
                t0 = time.perf_counter()
                call()
                times[k].append(time.perf_counter() - t0)
    finally:
        for loader in epochs.values():
            loader.close()
    rate = {k: n_patches / median(v) for k, v in times.items()}
    first = {k: loader.startup for k, loader in epochs.items()}
    steady = f"epochs of {n_patches}, persistent workers; first epoch, with worker start-up, apart"
    rows += [
        Row(
            "9",
            f"DataLoader, {name}, 64x64, num_workers={workers[-1]}",
            "s/1000 patches",
            1000 / rate[workers],
            "batched reads in one process, no DataLoader",
            1000 / rate["read_patches"],
            note=f"{rate[workers]:.0f} patches/s ({steady}: {first[workers]:.2f} s)",
            samples={"stackio": 3, "baseline": 3},
        )
        for workers in ("workers0", "workers2")
    ]
    rows += [
        Row(
            "9",
            f"DataLoader vs CAREamics' own dataset, {name}, 64x64, num_workers={k}",
            "s/1000 patches",
            1000 / rate[f"workers{k}"],
            f"CAREamics {careamics_version()} dataset ({theirs[0]}), its DataLoader",
            1000 / rate[f"careamics{k}"],
            "<= 1x (at least as fast)",
            1.0,
            note=(
                f"stackio {rate[f'workers{k}']:.0f}, CAREamics {rate[f'careamics{k}']:.0f} patches/s ({steady}: "
                f"stackio {first[f'workers{k}']:.2f} s, CAREamics {first[f'careamics{k}']:.2f} s)"
            ),
            samples={"stackio": 3, "baseline": 3},
        )
        for k in (0, 2)
        if theirs is not None
    ]
    log(f"  9 DataLoader {name}: " + ", ".join(f"{k} {v:.0f} patches/s" for k, v in rate.items()))
    return rows
