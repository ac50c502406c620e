"""The benchmark's data, written with each format's own library (sizes from the command line)."""

from __future__ import annotations

import contextlib
import io
import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np

SEED = 20240611


def volume(shape: tuple[int, ...], seed: int = SEED) -> np.ndarray:
    """12-bit noise over a smooth ramp: compresses about as well as a noisy microscope image."""
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 4096, size=shape, dtype=np.uint16)
    ramp = (np.arange(shape[-1], dtype=np.uint16) * 7) % 2048
    data += ramp
    return data


def slabs(shape: tuple[int, ...], depth: int, seed: int = SEED) -> Iterator[tuple[int, np.ndarray]]:
    """`volume(shape)`-like data (not the same numbers) in Z slabs of `depth`, for data larger than memory."""
    for z in range(0, shape[0], depth):
        n = min(depth, shape[0] - z)
        yield z, volume((n, *shape[1:]), seed + z)


def write_tiff(path: Path, data: np.ndarray, **kwargs: object) -> Path:
    import tifffile

    axes = "ZYX"[-data.ndim :]
    tifffile.imwrite(path, data, photometric="minisblack", metadata={"axes": axes}, **kwargs)
    return path


def write_tiff_tiled(path: Path, data: np.ndarray, tile: tuple[int, int] = (128, 128)) -> Path:
    """Each Z plane a page of `tile`-sized zstd-compressed tiles."""
    return write_tiff(path, data, tile=tile, compression="zstd")


def write_big_tiff(path: Path, shape: tuple[int, int, int]) -> Path:
    """A contiguous uncompressed BigTIFF written one page at a time (never all in memory)."""
    import tifffile

    def pages() -> Iterator[np.ndarray]:
        for _, slab in slabs(shape, 16):
            yield from slab

    tifffile.imwrite(
        path, pages(), shape=shape, dtype="uint16", bigtiff=True, photometric="minisblack", metadata={"axes": "ZYX"}
    )
    return path


def _ome_attrs(ndim: int) -> dict:
    axes = [{"name": a, "type": "space", "unit": "micrometer"} for a in "zyx"[-ndim:]]
    return {
        "ome": {
            "version": "0.5",
            "multiscales": [
                {
                    "name": "image",
                    "axes": axes,
                    "datasets": [
                        {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1.0] * ndim}]}
                    ],
                }
            ],
        }
    }


def write_ome_zarr(
    path: Path,
    data: np.ndarray | None,
    chunks: tuple[int, ...],
    shards: tuple[int, ...] | None = None,
    *,
    shape: tuple[int, ...] | None = None,
) -> Path:
    """An OME-Zarr 0.5 image (zarr v3, zstd) with one level "0"; `data=None` writes `shape` slab by slab."""
    import zarr

    if path.exists():
        shutil.rmtree(path)
    shape = tuple(data.shape) if data is not None else shape
    assert shape is not None
    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    root.attrs.update(_ome_attrs(len(shape)))
    array = root.create_array(
        "0",
        shape=shape,
        chunks=chunks,
        shards=shards,
        dtype="uint16",
        dimension_names=list("zyx"[-len(shape) :]),
    )
    if data is not None:
        array[...] = data
    else:
        step = (shards or chunks)[0]
        for z, slab in slabs(shape, step):
            array[z : z + slab.shape[0]] = slab
    return path


def zarr_level(path: Path) -> Path:
    """The array of an OME-Zarr image written by `write_ome_zarr`."""
    return path / "0"


CZI_ZSTD = "zstd1:ExplicitLevel=1;PreProcess=HiLoByteUnpack"


def write_czi(path: Path, data: np.ndarray, compression: str | None = None) -> Path:
    """One subblock per Z plane (C=0), uncompressed or zstd, with pylibCZIrw's writer."""
    from pylibCZIrw import czi as pyczi

    if path.exists():
        path.unlink()
    with pyczi.create_czi(str(path), exist_ok=True) as writer:
        for z, plane in enumerate(data):
            kwargs = {"compression_options": compression} if compression else {}
            writer.write(np.ascontiguousarray(plane), plane={"Z": z, "C": 0, "T": 0}, location=(0, 0), **kwargs)
    return path


def write_ndtiff(path: Path, data: np.ndarray) -> Path:
    """An NDTiff dataset of Z planes written by ndstorage."""
    from ndstorage import NDTiffDataset

    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    with contextlib.redirect_stdout(io.StringIO()):
        dataset = NDTiffDataset(str(path), writable=True)
        dataset.initialize({"PixelSize_um": 1.0, "z-step_um": 1.0})
        for z, plane in enumerate(data):
            dataset.put_image({"z": z}, np.ascontiguousarray(plane), {})
        dataset.finish()
    return path


def write_many_tiffs(folder: Path, count: int, shape: tuple[int, int]) -> Path:
    """`count` small TIFFs img0.tif ... (uncompressed), different content each."""
    import tifffile

    folder.mkdir(parents=True, exist_ok=True)
    base = volume((8, *shape))
    width = len(str(count - 1))
    for i in range(count):
        plane = base[i % 8] + np.uint16(i % 4096)
        tifffile.imwrite(folder / f"img{i:0{width}d}.tif", plane, photometric="minisblack")
    return folder


def nbytes(shape: tuple[int, ...], dtype: str = "uint16") -> int:
    return math.prod(shape) * np.dtype(dtype).itemsize
