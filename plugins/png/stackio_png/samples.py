"""Samples for `stackio demo` and the conformance suite, written by Pillow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from stackio import Sample


def write_samples(directory: Path) -> list[Sample]:
    """Small PNG, animated PNG and JPEG samples written by Pillow."""
    rng = np.random.default_rng(11)
    grey = Image.fromarray(rng.integers(0, 255, (40, 56), dtype=np.uint8))
    grey.save(directory / "grey8.png", dpi=(25400 / 0.5, 25400 / 0.5))
    deep = Image.fromarray(rng.integers(0, 65535, (24, 31), dtype=np.uint16))
    deep.save(directory / "grey16.png")
    colour = Image.fromarray(rng.integers(0, 255, (33, 47, 3), dtype=np.uint8), "RGB")
    colour.save(directory / "colour.png")
    frames = [Image.fromarray(np.full((16, 20), 40 * i, np.uint8)) for i in range(3)]
    frames[0].save(directory / "movie.png", save_all=True, append_images=frames[1:], duration=100)
    colour.save(directory / "photo.jpg", quality=95, dpi=(300, 300))
    return [
        Sample(str(directory / "grey8.png"), None, "8-bit grey PNG declaring 0.5 um pixels (pHYs)"),
        Sample(str(directory / "grey16.png"), "YX", "16-bit grey PNG"),
        Sample(str(directory / "colour.png"), "YXC", "8-bit RGB PNG"),
        Sample(str(directory / "movie.png"), "TYX", "animated PNG, 3 frames"),
        Sample(str(directory / "photo.jpg"), None, "RGB JPEG at 300 dpi"),
    ]
