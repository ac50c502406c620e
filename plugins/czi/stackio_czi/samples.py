"""Small CZI samples written with pylibCZIrw's own writer, for `stackio demo` and conformance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from stackio import Sample


def write_scenes_zc(path: Path) -> None:
    """Two scenes 90,000 px apart, each 2 channels x 4 Z of 48x64 uint16, zstd-compressed."""
    from pylibCZIrw import czi as pyczi

    rng = np.random.default_rng(7)
    with pyczi.create_czi(str(path), exist_ok=True) as writer:
        for scene, location in enumerate([(100, 50), (90_100, 50)]):
            for z in range(4):
                for c in range(2):
                    yy, xx = np.mgrid[0:48, 0:64]
                    base = (xx * 40 + yy * 20 + z * 1000 + c * 5000 + scene * 20000).astype(np.uint16)
                    noise = rng.integers(0, 50, base.shape, dtype=np.uint16)
                    writer.write(
                        base + noise,
                        plane={"C": c, "Z": z},
                        location=location,
                        scene=scene,
                        compression_options="zstd1:ExplicitLevel=1;PreProcess=HiLoByteUnpack",
                    )


def write_rgb(path: Path) -> None:
    """One Bgr24 plane of 40x56 (stored B, G, R)."""
    from pylibCZIrw import czi as pyczi

    yy, xx = np.mgrid[0:40, 0:56]
    bgr = np.stack([(xx * 4) % 256, (yy * 6) % 256, ((xx + yy) * 3) % 256], axis=-1).astype(np.uint8)
    with pyczi.create_czi(str(path), exist_ok=True) as writer:
        writer.write(bgr, location=(0, 0))


def write_samples(directory: Path) -> list[Sample]:
    directory = Path(directory)
    scenes = directory / "two_scenes_zc.czi"
    rgb = directory / "rgb.czi"
    write_scenes_zc(scenes)
    write_rgb(rgb)
    return [
        Sample(str(scenes), "SCZYX", "2 scenes 90,000 px apart, C=2, Z=4, 48x64 uint16, zstd (one stack each)"),
        Sample(str(rgb), None, "Bgr24 40x56: 3 channels in R, G, B order"),
    ]
