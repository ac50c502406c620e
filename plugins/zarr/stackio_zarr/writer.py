"""Writing OME-Zarr 0.5 (zarr v3, optionally sharded) and 0.4 (zarr v2): levels, labels, omero.

Level 0 is written block by block by the core; `finish` builds each further level from the one
before it (mean for images, mode for labels), region by region, then writes the NGFF metadata.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from stackio import ValidationError
from stackio.pyramids import downsample, level_factors, level_shape
from stackio.saving import REGION_BYTES, region_step
from stackio.units import unit_name
from stackio.writing import ImageSpec, Progress, WriteRequest, grid

from .store import ZarrFormat

VERSIONS = ("0.5", "0.4")
COMPRESSIONS = ("zstd", "blosc", "lz4", "gzip", "none")
OPTIONS = ("version", "compression", "name")
NGFF_UNITS = {
    *("angstrom", "attometer", "centimeter", "decimeter", "exameter", "femtometer", "foot", "gigameter"),
    *("hectometer", "inch", "kilometer", "megameter", "meter", "micrometer", "mile", "millimeter"),
    *("nanometer", "parsec", "petameter", "picometer", "terameter", "yard", "yoctometer", "yottameter"),
    *("zeptometer", "zettameter", "attosecond", "centisecond", "day", "decisecond", "exasecond"),
    *("femtosecond", "gigasecond", "hectosecond", "hour", "kilosecond", "megasecond", "microsecond"),
    *("millisecond", "minute", "nanosecond", "petasecond", "picosecond", "second", "terasecond"),
    *("yoctosecond", "yottasecond", "zeptosecond", "zettasecond"),
}
COLORS = ("FFFFFF",)
PALETTE = ("00FF00", "FF00FF", "00FFFF", "FF0000", "0000FF", "FFFF00", "FFFFFF")


def ngff_unit(unit: str | None) -> str | None:
    """The NGFF (UDUNITS-2) name of a unit, or None when there is none."""
    if unit is None:
        return None
    name = unit_name(unit)
    return name if name in NGFF_UNITS else None


def _codecs(compression: str, zarr_format: ZarrFormat) -> Any:
    if compression == "none":
        return None
    if zarr_format == 3:
        from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec

        return {
            "zstd": ZstdCodec(level=3),
            "blosc": BloscCodec(cname="zstd", clevel=5, shuffle="bitshuffle"),
            "lz4": BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"),
            "gzip": GzipCodec(level=5),
        }[compression]
    import numcodecs

    return {
        "zstd": numcodecs.Zstd(level=3),
        "blosc": numcodecs.Blosc(cname="zstd", clevel=5, shuffle=numcodecs.Blosc.BITSHUFFLE),
        "lz4": numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE),
        "gzip": numcodecs.GZip(level=5),
    }[compression]


def default_chunks(shape: Sequence[int]) -> tuple[int, ...]:
    """SC(Z)YX chunks: one sample and channel; 512x512 planes in 2-D, 32x128x128 in 3-D."""
    spatial = shape[2:]
    size = (512, 512) if len(spatial) == 2 else (32, 128, 128)
    return (1, 1, *(min(n, s) for n, s in zip(spatial, size, strict=True)))


def _on_disk(spec: ImageSpec, block: Sequence[int]) -> tuple[int, ...]:
    """An SC(Z)YX block shape as the disk axes have it."""
    sizes = {"T": block[0], "C": block[1], **dict(zip(spec.axes[2:], block[2:], strict=True))}
    return tuple(sizes[a] for a in spec.disk_axes)


class ZarrImage:
    """One image's level 0 (an ImageWriter): writes C(Z)YX blocks into the array; picklable for dask."""

    def __init__(self, root: str, path: str, zarr_format: ZarrFormat, spec: ImageSpec, units: tuple[int, ...]) -> None:
        self.root = root
        self.path = path
        self.zarr_format = zarr_format
        self.spec = spec
        self.units: tuple[int, ...] | None = units
        self._array: Any = None
        self._lock = threading.Lock()
        #: Per channel (min, max) of what was written, for the omero window.
        self.ranges: dict[int, tuple[float, float]] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_array", "_lock")} | {"ranges": {}}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _array=None, _lock=threading.Lock())

    def array(self) -> Any:
        if self._array is None:
            import zarr
            from zarr.storage import LocalStore

            self._array = zarr.open_array(
                store=LocalStore(self.root), path=self.path, mode="r+", zarr_format=self.zarr_format
            )
        return self._array

    def write(self, sample_idx: int, coords: Sequence[int], block: np.ndarray) -> None:
        key = self.spec.disk_key(sample_idx, coords, block.shape)
        self.array()[key] = self.spec.disk_block(block)
        if not self.spec.labels and block.size:
            lows = block.reshape(block.shape[0], -1).min(axis=1)
            highs = block.reshape(block.shape[0], -1).max(axis=1)
            with self._lock:
                for c, (lo, hi) in enumerate(zip(lows.tolist(), highs.tolist(), strict=True)):
                    old = self.ranges.get(c)
                    self.ranges[c] = (lo, hi) if old is None else (min(old[0], lo), max(old[1], hi))


