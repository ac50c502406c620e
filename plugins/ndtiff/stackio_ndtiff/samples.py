"""Small NDTiff datasets written with ndstorage's own writer, for `stackio demo` and the tests."""

from __future__ import annotations

import contextlib
import io
import shutil
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from stackio import Sample


def write_ndtiff(
    folder: Path,
    images: Iterable[tuple[Mapping[str, Any], np.ndarray]],
    summary: Mapping[str, Any],
    image_metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write `(coordinates, image)` pairs as an NDTiff dataset in `folder` with ndstorage.

    The writer's progress text goes nowhere; `folder` is replaced if it exists.
    """
    from ndstorage import NDTiffDataset

    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    with contextlib.redirect_stdout(io.StringIO()):
        dataset = NDTiffDataset(str(folder), writable=True)
        dataset.initialize(dict(summary))
        for coordinates, image in images:
            meta = dict(image_metadata or {})
            if "channel" in coordinates:
                meta.setdefault("Channel", str(coordinates["channel"]))
            dataset.put_image(dict(coordinates), np.ascontiguousarray(image), meta)
        dataset.finish()
    return folder


def scene(height: int, width: int, seed: int = 0, dtype: str = "uint16") -> np.ndarray:
    """A smooth image with some texture, so stitching and patches are easy to see."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    blobs = np.zeros((height, width))
    for cy, cx, r in zip(rng.uniform(0, height, 12), rng.uniform(0, width, 12), rng.uniform(4, 14, 12), strict=True):
        blobs += np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r**2))
    top = 250 if dtype == "uint8" else 4000
    image = top * blobs / max(blobs.max(), 1e-9) + rng.integers(0, top // 20, (height, width))
    return image.astype(dtype)


def tiles(
    image: np.ndarray, rows: int, columns: int, overlap: tuple[int, int], first: tuple[int, int] = (0, 0)
) -> Iterator[tuple[dict[str, int], np.ndarray]]:
    """Cut `image` into a rows x columns grid of tiles that overlap by `overlap` pixels (y, x).

    Yields `({'row': r, 'column': c}, tile)`; tile (r, c) starts at (r*step_y, c*step_x).
    """
    oy, ox = overlap
    tile_h = (image.shape[0] - oy) // rows + oy
    tile_w = (image.shape[1] - ox) // columns + ox
    for r in range(rows):
        for c in range(columns):
            y, x = r * (tile_h - oy), c * (tile_w - ox)
            yield {"row": first[0] + r, "column": first[1] + c}, image[y : y + tile_h, x : x + tile_w]


def write_samples(directory: Path) -> list[Sample]:
    directory = Path(directory)
    tcz = directory / "time_channel_z"
    channels = ("DAPI", "GFP")
    images = [
        ({"time": t, "channel": ch, "z": z}, scene(48, 40, seed=100 * t + 10 * c + z))
        for t in range(3)
        for c, ch in enumerate(channels)
        for z in range(4)
    ]
    write_ndtiff(tcz, images, {"PixelSize_um": 0.65, "z-step_um": 1.5, "ChNames": list(channels)})

    grid = directory / "tiled_2x2"
    overlap = (8, 8)
    full = scene(120, 120, seed=7)
    write_ndtiff(
        grid / "Full resolution",
        [({**k, "channel": "BF"}, t) for k, t in tiles(full, 2, 2, overlap)],
        {
            "PixelSize_um": 0.5,
            "GridPixelOverlapY": overlap[0],
            "GridPixelOverlapX": overlap[1],
            "Width": 64,
            "Height": 64,
        },
    )
    return [
        Sample(str(tcz), "SCZYX", "time 3 x channel [DAPI, GFP] x z 4, 48x40 uint16 (SCZYX: S=time)"),
        Sample(str(grid), "SCYX", "2x2 tiles of 64x64 with 8 px overlap, stitched into one 112x112 plane"),
        Sample(str(grid), None, "the same tiled dataset read as 4 tiles (samples)", {"stitched": False}),
    ]
