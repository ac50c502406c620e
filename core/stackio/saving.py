"""`stackio.save`: route a destination to the format that writes it, then copy stacks region by region."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from .destination import Destination
from .errors import StackioError, UnsupportedFormatError, ValidationError, WriteError
from .metadata import Metadata
from .pyramids import auto_levels
from .registry import FormatEntry, Registry, get_registry
from .writing import DatasetWriter, ImageSpec, ImageWriter, Progress, WriteRequest, grid, spec_for_stack

#: Bytes of one region a worker reads and writes at a time (a whole number of chunks or shards).
REGION_BYTES = 16 * 2**20
#: Bytes read from a lazy source between two releases of its open files (see `_Releaser`).
RELEASE_BYTES = 64 * 2**20


# -- which format writes a destination -----------------------------------------------------


def _suffixes(path: Path) -> list[str]:
    parts = path.name.lower().split(".")[1:]
    return ["." + ".".join(parts[i:]) for i in range(len(parts)) if all(parts[i:])]


def writable(registry: Registry) -> list[FormatEntry]:
    return [e for e in registry.formats() if getattr(e.spec, "writes", ())]


def _offer(registry: Registry) -> str:
    entries = writable(registry)
    if not entries:
        return "no installed format writes (install stackio-zarr or stackio-tiff)"
    return "; ".join(f"{e.name}: {', '.join(e.spec.writes)}" for e in entries)


def choose_writer(registry: Registry, dest: Path, format: str | None) -> FormatEntry:
    """The format that writes `dest`: `format=` if given, else the longest suffix a format writes."""
    if format is not None:
        entry = registry.format(format)
        if entry is None or not getattr(entry.spec, "writes", ()):
            why = "is not installed" if entry is None else "reads but does not write"
            raise UnsupportedFormatError(
                f"{dest}: format={format!r} {why}; formats that write: {_offer(registry)}", source=str(dest)
            )
        return entry
    for suffix in _suffixes(dest):
        for entry in writable(registry):
            if suffix in entry.spec.writes:
                return entry
    what = f"the suffix {_suffixes(dest)[0]}" if _suffixes(dest) else "a name without a suffix"
    raise UnsupportedFormatError(
        f"{dest}: no installed format writes {what}; "
        f"name the destination with a suffix a format writes, or pass format=. Formats that write: {_offer(registry)}",
        source=str(dest),
    )


def open_writer(registry: Registry, entry: FormatEntry, request: WriteRequest) -> DatasetWriter:
    accepted = tuple(getattr(entry.spec, "write_options", ()))
    unknown = sorted(set(request.options) - set(accepted))
    if unknown:
        raise ValidationError(
            f"{request.dest}: the {entry.name} writer does not take the option(s) {', '.join(unknown)}; "
            f"it accepts: {', '.join(accepted) or 'none'}",
            source=str(request.dest),
        )
    return entry.open_writer(request)


# -- what to write ----------------------------------------------------------------------------


def _is_stack(value: Any) -> bool:
    return hasattr(value, "extract_patch") and hasattr(value, "data_shape")


def as_stacks(data: Any, axes: str | None) -> list[Any]:
    """The stacks `save` writes: a stack, a list of stacks, an array (with axes) or a `load` source."""
    from .api import load, require_axes
    from .stacks import ArrayStack

    if _is_stack(data):
        return [data]
    if isinstance(data, (list, tuple)) and data and all(_is_stack(d) for d in data):
        return list(data)
    if isinstance(data, np.ndarray):
        axes = require_axes(axes, data.shape, "<array>", " to save an array (it carries no axes)")
        return [ArrayStack.from_axes(data, axes)]
    return load(data, axes)


def levels_for(pyramid: int | str, spatial: Sequence[int], dest: Path) -> int:
    if pyramid == "auto":
        return auto_levels(spatial)
    if isinstance(pyramid, bool) or not isinstance(pyramid, int) or pyramid < 1:
        raise ValidationError(
            f"{dest}: pyramid must be a number of levels (1 = full resolution only) or 'auto', not {pyramid!r}",
            source=str(dest),
        )
    return pyramid


def block_shape(value: Sequence[int] | None, shape: Sequence[int], what: str, dest: Path) -> tuple[int, ...] | None:
    """Chunks or shards given as (Z)YX or SC(Z)YX, as SC(Z)YX.

    Given spatially, a chunk holds one sample and one channel, a shard one sample and every channel.
    """
    if value is None:
        return None
    out = tuple(value)
    spatial = len(shape) - 2
    if len(out) == spatial:
        out = (1, shape[1] if what == "shards" else 1, *out)
    if len(out) != len(shape) or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in out):
        raise ValidationError(
            f"{dest}: {what} {tuple(value)!r} must be {spatial} positive ints ((Z)YX) or {len(shape)} (SC(Z)YX) "
            f"for data of shape {tuple(shape)}",
            source=str(dest),
        )
    return tuple(min(n, s) for n, s in zip(out, shape, strict=True))


def merged_metadata(base: Metadata | None, given: Metadata | Mapping[str, Any] | None) -> Metadata:
    base = base if base is not None else Metadata()
    if given is None:
        return base
    fields = given.to_dict() if isinstance(given, Metadata) else dict(given)
    unknown = sorted(set(fields) - {"voxel_size", "units", "offset", "axis_names", "channel_names"})
    if unknown:
        raise ValidationError(
            f"metadata keys {unknown} are unknown; use voxel_size, units, offset, axis_names, channel_names"
        )
    return attrs.evolve(base, **{k: v for k, v in fields.items() if v is not None})


# -- copying ----------------------------------------------------------------------------------


def region_step(spec: ImageSpec, units: Sequence[int] | None, target: int = REGION_BYTES) -> tuple[int, ...]:
    """A region of whole units (chunks or shards), all channels, grown up to about `target` bytes.

    X grows first, then Y, then Z, so a region is as contiguous as the units allow.
    """
    base = list(units) if units is not None else [1, spec.shape[1], *[min(n, 256) for n in spec.shape[2:]]]
    step = [1, spec.shape[1], *base[2:]]
    while math.prod(step) * spec.dtype.itemsize * 2 <= target:
        growable = [a for a in range(len(step) - 1, 1, -1) if step[a] < spec.shape[a]]
        if not growable:
            break
        step[growable[0]] *= 2
    return tuple(step)


def copy_stack(
    stack: Any,
    spec: ImageSpec,
    writer: ImageWriter,
    *,
    workers: int = 1,
    client: Any = None,
    progress: Progress | None = None,
) -> None:
    """Read `stack` region by region through `extract_patch` and write each region with `writer`."""
    pull = getattr(writer, "pull", None)
    if callable(pull):  # a writer that must write in its own order (a TIFF's pages and tiles)
        pull(stack.extract_patch, progress)
        return
    step = region_step(spec, writer.units)
    regions = [
        (start[0], start[2:], size[2:])
        for start, size in grid(spec.shape, step)
        if start[1] == 0  # every region carries all channels
    ]
    if client is not None:
        _copy_distributed(client, stack, writer, regions, progress)
        return

    releaser = _Releaser(stack)

    def one(region: tuple[int, tuple[int, ...], tuple[int, ...]]) -> None:
        sample, coords, size = region
        block = stack.extract_patch(sample, None, coords, size)
        writer.write(sample, coords, block)
        releaser.read(block.nbytes)
        if progress is not None:
            progress(1)

    if workers <= 1:
        for region in regions:
            one(region)
        return
    # at most 2 regions per worker in flight, so memory stays a few regions per worker
    slots = threading.BoundedSemaphore(2 * workers)
    failures: list[BaseException] = []

    def release(future: Future[None]) -> None:
        if not future.cancelled() and future.exception() is not None:
            failures.append(future.exception())  # type: ignore[arg-type]
        slots.release()

    with ThreadPoolExecutor(workers, thread_name_prefix="stackio-write") as pool:
        futures: list[Future[None]] = []
        for region in regions:
            slots.acquire()
            if failures:
                slots.release()
                break
            future = pool.submit(one, region)
            future.add_done_callback(release)
            futures.append(future)
        wait(futures)
    if failures:
        raise failures[0]


class _Releaser:
    """Closes a lazy source every RELEASE_BYTES read, so the pages of a memory-mapped file that were
    already copied leave the process (a copy reads each byte once; the next read reopens the file)."""

    def __init__(self, stack: Any) -> None:
        from .stacks import LazyStack

        self._stack = stack if isinstance(stack, LazyStack) else None
        self._count = 0
        self._lock = threading.Lock()

    def read(self, nbytes: int) -> None:
        if self._stack is None:
            return
        with self._lock:
            self._count += nbytes
            if self._count < RELEASE_BYTES:
                return
            self._count = 0
        self._stack.close()


def _write_region(stack: Any, writer: Any, sample: int, coords: tuple[int, ...], size: tuple[int, ...]) -> Any:
    writer.write(sample, coords, stack.extract_patch(sample, None, coords, size))
    return getattr(writer, "ranges", None)  # what the worker's copy saw, for the writer in this process


def _merge_ranges(writer: Any, seen: Any) -> None:
    ranges = getattr(writer, "ranges", None)
    if not isinstance(ranges, dict) or not seen:
        return
    for channel, (low, high) in seen.items():
        old = ranges.get(channel)
        ranges[channel] = (low, high) if old is None else (min(old[0], low), max(old[1], high))


def _copy_distributed(client: Any, stack: Any, writer: Any, regions: list[Any], progress: Progress | None) -> None:
    from distributed import as_completed  # only with a client the caller made

    stack_f, writer_f = client.scatter([stack, writer], broadcast=True)
    futures = [client.submit(_write_region, stack_f, writer_f, *r, pure=False) for r in regions]
    for future in as_completed(futures):
        _merge_ranges(writer, future.result())
        if progress is not None:
            progress(1)


def count_work(spec: ImageSpec, writer: ImageWriter) -> int:
    """How many progress steps writing `spec` takes: regions, or planes for a writer that pulls."""
    if callable(getattr(writer, "pull", None)):
        return math.prod(spec.shape[:2]) * (spec.shape[2] if len(spec.shape) == 5 else 1)
    step = region_step(spec, writer.units)
    return math.prod(math.ceil(n / s) for n, s in zip(spec.shape, step, strict=True))


# -- save -------------------------------------------------------------------------------------


def write_stacks(
    stacks: Sequence[Any],
    dest: str | os.PathLike[str],
    *,
    format: str | None = None,
    metadata: Metadata | Mapping[str, Any] | None = None,
    overwrite: bool = False,
    labels: Mapping[str, Any] | None = None,
    chunks: Sequence[int] | None = None,
    shards: Sequence[int] | None = None,
    pyramid: int | str = 1,
    workers: int = 1,
    client: Any = None,
    progress: Any = None,
    sources: Sequence[object] = (),
    options: dict[str, Any] | None = None,
) -> Path:
    registry = get_registry()
    target = Destination(dest, overwrite=overwrite, sources=[*sources, *(s.source for s in stacks)])
    entry = choose_writer(registry, target.path, format)
    if metadata is not None and len(stacks) != 1:
        raise ValidationError(f"{target.path}: metadata= applies to one image, but {len(stacks)} are written")
    specs = []
    for stack in stacks:
        spec = spec_for_stack(stack)
        spec = attrs.evolve(
            spec,
            metadata=merged_metadata(spec.metadata, metadata),
            chunks=block_shape(chunks, spec.shape, "chunks", target.path),
            shards=block_shape(shards, spec.shape, "shards", target.path),
            levels=levels_for(pyramid, spec.spatial_shape, target.path),
        )
        specs.append(spec)
    label_stacks = _label_stacks(labels, stacks, specs, target.path)
    for name, stack in label_stacks:
        spec = spec_for_stack(stack)
        # labels lie on the image's grid: they take its voxel size, offset and units unless they say their own
        image_meta = attrs.evolve(specs[0].metadata, channel_names=None, axis_names=None)
        specs.append(
            attrs.evolve(
                spec,
                metadata=merged_metadata(image_meta, spec.metadata.to_dict()),
                labels=True,
                name=name,
                label_of=0,
                chunks=block_shape(chunks, spec.shape, "chunks", target.path),
                shards=block_shape(shards, spec.shape, "shards", target.path),
                levels=specs[0].levels,
            )
        )
    all_stacks = [*stacks, *(s for _, s in label_stacks)]
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValidationError(f"{target.path}: workers must be at least 1, not {workers!r}", source=str(target.path))
    request = WriteRequest(target.partial, target.path, tuple(specs), dict(options or {}), workers)
    try:
        writer = open_writer(registry, entry, request)
    except BaseException:
        target.discard()
        raise
    bar = progress_bar(
        progress,
        sum(count_work(s, w) for s, w in zip(specs, writer.images, strict=True)),
        f"writing {target.path.name}",
    )
    try:
        for stack, spec, image in zip(all_stacks, specs, writer.images, strict=True):
            copy_stack(stack, spec, image, workers=workers, client=client, progress=bar.update if bar else None)
        writer.finish(bar.update if bar else None)
        target.commit()
    except BaseException as exc:
        target.discard()
        if isinstance(exc, StackioError):
            raise type(exc)(
                f"{exc} -- nothing was written at {target.path} (the partial output was removed)", source=exc.source
            ) from exc
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise WriteError(
            f"{target.path}: writing failed part-way ({type(exc).__name__}: {exc}); nothing was written at the "
            "destination (the partial output was removed)",
            source=str(target.path),
        ) from exc
    finally:
        if bar is not None:
            bar.close()
    return target.path


def _label_stacks(
    labels: Mapping[str, Any] | None, stacks: Sequence[Any], specs: Sequence[ImageSpec], dest: Path
) -> list[tuple[str, Any]]:
    from .stacks import ArrayStack

    if not labels:
        return []
    if len(stacks) != 1:
        raise ValidationError(f"{dest}: labels= go with one image, but {len(stacks)} are written", source=str(dest))
    image = specs[0]
    out = []
    for name, value in labels.items():
        if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
            raise ValidationError(f"{dest}: a label name must be a plain name, not {name!r}", source=str(dest))
        if isinstance(value, np.ndarray):
            axes = image.disk_axes.replace("C", "")
            if value.ndim != len(axes):
                raise ValidationError(
                    f"{dest}: labels {name!r} has shape {value.shape}; as an array it must have the image's axes "
                    f"without C ({axes}), or pass a stack",
                    source=str(dest),
                )
            value = ArrayStack.from_axes(value, axes, source=f"<labels {name}>")
        if not _is_stack(value):
            raise ValidationError(f"{dest}: labels {name!r} must be a stack or an array", source=str(dest))
        shape = tuple(value.data_shape)
        if shape[0] != image.shape[0] or shape[2:] != image.shape[2:] or shape[1] != 1:
            raise ValidationError(
                f"{dest}: labels {name!r} have shape {shape} ({value.axes}) but the image has {image.shape} "
                f"({image.axes}); labels need one channel and the image's samples and spatial shape",
                source=str(dest),
            )
        if np.dtype(value.data_dtype).kind not in "iu":
            raise ValidationError(
                f"{dest}: labels {name!r} are {value.data_dtype}; label images hold integer ids (e.g. uint32)",
                source=str(dest),
            )
        out.append((name, value))
    return out


class _Bar:
    def __init__(self, bar: Any) -> None:
        self._bar = bar
        self._lock = threading.Lock()

    def update(self, n: int) -> None:
        with self._lock:
            self._bar.update(n)

    def close(self) -> None:
        self._bar.close()


def progress_bar(progress: Any, total: int, description: str) -> _Bar | None:
    """A tqdm bar on stderr: always with progress=True, never with False, on a terminal with None."""
    import sys

    if progress is None:
        progress = sys.stderr.isatty()
    if not progress:
        return None
    from tqdm import tqdm

    return _Bar(tqdm(total=total, desc=description, unit="region", file=sys.stderr, leave=False))


def save(
    data: Any,
    dest: str | os.PathLike[str],
    *,
    axes: str | None = None,
    format: str | None = None,
    metadata: Metadata | Mapping[str, Any] | None = None,
    overwrite: bool = False,
    labels: Mapping[str, Any] | None = None,
    chunks: Sequence[int] | None = None,
    shards: Sequence[int] | None = None,
    pyramid: int | str = 1,
    workers: int = 1,
    client: Any = None,
    progress: bool | None = False,
    **options: Any,
) -> Path:
    """Write image stacks to `dest`, in the format its suffix (or `format=`) names; returns the path.

    `data` is a stack, a list of stacks, an array (with `axes`) or anything `stackio.load` takes.
    `metadata` (a `Metadata` or a dict of its fields) overrides what the stack says. `labels` maps
    names to label stacks or arrays written beside the image (OME-Zarr). `chunks`/`shards` are
    (Z)YX or SC(Z)YX; `pyramid` is a number of levels or "auto". Other options go to the format's
    writer. Nothing is replaced unless `overwrite=True`, and the destination appears only once
    complete.
    """
    stacks = as_stacks(data, axes)
    sources = [data] if isinstance(data, (str, os.PathLike)) else []
    return write_stacks(
        stacks,
        dest,
        format=format,
        metadata=metadata,
        overwrite=overwrite,
        labels=labels,
        chunks=chunks,
        shards=shards,
        pyramid=pyramid,
        workers=workers,
        client=client,
        progress=progress,
        sources=sources,
        options=options,
    )