class ZarrDataset:
    """The DatasetWriter: creates the store, one ZarrImage per image, and completes it in `finish`."""

    def __init__(self, request: WriteRequest) -> None:
        options = request.options
        version = str(options.get("version", "0.5"))
        compression = options.get("compression", "zstd")
        where = str(request.dest)
        if version not in VERSIONS:
            raise ValidationError(
                f"{where}: version={version!r}; stackio writes OME-Zarr {' or '.join(VERSIONS)}", source=where
            )
        if compression not in COMPRESSIONS:
            raise ValidationError(
                f"{where}: compression={compression!r}; choose one of {', '.join(COMPRESSIONS)}", source=where
            )
        self.request = request
        self.version = version
        self.zarr_format: ZarrFormat = 3 if version == "0.5" else 2
        self.workers = request.workers
        self.codecs = _codecs(compression, self.zarr_format)
        for spec in request.images:
            _check_spec(spec, self.zarr_format, where)
        import zarr
        from zarr.storage import LocalStore

        self.store = LocalStore(str(request.path))
        self.root = zarr.open_group(store=self.store, mode="w", zarr_format=self.zarr_format)
        images = [s for s in request.images if s.label_of is None]
        self.groups: list[str] = []
        for i, spec in enumerate(request.images):
            if spec.label_of is None:
                base = "" if len(images) == 1 else str(i)
            else:
                parent = "" if len(images) == 1 else str(spec.label_of)
                base = "/".join(p for p in (parent, "labels", spec.name or "labels") if p)
            self.groups.append(base)
        self.images = [
            self._level_array(spec, group, 0) for spec, group in zip(request.images, self.groups, strict=True)
        ]

    def _chunking(self, spec: ImageSpec, shape: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
        chunks = spec.chunks or default_chunks(spec.shape)
        chunks = tuple(min(c, n) for c, n in zip(chunks, shape, strict=True))
        shards = None
        if spec.shards is not None:
            shards = tuple(
                min(math.ceil(s / c) * c, math.ceil(n / c) * c)
                for s, c, n in zip(spec.shards, chunks, shape, strict=True)
            )
        return chunks, shards

    def _level_array(self, spec: ImageSpec, group: str, level: int, shape: Sequence[int] | None = None) -> ZarrImage:
        import zarr

        shape = tuple(shape) if shape is not None else spec.shape
        chunks, shards = self._chunking(spec, shape)
        path = "/".join(p for p in (group, str(level)) if p)
        kwargs: dict[str, Any] = {}
        if self.zarr_format == 3:
            kwargs["dimension_names"] = [a.lower() for a in spec.disk_axes]
            kwargs["shards"] = _on_disk(spec, shards) if shards is not None else None
        else:
            kwargs["chunk_key_encoding"] = {"name": "v2", "separator": "/"}
        zarr.create_array(
            store=self.store,
            name=path,
            shape=_on_disk(spec, shape),
            dtype=spec.dtype,
            chunks=_on_disk(spec, chunks),
            compressors=self.codecs,
            fill_value=0,
            zarr_format=self.zarr_format,
            **kwargs,
        )
        return ZarrImage(str(self.request.path), path, self.zarr_format, spec, shards or chunks)

    # -- finish ---------------------------------------------------------------------------------

    def finish(self, progress: Progress | None = None) -> None:
        for i, (spec, group, image) in enumerate(zip(self.request.images, self.groups, self.images, strict=True)):
            factors = self._build_levels(spec, group, image, progress)
            self._write_image_metadata(i, spec, group, image, factors)
        self._write_collection_metadata()

    def _build_levels(
        self, spec: ImageSpec, group: str, image: ZarrImage, progress: Progress | None
    ) -> list[tuple[int, ...]]:
        voxel = _spatial_voxel(spec)
        factors = level_factors(spec.spatial_shape, voxel, spec.levels)
        previous = image
        for level in range(1, len(factors)):
            step = tuple(f // p for f, p in zip(factors[level], factors[level - 1], strict=True))
            shape = (*spec.shape[:2], *level_shape(spec.spatial_shape, factors[level]))
            current = self._level_array(spec, group, level, shape)
            _reduce(previous, current, spec, shape, step, self.workers, progress)
            previous = current
        return factors

    def _write_image_metadata(
        self, index: int, spec: ImageSpec, group: str, image: ZarrImage, factors: list[tuple[int, ...]]
    ) -> None:
        import zarr

        node = zarr.open_group(store=self.store, path=group, mode="a", zarr_format=self.zarr_format)
        multiscale = _multiscale(spec, factors, self._name(spec, index))
        ome: dict[str, Any] = {"multiscales": [multiscale]}
        if spec.labels:
            ome["image-label"] = {"source": {"image": "../../"}}
        else:
            omero = _omero(spec, image, self.version)
            if omero is not None:
                ome["omero"] = omero
        self._set(node, ome, multiscale, "image-label" in ome)
        if spec.labels:
            labels_path = group.rsplit("/", 1)[0]
            labels_group = zarr.open_group(store=self.store, path=labels_path, mode="a", zarr_format=self.zarr_format)
            names = [
                s.name for s, g in zip(self.request.images, self.groups, strict=True) if g.startswith(labels_path + "/")
            ]
            self._set(labels_group, {"labels": names}, None, False)

    def _set(self, node: Any, ome: dict[str, Any], multiscale: dict[str, Any] | None, label: bool) -> None:
        if self.version == "0.5":
            node.attrs["ome"] = {"version": "0.5", **ome}
            return
        if multiscale is not None:
            multiscale["version"] = "0.4"
        if label:
            ome["image-label"]["version"] = "0.4"
        if "omero" in ome:
            ome["omero"]["version"] = "0.4"
        node.attrs.update(ome)

    def _write_collection_metadata(self) -> None:
        images = [g for s, g in zip(self.request.images, self.groups, strict=True) if s.label_of is None]
        if len(images) == 1:
            return
        import zarr

        self._set(self.root, {"bioformats2raw.layout": 3}, None, False)
        ome = zarr.open_group(store=self.store, path="OME", mode="a", zarr_format=self.zarr_format)
        self._set(ome, {"series": images}, None, False)

    def _name(self, spec: ImageSpec, index: int) -> str:
        given = self.request.options.get("name")
        if spec.name:
            return spec.name
        stem = self.request.dest.name.split(".")[0]
        return given or (stem if len(self.images) == 1 else f"{stem} {index}")


def _check_spec(spec: ImageSpec, zarr_format: ZarrFormat, where: str) -> None:
    if spec.dtype.kind not in "biuf":
        raise ValidationError(
            f"{where}: OME-Zarr holds bool, integer and float pixels, not {spec.dtype}; cast the data first",
            source=where,
        )
    if spec.dtype.byteorder == ">":
        raise ValidationError(f"{where}: write native-endian data ({spec.dtype.newbyteorder('=')})", source=where)
    if spec.shards is not None and zarr_format == 2:
        raise ValidationError(
            f"{where}: shards need OME-Zarr 0.5 (zarr v3); drop shards or use version='0.5'", source=where
        )
    if spec.labels and spec.dtype.kind not in "iu":
        raise ValidationError(f"{where}: label images hold integer ids, not {spec.dtype}", source=where)


def _spatial_voxel(spec: ImageSpec) -> list[float] | None:
    voxel = spec.metadata.voxel_size or {}
    spatial = spec.axes[2:]
    if not any(a in voxel for a in spatial):
        return None
    return [float(voxel.get(a, 1.0)) for a in spatial]


def _reduce(
    previous: ZarrImage,
    current: ZarrImage,
    spec: ImageSpec,
    shape: tuple[int, ...],
    step: tuple[int, ...],
    workers: int,
    progress: Progress | None,
) -> None:
    """Fill `current` (the next level) from `previous`, one region of whole units at a time."""
    source_shape = previous.array().shape
    level_spec = ImageSpec(shape=shape, dtype=spec.dtype, axes=spec.axes, disk_axes=spec.disk_axes)
    # the block read from the finer level is prod(step) times the region: keep it near the copy's region size
    region = region_step(level_spec, current.units, REGION_BYTES // math.prod(step))
    blocks = [(start, size) for start, size in grid(shape, region) if start[1] == 0]
    spatial_in = source_shape[-len(step) :]

    def one(block: tuple[tuple[int, ...], tuple[int, ...]]) -> None:
        start, size = block
        sample = start[0]
        src_start = [b * s for b, s in zip(start[2:], step, strict=True)]
        src_stop = [min((b + n) * s, m) for b, n, s, m in zip(start[2:], size[2:], step, spatial_in, strict=True)]
        key = spec.disk_key(sample, src_start, (size[1], *(e - b for b, e in zip(src_start, src_stop, strict=True))))
        data = np.asarray(previous.array()[key])
        if "C" not in spec.disk_axes:
            data = data[None]
        reduced = downsample(data, step, spec.labels)
        current.write(sample, start[2:], reduced)
        if progress is not None:
            progress(1)

    if workers <= 1:
        for block in blocks:
            one(block)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="stackio-pyramid") as pool:
        for _ in pool.map(one, blocks):
            pass


def _multiscale(spec: ImageSpec, factors: list[tuple[int, ...]], name: str) -> dict[str, Any]:
    meta = spec.metadata
    voxel = meta.voxel_size or {}
    offset = meta.offset or {}
    units = meta.units or {}
    axes = []
    for letter in spec.disk_axes:
        entry: dict[str, Any] = {"name": letter.lower(), "type": {"T": "time", "C": "channel"}.get(letter, "space")}
        unit = ngff_unit(units.get(letter))
        if unit is not None and letter != "C":
            entry["unit"] = unit
        axes.append(entry)
    datasets = []
    for level, factor in enumerate(factors):
        per_axis = {"T": 1, "C": 1, **dict(zip(spec.axes[2:], factor, strict=True))}
        scale, translation = [], []
        for letter in spec.disk_axes:
            size = float(voxel.get(letter, 1.0)) if letter != "C" else 1.0
            scale.append(size * per_axis[letter])
            start = float(offset.get(letter, 0.0)) if letter != "C" else 0.0
            # a coarser voxel's centre sits between the finer voxels it averages
            translation.append(start + (per_axis[letter] - 1) * size / 2)
        transforms: list[dict[str, Any]] = [{"type": "scale", "scale": scale}]
        if any(translation) or offset:
            transforms.append({"type": "translation", "translation": translation})
        datasets.append({"path": str(level), "coordinateTransformations": transforms})
    return {"name": name, "axes": axes, "datasets": datasets}


def _omero(spec: ImageSpec, image: ZarrImage, version: str) -> dict[str, Any] | None:
    n = spec.shape[1]
    names = spec.metadata.channel_names
    if names is not None and len(names) != n:
        names = None
    if "C" not in spec.disk_axes and names is None:
        return None
    if spec.dtype.kind in "iu":
        info = np.iinfo(spec.dtype)
        full = (float(info.min), float(info.max))
    elif spec.dtype.kind == "b":
        full = (0.0, 1.0)
    else:
        full = None
    channels = []
    for c in range(n):
        low, high = image.ranges.get(c, (0.0, 1.0 if full is None else full[1]))
        low, high = float(low), float(high)
        lo, hi = full if full is not None else (low, high)
        channels.append(
            {
                "label": names[c] if names is not None else f"Channel {c}",
                "color": COLORS[0] if n == 1 else PALETTE[c % len(PALETTE)],
                "window": {"min": lo, "max": hi, "start": low, "end": high},
                "active": True,
                "coefficient": 1.0,
                "family": "linear",
                "inverted": False,
            }
        )
    return {"channels": channels, "rdefs": {"model": "color" if n > 1 else "greyscale"}}


def open_writer(request: WriteRequest) -> ZarrDataset:
    return ZarrDataset(request)


__all__ = ["COMPRESSIONS", "OPTIONS", "VERSIONS", "ZarrDataset", "ZarrImage", "ngff_unit", "open_writer"]
