"""Scenario 10: one image's own metadata, `stack.image_metadata(...)` against the format library's own call.

Both sides hold their files open (the stack and the library's dataset object are opened once, before
timing) and are asked for random images: NDTiff against ndstorage's `read_metadata(**axes)`, CZI
against czifile's subblock `metadata()`, OME-TIFF against tifffile's OME-XML (`xml2dict` of
`ome_metadata`, the Plane picked out). Each side's answer is checked against the other's first.
"""

from __future__ import annotations

import contextlib
import io
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .config import Config
from .util import Row, have, interleaved, median

T, C, Z = 8, 2, 12


def _calls(cfg: Config) -> int:
    return {"smoke": 20, "quick": 300}.get(cfg.size, 2000)


def _images() -> list[tuple[int, int, int]]:
    return [(t, c, z) for t in range(T) for c in range(C) for z in range(Z)]


def _ndtiff(folder: Path) -> Any:
    from ndstorage import NDTiffDataset

    with contextlib.redirect_stdout(io.StringIO()):
        dataset = NDTiffDataset(str(folder), writable=True)
        dataset.initialize({"PixelSize_um": 0.5})
        for t, c, z in _images():
            meta = {"ElapsedTime-ms": 1000.0 * t + z, "Exposure-ms": 10.0, "XPositionUm": 1.0 * t, "ZPositionUm": z}
            dataset.put_image({"time": t, "channel": c, "z": z}, np.zeros((64, 64), np.uint16), meta)
        dataset.finish()
    return folder


def _ome(path: Path) -> Path:
    import tifffile

    order = _images()
    planes = {"DeltaT": [1.0 * t + 0.01 * z for t, _, z in order], "PositionX": [1.0 * t for t, _, _ in order]}
    data = np.zeros((T, C, Z, 64, 64), np.uint16)
    tifffile.imwrite(path, data, ome=True, metadata={"axes": "TCZYX", "Plane": planes})
    return path


def _case(
    name: str, stackio_call: Callable[[Any], Any], library: str, library_call: Callable[[Any], Any], cfg: Config
) -> tuple[str, float, str, float, dict[str, int]]:
    rng = random.Random(8)
    args = [rng.choice(_images()) for _ in range(_calls(cfg))]
    times = interleaved({"stackio": stackio_call, "library": library_call}, args)
    return (
        name,
        median(times["stackio"]) * 1e6,
        library,
        median(times["library"]) * 1e6,
        {
            "stackio": len(times["stackio"]),
            library: len(times["library"]),
        },
    )


def run(cfg: Config, log: Callable[[str], None]) -> list[Row]:
    import stackio

    rows: list[Row] = []
    results = []
    if "ndtiff" in cfg.formats and have("ndstorage"):
        from ndstorage import Dataset

        folder = _ndtiff(cfg.data / "images_ndtiff")
        stack = stackio.load(folder, "SCZYX")[0]
        with contextlib.redirect_stdout(io.StringIO()):
            reference = Dataset(str(folder))
        first = stack.image_metadata(1, 1, 3)
        if first is None or first.raw != reference.read_metadata(time=1, channel=1, z=3):
            raise AssertionError("scenario 10: stackio's NDTiff image metadata differs from ndstorage's")
        results.append(
            _case(
                f"NDTiff ({T}x{C}x{Z} images): one image's metadata",
                lambda a: stack.image_metadata(*a),
                "ndstorage read_metadata(**axes)",
                lambda a: reference.read_metadata(time=a[0], channel=a[1], z=a[2]),
                cfg,
            )
        )
    else:
        rows.append(Row.skipped("10", "NDTiff: one image's metadata", "µs", "stackio-ndtiff or ndstorage missing"))
    if "tiff" in cfg.formats:
        import tifffile

        path = _ome(cfg.data / "images.ome.tif")
        stack = stackio.load(path)[0]
        tif = tifffile.TiffFile(path)

        def plane(a: tuple[int, int, int]) -> dict[str, Any]:
            pixels = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]["Pixels"]
            t, c, z = a
            return next(p for p in pixels["Plane"] if (p["TheT"], p["TheC"], p["TheZ"]) == (t, c, z))

        found = stack.image_metadata(1, 1, 3)
        if found is None or float(found.raw["PositionX"]) != plane((1, 1, 3))["PositionX"]:
            raise AssertionError("scenario 10: stackio's OME Plane differs from tifffile's OME-XML")
        results.append(
            _case(
                f"OME-TIFF ({T}x{C}x{Z} Planes): one image's metadata",
                lambda a: stack.image_metadata(*a),
                "tifffile xml2dict(ome_metadata), Plane picked",
                plane,
                cfg,
            )
        )
    if "czi" in cfg.formats and have("czifile") and have("pylibCZIrw"):
        results.append(_czi(cfg))
    for case, ours, library, theirs, samples in results:
        log(f"  10 {case}: stackio {ours:.1f} µs, {library} {theirs:.1f} µs")
        rows.append(Row("10", case, "µs/call", ours, library, theirs, "<= 1.0x", 1.0, samples=samples))
    return rows


def _czi(cfg: Config) -> tuple[str, float, str, float, dict[str, int]]:
    """A pylibCZIrw-written T x C x Z file (its subblocks carry pylibCZIrw's retiling id)."""
    import czifile
    import stackio
    from pylibCZIrw import czi as pyczi

    path = cfg.data / "images.czi"
    with pyczi.create_czi(str(path), exist_ok=True) as writer:
        for t, c, z in _images():
            writer.write(np.zeros((64, 64), np.uint16), plane={"T": t, "C": c, "Z": z})
    stack = stackio.load(path, "SCZYX")[0]
    czi = czifile.CziFile(str(path))
    entries = {}
    for entry in czi.subblock_directory:
        coords = dict(zip(entry.axes, entry.start, strict=True))
        entries[(coords.get("T", 0), coords.get("C", 0), coords.get("Z", 0))] = entry
    found = stack.image_metadata(1, 1, 3)
    if found is None or found.raw != entries[(1, 1, 3)].data_segment().metadata(raw=True).rstrip("\0"):
        raise AssertionError("scenario 10: stackio's CZI subblock metadata differs from czifile's")
    return _case(
        f"CZI ({T}x{C}x{Z} subblocks): one image's metadata",
        lambda a: stack.image_metadata(*a),
        "czifile subblock data_segment().metadata()",
        lambda a: entries[a].data_segment().metadata(),
        cfg,
    )
