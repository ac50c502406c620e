"""Writing OME-TIFF (tiled, compressed, BigTIFF when needed, SubIFD pyramids) and ImageJ hyperstacks.

A TIFF is written in file order: page by page, tile by tile. Converting pulls bands of tile rows
from the source in that order; each band, halved, is appended to a scratch file that the next
pyramid level is written from (level by level, never the whole image in memory). A streaming
`create` first fills a memory-mapped scratch copy, then writes from it the same way.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from stackio import ValidationError
from stackio.pyramids import downsample
from stackio.units import symbol, unit_name
from stackio.writing import Progress, WriteRequest

OPTIONS = ("flavor", "compression", "tile", "bigtiff", "name")
FLAVORS = ("ome", "imagej")
COMPRESSIONS = ("zlib", "zstd", "lzw", "lzma", "none")
#: OME-TIFF pixel types (tifffile writes these into the OME-XML).
OME_DTYPES = ("int8", "int16", "int32", "uint8", "uint16", "uint32", "float32", "float64", "complex64", "complex128")
IMAGEJ_DTYPES = ("uint8", "uint16", "float32")
#: The largest image `.tif` writes as an ImageJ hyperstack unless flavor= says otherwise (ImageJ reads it whole).
IMAGEJ_LIMIT = 2**30
#: Classic TIFF offsets are 32-bit; past this (with room for tags) BigTIFF is written.
CLASSIC_LIMIT = 2**32 - 2**25
ReadBlock = Callable[[int, Sequence[int] | None, Sequence[int], Sequence[int]], np.ndarray]


def _symbol(unit: str | None) -> str | None:
    if unit is None:
        return None
    return symbol(unit_name(unit) or unit)


class TiffImage:
    """The one image of a TIFF: an ImageWriter that writes in file order (`pull`), or via a scratch copy."""

    units: tuple[int, ...] | None = None

    def __init__(self, request: WriteRequest) -> None:
        where = str(request.dest)
        if len(request.images) != 1:
            kinds = "labels" if any(s.label_of is not None for s in request.images) else "several images"
            raise ValidationError(
                f"{where}: a TIFF holds one image here, but {kinds} were given; write one image per file, or "
                "use OME-Zarr (.ome.zarr) for several images and labels",
                source=where,
            )
        self.request = request
        self.spec = spec = request.images[0]
        options = request.options
        self.flavor = options.get("flavor") or self._default_flavor()
        compression = options.get("compression", "zlib")
        tile = tuple(options.get("tile", (256, 256)))
        if spec.chunks is not None and "tile" not in options:
            # a TIFF's chunks are its tiles (one plane deep; TIFF tiles are multiples of 16)
            tile = tuple(-(-n // 16) * 16 for n in spec.chunks[-2:])
        if self.flavor not in FLAVORS:
            raise ValidationError(f"{where}: flavor={self.flavor!r}; choose 'ome' or 'imagej'", source=where)
        if compression not in COMPRESSIONS:
            raise ValidationError(
                f"{where}: compression={compression!r}; choose one of {', '.join(COMPRESSIONS)}", source=where
            )
        if len(tile) != 2 or not all(isinstance(n, int) and n > 0 and n % 16 == 0 for n in tile):
            raise ValidationError(
                f"{where}: tile (or the chunks' Y, X) {tile!r} must be two multiples of 16", source=where
            )
        allowed = OME_DTYPES if self.flavor == "ome" else IMAGEJ_DTYPES
        if spec.dtype.newbyteorder("=").name not in allowed:
            raise ValidationError(
                f"{where}: {'OME-TIFF' if self.flavor == 'ome' else 'an ImageJ hyperstack'} cannot hold "
                f"{spec.dtype} pixels (it holds {', '.join(allowed)}); cast the data first, or write OME-Zarr",
                source=where,
            )
        if self.flavor == "imagej" and spec.levels > 1:
            raise ValidationError(
                f"{where}: ImageJ hyperstacks have no pyramid levels; use flavor='ome' (.ome.tif) for pyramids",
                source=where,
            )
        if spec.shards is not None:
            raise ValidationError(f"{where}: TIFF has tiles, not shards; drop shards", source=where)
        self.compression = None if compression == "none" else compression
        self.tile = tile
        nbytes = math.prod(spec.shape) * spec.dtype.itemsize * (4 / 3 if spec.levels > 1 else 1)
        self.bigtiff = bool(options.get("bigtiff", nbytes > CLASSIC_LIMIT))
        self.workers = request.workers
        self._scratch: np.memmap | None = None
        self._scratch_lock = threading.Lock()

    def _default_flavor(self) -> str:
        spec = self.spec
        name = self.request.dest.name.lower()
        small = math.prod(spec.shape) * spec.dtype.itemsize <= IMAGEJ_LIMIT
        if name.endswith((".ome.tif", ".ome.tiff")) or not small or spec.levels > 1:
            return "ome"
        return "imagej" if spec.dtype.newbyteorder("=").name in IMAGEJ_DTYPES else "ome"

    # -- streaming (create): a scratch copy first ------------------------------------------------

    def write(self, sample_idx: int, coords: Sequence[int], block: np.ndarray) -> None:
        if self._scratch is None:
            with self._scratch_lock:  # the first writes may come from several threads at once
                if self._scratch is None:
                    path = self._scratch_path("level0")
                    shape, dtype = self.spec.shape, self.spec.dtype
                    self._scratch = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
        key: tuple[int | slice, ...] = (
            sample_idx,
            slice(None),
            *(slice(c, c + n) for c, n in zip(coords, block.shape[1:], strict=True)),
        )
        self._scratch[key] = block

    def _scratch_path(self, what: str) -> Path:
        return self.request.path.with_name(f"{self.request.path.name}.{what}.scratch")

    def finish(self, progress: Progress | None = None) -> None:
        scratch: np.ndarray | None = self._scratch
        if scratch is None and not self.request.path.exists():
            scratch = np.zeros(self.spec.shape, self.spec.dtype)  # nothing written: an image of zeros

        if scratch is not None:
            data = scratch

            def read(s: int, channels: Sequence[int] | None, coords: Sequence[int], size: Sequence[int]) -> np.ndarray:
                key = (s, slice(None) if channels is None else list(channels))
                return np.asarray(data[(*key, *(slice(c, c + n) for c, n in zip(coords, size, strict=True)))])

            try:
                self.pull(read, progress)
            finally:
                self._scratch = None
                del data, scratch
                self._scratch_path("level0").unlink(missing_ok=True)

    # -- writing in file order ----------------------------------------------------------------

    def pull(self, read_block: ReadBlock, progress: Progress | None = None) -> None:
        """Write the whole TIFF, reading the image band by band through `read_block`."""
        if self.flavor == "imagej":
            self._write_imagej(read_block)
        else:
            self._write_ome(read_block, progress)

    def _planes(self) -> list[tuple[int, int, int]]:
        """(sample, channel, z) of each page, in the OME order TCZYX (Z fastest)."""
        s, c = self.spec.shape[:2]
        z = self.spec.shape[2] if len(self.spec.shape) == 5 else 1
        return [(i, j, k) for i in range(s) for j in range(c) for k in range(z)]

    def _disk(self) -> tuple[str, tuple[int, ...]]:
        spec = self.spec
        axes = "TC" + ("Z" if len(spec.shape) == 5 else "") + "YX"
        return axes, spec.shape

    def _write_ome(self, read_block: ReadBlock, progress: Progress | None) -> None:
        import tifffile

        spec = self.spec
        axes, shape = self._disk()
        levels = spec.levels
        height, width = shape[-2:]
        bands: list[Path] = []
        try:
            with tifffile.TiffWriter(self.request.path, bigtiff=self.bigtiff, ome=True) as tif:
                level_shape = (height, width)
                sink = self._band_sink(1) if levels > 1 else None
                if sink is not None:
                    bands.append(sink[0])
                tif.write(
                    self._tiles_from_source(read_block, level_shape, sink, progress),
                    shape=shape,
                    dtype=spec.dtype,
                    tile=self.tile,
                    compression=self.compression,
                    subifds=levels - 1 if levels > 1 else None,
                    metadata=self._ome_metadata(axes),
                    photometric="minisblack",
                    maxworkers=self.workers,
                )
                if sink is not None:
                    sink[1].close()  # tifffile may stop short of the generator's end: flush the band file now
                for level in range(1, levels):
                    previous = (math.ceil(level_shape[0] / 2), math.ceil(level_shape[1] / 2))
                    source_path = bands[-1]
                    sink = self._band_sink(level + 1) if level + 1 < levels else None
                    if sink is not None:
                        bands.append(sink[0])
                    tif.write(
                        self._tiles_from_band_file(source_path, previous, sink),
                        shape=(*shape[:-2], *previous),
                        dtype=spec.dtype,
                        tile=self.tile,
                        compression=self.compression,
                        subfiletype=1,
                        metadata=None,
                        photometric="minisblack",
                        maxworkers=self.workers,
                    )
                    if sink is not None:
                        sink[1].close()
                    source_path.unlink(missing_ok=True)
                    level_shape = previous
        finally:
            for path in bands:
                path.unlink(missing_ok=True)

    def _band_sink(self, level: int) -> tuple[Path, Any]:
        path = self._scratch_path(f"level{level}")
        return path, open(path, "wb")

    def _tiles_of_band(self, band: np.ndarray) -> Iterator[np.ndarray]:
        tw = self.tile[1]
        for x in range(0, band.shape[1], tw):
            yield band[:, x : x + tw]

    def _tiles_from_source(
        self, read_block: ReadBlock, shape: tuple[int, int], sink: tuple[Path, Any] | None, progress: Progress | None
    ) -> Iterator[np.ndarray]:
        th = self.tile[0]
        height, width = shape
        three_d = len(self.spec.shape) == 5
        try:
            for s, c, z in self._planes():
                for y in range(0, height, th):
                    n = min(th, height - y)
                    coords = (z, y, 0) if three_d else (y, 0)
                    size = (1, n, width) if three_d else (n, width)
                    band = np.asarray(read_block(s, [c], coords, size)).reshape(n, width)
                    if sink is not None:  # before the tiles: tifffile stops asking after the last one
                        sink[1].write(np.ascontiguousarray(downsample(band, (2, 2), self.spec.labels)).tobytes())
                    yield from self._tiles_of_band(band)
                if progress is not None:
                    progress(1)
        finally:
            if sink is not None:
                sink[1].close()

    def _tiles_from_band_file(
        self, path: Path, shape: tuple[int, int], sink: tuple[Path, Any] | None
    ) -> Iterator[np.ndarray]:
        th = self.tile[0]
        height, width = shape
        row = width * self.spec.dtype.itemsize
        try:
            with open(path, "rb") as f:
                for _ in self._planes():
                    for y in range(0, height, th):
                        n = min(th, height - y)
                        band = np.frombuffer(f.read(n * row), dtype=self.spec.dtype).reshape(n, width)
                        if sink is not None:
                            sink[1].write(np.ascontiguousarray(downsample(band, (2, 2), self.spec.labels)).tobytes())
                        yield from self._tiles_of_band(band)
        finally:
            if sink is not None:
                sink[1].close()

    def _ome_metadata(self, axes: str) -> dict[str, Any]:
        meta = self.spec.metadata
        voxel, units = meta.voxel_size or {}, meta.units or {}
        out: dict[str, Any] = {"axes": axes}
        name = self.request.options.get("name") or self.spec.name
        if name:
            out["Name"] = name
        for axis in "XYZ":
            if axis in voxel and (axis != "Z" or "Z" in axes):
                out[f"PhysicalSize{axis}"] = float(voxel[axis])
                if _symbol(units.get(axis)):
                    out[f"PhysicalSize{axis}Unit"] = _symbol(units.get(axis))
        if "T" in voxel:
            out["TimeIncrement"] = float(voxel["T"])
            if _symbol(units.get("T")):
                out["TimeIncrementUnit"] = _symbol(units.get("T"))
        names = meta.channel_names
        if names is not None and len(names) == self.spec.shape[1]:
            out["Channel"] = {"Name": list(names)}
        offset = meta.offset or {}
        spatial = [a for a in "XYZ" if a in offset and a in voxel and (a != "Z" or "Z" in axes)]
        if spatial:
            count = len(self._planes())
            plane: dict[str, Any] = {}
            for axis in spatial:
                plane[f"Position{axis}"] = [float(offset[axis])] * count
                if _symbol(units.get(axis)):
                    plane[f"Position{axis}Unit"] = [_symbol(units.get(axis))] * count
            out["Plane"] = plane
        return out

    def _write_imagej(self, read_block: ReadBlock) -> None:
        import tifffile
        from stackio.memory import ensure_fits_in_memory

        spec = self.spec
        ensure_fits_in_memory(spec.shape, spec.dtype, str(self.request.dest))
        data = np.stack(
            [read_block(s, None, (0,) * (len(spec.shape) - 2), spec.shape[2:]) for s in range(spec.shape[0])]
        )
        if len(spec.shape) == 5:  # SCZYX -> TZCYX, ImageJ's order
            data, axes = data.transpose(0, 2, 1, 3, 4), "TZCYX"
        else:
            axes = "TCYX"
        meta = spec.metadata
        voxel, units = meta.voxel_size or {}, meta.units or {}
        ij: dict[str, Any] = {"axes": axes}
        resolution = None
        if "X" in voxel and "Y" in voxel:
            resolution = (1.0 / float(voxel["X"]), 1.0 / float(voxel["Y"]))
            unit = _symbol(units.get("X"))
            if unit:
                ij["unit"] = "um" if unit == "µm" else unit
        if "Z" in voxel and len(spec.shape) == 5:
            ij["spacing"] = float(voxel["Z"])
        if "T" in voxel:
            ij["finterval"] = float(voxel["T"])
        tifffile.imwrite(
            self.request.path,
            data,
            imagej=True,
            metadata=ij,
            resolution=resolution,
            compression=self.compression if self.compression in ("zlib", "lzw", None) else "zlib",
            photometric="minisblack",
        )


class TiffDataset:
    """The DatasetWriter of one TIFF file."""

    def __init__(self, request: WriteRequest) -> None:
        self.image = TiffImage(request)
        self.images = [self.image]

    def finish(self, progress: Progress | None = None) -> None:
        self.image.finish(progress)


def open_writer(request: WriteRequest) -> TiffDataset:
    return TiffDataset(request)
