"""The good inputs the robustness suite starts from: small files written by each format's own library.

`write_corpus(root)` writes them and returns `Base` records (format, path, axes, options); the
real files of `../shared/realdata` join them where present (`realdata_bases`). Nothing here writes
outside the folder it is given.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import numpy as np

#: Every format the suite covers, with the plugin module that declares it.
FORMATS = {
    "tiff": "stackio_tiff",
    "czi": "stackio_czi",
    "zarr": "stackio_zarr",
    "ndtiff": "stackio_ndtiff",
    "numpy": "stackio_custom",
    "png": "stackio_png",
    "jpeg": "stackio_png",
}
#: Real files (or dataset folders) larger than this are fuzzed only in long runs.
REALDATA_LIMIT = 1_300_000


@attrs.frozen
class Base:
    """One good input: what `stackio.load(path, axes, **options)` reads without error."""

    format: str
    path: str
    axes: str | None = None
    options: dict[str, Any] = attrs.field(factory=dict)
    origin: str = "generated"

    @property
    def name(self) -> str:
        suffix = "" if not self.options else "[" + ",".join(f"{k}={v}" for k, v in self.options.items()) + "]"
        return f"{self.origin}:{Path(self.path).name}{suffix}"

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


def pattern(shape: tuple[int, ...], dtype: str = "uint16", seed: int = 0) -> np.ndarray:
    """Values that differ between neighbours and between planes, so any misplaced pixel shows."""
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "ui" else None
    if info is None:
        return rng.random(shape).astype(dtype)
    top = min(int(info.max), 60000)
    return rng.integers(0, top, shape, dtype=dtype)


# -- writers (each with the format's own library) ---------------------------------------------


def write_tiff(path: Path, data: np.ndarray, **kwargs: Any) -> Path:
    import tifffile

    tifffile.imwrite(path, data, **kwargs)
    return path


def write_czi(
    path: Path, planes: dict[tuple[int, int, int, int], np.ndarray], *, compression: str | None = None
) -> Path:
    """`planes[(scene, t, c, z)] = YX array` (or YX3 for Bgr24), scene s placed at x = 1000 * s."""
    from pylibCZIrw import czi as pyczi

    with pyczi.create_czi(str(path), exist_ok=True) as writer:
        for (scene, t, c, z), plane in planes.items():
            kwargs: dict[str, Any] = {"compression_options": compression} if compression else {}
            writer.write(plane, plane={"T": t, "C": c, "Z": z}, location=(1000 * scene, 0), scene=scene, **kwargs)
    return path


def write_zarr(
    path: Path, data: np.ndarray, *, zarr_format: int = 3, chunks: tuple[int, ...] | None = None, **kwargs: Any
) -> Path:
    import zarr

    array = zarr.create_array(
        str(path),
        shape=data.shape,
        dtype=data.dtype,
        chunks=chunks or data.shape,
        zarr_format=zarr_format,
        overwrite=True,
        **kwargs,
    )
    array[...] = data
    return path


def write_ndtiff(folder: Path, images: list[tuple[dict[str, Any], np.ndarray]], summary: dict[str, Any]) -> Path:
    """An NDTiff dataset written by ndstorage (its progress text silenced): the plugin's own sample writer."""
    from stackio_ndtiff.samples import write_ndtiff as write

    return write(folder, images, summary)


def write_png(path: Path, data: np.ndarray, **kwargs: Any) -> Path:
    from PIL import Image

    Image.fromarray(data).save(path, **kwargs)
    return path


# -- the corpus --------------------------------------------------------------------------------


