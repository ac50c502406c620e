"""Reading PNG and JPEG with Pillow: the header at load, the pixels once on first patch.

Neither format can decode a region, so the most direct read of a patch is a
slice of the image decoded once; the decoded array is kept until `close()`.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError
from stackio import (
    AxesError,
    ImageStack,
    Layout,
    LazyStack,
    Metadata,
    ReadError,
    Sample,
    Source,
    StackioError,
    ValidationError,
)

#: Pillow mode -> (numpy dtype, colour samples, channel names); palette modes are expanded first.
MODES: dict[str, tuple[str, int, tuple[str, ...] | None]] = {
    "1": ("bool", 1, None),
    "L": ("uint8", 1, None),
    "LA": ("uint8", 2, ("L", "A")),
    "RGB": ("uint8", 3, ("R", "G", "B")),
    "RGBA": ("uint8", 4, ("R", "G", "B", "A")),
    "CMYK": ("uint8", 4, ("C", "M", "Y", "K")),
    "I;16": ("uint16", 1, None),
    "I;16B": ("uint16", 1, None),
    "I;16L": ("uint16", 1, None),
    "I": ("int32", 1, None),
    "F": ("float32", 1, None),
}
MICROMETERS_PER_INCH = 25400.0
#: Pillow's names for what each stackio format accepts.
PILLOW_FORMATS = {"png": ("PNG",), "jpeg": ("JPEG", "MPO")}


def _target_mode(image: Image.Image) -> str:
    if image.mode == "P":
        return "RGBA" if "transparency" in image.info else "RGB"
    if image.mode == "PA":
        return "RGBA"
    return image.mode


class Decoder:
    """Opener for LazyStack: decodes every frame once into (T,)Y,X(,C) in native byte order."""

    def __init__(self, path: str, mode: str, frames: int) -> None:
        self.path, self.mode, self.frames = path, mode, frames

    def __call__(self) -> np.ndarray:
        with Image.open(self.path) as image:
            planes = []
            for i in range(self.frames):
                image.seek(i)
                frame = image if image.mode == self.mode else image.convert(self.mode)
                planes.append(np.asarray(frame))
        array = np.stack(planes) if self.frames > 1 else planes[0]
        return array.astype(array.dtype.newbyteorder("="), copy=False)


def raw_info(path: str) -> dict[str, Any]:
    """Pillow's own metadata of the file: format, mode, size and its `info` dict."""
    with Image.open(path) as image:
        return {
            "format": image.format,
            "mode": image.mode,
            "size": image.size,
            "n_frames": getattr(image, "n_frames", 1),
            **image.info,
        }


def _metadata(image: Image.Image, path: str, channel_names: tuple[str, ...] | None) -> Metadata:
    dpi = image.info.get("dpi")
    voxel = units = None
    if dpi and all(float(d) > 0 for d in dpi):  # present only when the file gives physical units
        voxel = {"Y": MICROMETERS_PER_INCH / float(dpi[1]), "X": MICROMETERS_PER_INCH / float(dpi[0])}
        units = {"Y": "micrometer", "X": "micrometer"}
    return Metadata(voxel_size=voxel, units=units, channel_names=channel_names, raw=partial(raw_info, path))


def load(format: str, source: Source, axes: str | None, *, in_memory: bool) -> list[ImageStack]:
    if source.path is None or not source.path.is_file():
        raise ValidationError(f"{source}: the {format} format reads single image files", source=str(source))
    path = str(source.path.resolve())
    try:
        with Image.open(path) as image:
            if image.format not in PILLOW_FORMATS[format]:
                raise ReadError(f"{path}: is a {image.format} image, not {format.upper()}", source=path)
            mode = _target_mode(image)
            frames = int(getattr(image, "n_frames", 1))
            if image.format == "MPO":  # JPEG with several pictures (stereo): the primary one
                frames = 1
            size = image.size
            if mode not in MODES:
                raise ReadError(
                    f"{path}: Pillow mode {mode!r} is not supported (supported: {', '.join(MODES)})", source=path
                )
            dtype, samples, names = MODES[mode]
            natural = ("T" if frames > 1 else "") + "YX" + ("C" if samples > 1 else "")
            shape = (*((frames,) if frames > 1 else ()), size[1], size[0], *((samples,) if samples > 1 else ()))
            if axes is not None and len(axes) != len(shape):
                raise AxesError(
                    f"{path}: the image has {len(shape)} dimensions, shape {shape} ({natural}: "
                    f"{'frames, ' if frames > 1 else ''}rows, columns{', colour samples' if samples > 1 else ''}); "
                    f"axes {axes!r} has {len(axes)} letters; pass e.g. axes={natural!r} or leave axes=None",
                    source=path,
                )
            given = axes or natural
            names = names if samples > 1 and given[-1] == "C" else None
            metadata = _metadata(image, path, names)
    except StackioError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ReadError(
            f"{path}: Pillow cannot read it as {format.upper()} ({type(exc).__name__}: {exc}); "
            "the file may be truncated or not an image",
            source=path,
        ) from exc
    layout = Layout.from_axes(given, shape, source=path)
    decoder = Decoder(path, mode, frames)
    stack = LazyStack(path, layout, np.dtype(dtype), decoder, metadata=metadata)
    if in_memory:
        try:
            return [stack.to_memory()]
        finally:
            stack.close()
    return [stack]


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