def _generated(root: Path) -> list[Base]:
    """Small files covering each plugin's main read paths (memory maps, tiles, codecs, scenes, levels)."""
    out: list[Base] = []
    d = root / "tiff"
    d.mkdir(parents=True, exist_ok=True)
    write_tiff(d / "plain_zyx.tif", pattern((3, 20, 24)), photometric="minisblack", metadata=None)
    write_tiff(
        d / "hyperstack.tif",
        pattern((2, 3, 2, 16, 20), seed=1),
        imagej=True,
        metadata={"axes": "TZCYX", "spacing": 0.5, "unit": "um"},
    )
    write_tiff(d / "tiled_zstd.tif", pattern((64, 80), seed=2), tile=(32, 32), compression="zstd")
    write_tiff(
        d / "strips_deflate_be.tif",
        pattern((2, 30, 28), "uint8", 3),
        compression="deflate",
        rowsperstrip=7,
        byteorder=">",
    )
    import tifffile

    with tifffile.TiffWriter(d / "two_series.ome.tif", ome=True) as tif:
        for s in range(2):
            tif.write(
                pattern((2, 3, 16, 16), "uint8", 4 + s),
                photometric="minisblack",
                metadata={"axes": "CZYX", "PhysicalSizeX": 0.3, "Channel": {"Name": ["a", "b"]}},
            )
    out += [
        Base("tiff", str(d / "plain_zyx.tif"), "ZYX"),
        Base("tiff", str(d / "hyperstack.tif")),
        Base("tiff", str(d / "tiled_zstd.tif"), "YX"),
        Base("tiff", str(d / "strips_deflate_be.tif"), "ZYX"),
        Base("tiff", str(d / "two_series.ome.tif")),
    ]

    d = root / "czi"
    d.mkdir(exist_ok=True)
    scenes = {
        (s, 0, c, z): pattern((24, 32), seed=10 * s + 3 * c + z) for s in range(2) for c in range(2) for z in range(3)
    }
    write_czi(d / "scenes_zstd.czi", scenes, compression="zstd1:ExplicitLevel=1;PreProcess=HiLoByteUnpack")
    write_czi(d / "plain_t.czi", {(0, t, 0, 0): pattern((20, 28), "uint8", t) for t in range(3)})
    rgb = np.stack([pattern((16, 24), "uint8", i) for i in range(3)], axis=-1)
    write_czi(d / "rgb.czi", {(0, 0, 0, 0): rgb})
    out += [
        Base("czi", str(d / "scenes_zstd.czi")),
        Base("czi", str(d / "plain_t.czi"), "SCTYX"),
        Base("czi", str(d / "rgb.czi")),
    ]

    d = root / "zarr"
    d.mkdir(exist_ok=True)
    write_zarr(d / "v2_chunked.zarr", pattern((4, 30, 26), seed=5), zarr_format=2, chunks=(2, 16, 16))
    write_zarr(
        d / "v3_sharded.zarr",
        pattern((2, 32, 32), "uint8", 6),
        chunks=(1, 8, 8),
        shards=(1, 16, 16),
        attributes={"voxel_size": [1, 2], "axis_names": ["c^", "y", "x"]},
    )
    from stackio_zarr import samples as zarr_samples

    zarr_samples.write_ome_v04(d / "ome_v04.ome.zarr")
    out += [
        Base("zarr", str(d / "v2_chunked.zarr"), "ZYX"),
        Base("zarr", str(d / "v3_sharded.zarr")),
        Base("zarr", str(d / "ome_v04.ome.zarr")),
        Base("zarr", str(d / "ome_v04.ome.zarr"), None, {"level": 1}),
    ]

    d = root / "ndtiff"
    d.mkdir(exist_ok=True)
    images = [
        ({"time": t, "channel": ch, "z": z}, pattern((20, 18), seed=t * 10 + z))
        for t in range(2)
        for ch in ("DAPI", "GFP")
        for z in range(3)
    ]
    write_ndtiff(d / "tcz", images, {"PixelSize_um": 0.5, "z-step_um": 2.0})
    tiles = [({"row": r, "column": c}, pattern((24, 24), seed=40 + 2 * r + c)) for r in range(2) for c in range(2)]
    write_ndtiff(d / "tiles", tiles, {"GridPixelOverlapY": 4, "GridPixelOverlapX": 4})
    out += [
        Base("ndtiff", str(d / "tcz"), "SCZYX"),
        Base("ndtiff", str(d / "tiles")),
        Base("ndtiff", str(d / "tiles"), None, {"stitched": False}),
    ]

    d = root / "numpy"
    d.mkdir(exist_ok=True)
    np.save(d / "volume.npy", pattern((3, 20, 22), "uint16", 7))
    np.save(d / "plane_f4.npy", pattern((18, 21), "float32", 8))
    np.savez_compressed(d / "pair.npz", a=pattern((2, 12, 14), "uint8", 9), b=pattern((12, 14), "int16", 10))
    np.savez(d / "plain.npz", x=pattern((10, 11), "uint16", 11))
    out += [
        Base("numpy", str(d / "volume.npy"), "ZYX"),
        Base("numpy", str(d / "plane_f4.npy"), "YX"),
        Base("numpy", str(d / "pair.npz@0"), "CYX"),
        Base("numpy", str(d / "pair.npz@1"), "YX"),
        Base("numpy", str(d / "plain.npz"), "YX"),
    ]

    d = root / "png"
    d.mkdir(exist_ok=True)
    write_png(d / "grey8.png", pattern((20, 30), "uint8", 12), dpi=(300, 300))
    write_png(d / "grey16.png", pattern((18, 22), "uint16", 13))
    write_png(d / "rgb.png", pattern((16, 20, 3), "uint8", 14))
    from PIL import Image

    frames = [Image.fromarray(pattern((12, 14), "uint8", 20 + i)) for i in range(3)]
    frames[0].save(d / "movie.png", save_all=True, append_images=frames[1:])
    out += [
        Base("png", str(d / "grey8.png")),
        Base("png", str(d / "grey16.png")),
        Base("png", str(d / "rgb.png")),
        Base("png", str(d / "movie.png")),
    ]

    d = root / "jpeg"
    d.mkdir(exist_ok=True)
    write_png(d / "grey.jpg", pattern((24, 32), "uint8", 15), quality=90)
    write_png(d / "rgb.jpg", pattern((20, 28, 3), "uint8", 16), quality=90, dpi=(150, 150))
    out += [Base("jpeg", str(d / "grey.jpg")), Base("jpeg", str(d / "rgb.jpg"))]
    return out


def tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def realdata_bases(root: Path | None, *, limit: int | None = REALDATA_LIMIT) -> list[Base]:
    """The MANIFEST entries of the covered formats (those under `limit` bytes), read with axes=None."""
    if root is None:
        return []
    from stackio.testing import manifest

    out = []
    for entry in manifest(root):
        if entry.format not in FORMATS or not entry.path.exists():
            continue
        if limit is not None and tree_size(entry.path) > limit:
            continue
        out.append(Base(entry.format, str(entry.path), None, {}, "realdata"))
    return out


def write_corpus(root: Path) -> list[Base]:
    """Write the generated inputs under `root`; returns them (realdata not included)."""
    root.mkdir(parents=True, exist_ok=True)
    bases = _generated(root)
    (root / "corpus.json").write_text(json.dumps([b.to_json() for b in bases], indent=1))
    return bases


def read_corpus(root: Path) -> list[Base]:
    return [Base(**b) for b in json.loads((root / "corpus.json").read_text())]


def base_files(path: Path) -> list[Path]:
    """Every file of a source (the file itself, or a dataset folder's files)."""
    text = str(path)
    if "@" in path.name and not path.exists():
        path = Path(text.rsplit("@", 1)[0])
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file())


def checksum_tree(paths: list[Path]) -> dict[str, str]:
    """sha256 of every file under `paths` (files or folders), keyed by path."""
    import hashlib

    out = {}
    for top in paths:
        for f in [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file()):
            h = hashlib.sha256()
            with open(f, "rb") as fh:
                for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                    h.update(block)
            out[str(f)] = h.hexdigest()
    return out


def realdata_root() -> Path | None:
    from stackio.testing import find_realdata

    return find_realdata(Path(__file__).resolve().parents[2])
