"""Reading PNG and JPEG with Pillow: the header at load, the pixels once on first patch.

Neither format can decode a region, so the most direct read of a patch is a
slice of the image decoded once; the decoded array is kept until `close()`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import partial
from typing import Any

import attrs
import numpy as np
from PIL import Image, UnidentifiedImageError
from stackio import (
    AxesError,
    ImageStack,
    Layout,
    LazyStack,
    Metadata,
    ReadError,
    Source,
    StackioError,
    ValidationError,
)
from stackio.axes import FREE, contradictions
from stackio.files import missing_path_error
from stackio.forksafe import track_library
from stackio.memory import ensure_segment_fits

from .samples import write_samples  # noqa: F401  the samples hook still finds them here

track_library("PIL")  # its GIF and PSD plugins have cached properties

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

    def __init__(self, path: str, mode: str, frames: int, nbytes: int = 0) -> None:
        self.path, self.mode, self.frames, self.nbytes = path, mode, frames, nbytes

    def __call__(self) -> np.ndarray:
        ensure_segment_fits(
            self.nbytes,
            self.path,
            "the image (PNG and JPEG are decoded whole)",
            "save it as a tiled TIFF or a chunked zarr, which are read patch by patch",
        )
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
        info: dict[Any, Any] = {
            "format": image.format,
            "mode": image.mode,
            "size": image.size,
            "n_frames": getattr(image, "n_frames", 1),
        }
        info.update(image.info)
        return info


@attrs.frozen
class Picture:
    """What Pillow says of a file at load: its mode, frames, shape and physical pixel size."""

    path: str
    mode: str
    frames: int
    shape: tuple[int, ...]
    #: The file's own axes: (T)YX(C).
    natural: str
    dtype: str
    channel_names: tuple[str, ...] | None
    pixel_um: tuple[float, float] | None


def load(source: Source, axes: str | None, options: Mapping[str, Any], *, format: str = "png") -> list[ImageStack]:
    """The one stack of a PNG or JPEG file (`format` "png" or "jpeg"): frames as samples, colour samples as channels.

    Neither format declares options, so `options` is empty; the core reads the stack into memory when asked.
    """
    picture = locate(format, source)
    layout = plan(picture, axes)
    return [build(picture, layout)]


def locate(format: str, source: Source) -> Picture:
    """Open the file with Pillow once and read what the stack needs (no pixels)."""
    if source.path is None or source.is_dir:
        raise ValidationError(f"{source}: the {format} format reads single image files", source=str(source))
    if not source.path.exists():
        raise missing_path_error(source.path, source, vanished=source.exists)
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
            dpi = image.info.get("dpi")
    except StackioError:
        raise
    except Image.DecompressionBombError as exc:
        raise ReadError(
            f"{path}: the image is larger than Pillow allows by default ({exc}); Pillow's limit guards "
            "against decompression bombs, not against valid large images. If you trust the file, raise "
            f"it before loading: `PIL.Image.MAX_IMAGE_PIXELS = None` (now {Image.MAX_IMAGE_PIXELS})",
            source=path,
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ReadError(
            f"{path}: Pillow cannot read it as {format.upper()} ({type(exc).__name__}: {exc}); "
            "the file may be truncated or not an image",
            source=path,
        ) from exc
    dtype, samples, names = MODES[mode]
    natural = ("T" if frames > 1 else "") + "YX" + ("C" if samples > 1 else "")
    shape = (*((frames,) if frames > 1 else ()), size[1], size[0], *((samples,) if samples > 1 else ()))
    pixel_um = None
    if dpi and all(float(d) > 0 for d in dpi):  # present only when the file gives physical units
        pixel_um = (MICROMETERS_PER_INCH / float(dpi[1]), MICROMETERS_PER_INCH / float(dpi[0]))
    return Picture(path, mode, frames, shape, natural, dtype, names, pixel_um)


def plan(picture: Picture, axes: str | None) -> Layout:
    """The layout of the decoded array: the user's axes, else the file's own (T)YX(C)."""
    shape, frames = picture.shape, picture.frames
    if axes is not None and len(axes) != len(shape):
        colour = picture.natural.endswith("C")
        raise AxesError(
            f"{picture.path}: the image has {len(shape)} dimensions, shape {shape} ({picture.natural}: "
            f"{'frames, ' if frames > 1 else ''}rows, columns{', colour samples' if colour else ''}); "
            f"axes {axes!r} has {len(axes)} letters; pass e.g. axes={picture.natural!r} or leave axes=None",
            source=picture.path,
        )
    if axes is not None:
        # the axes rule: rows and columns are Y and X, colour samples C (or S); only the frame index is free
        allowed = [{"T": FREE, "C": "CS"}.get(a, a) for a in picture.natural]
        if contradictions(axes.upper(), allowed):
            raise AxesError(
                f"{picture.path}: axes {axes!r} contradict the file: its structure declares "
                f"{picture.natural!r} for shape {shape} ({'frames, ' if frames > 1 else ''}rows Y, columns X"
                f"{', colour samples C or S' if picture.natural.endswith('C') else ''}"
                f"{'; the frame index is free' if frames > 1 else ''}); pass e.g. axes={picture.natural!r}",
                source=picture.path,
            )
    return Layout.from_axes(axes or picture.natural, shape, source=picture.path)


def build(picture: Picture, layout: Layout) -> LazyStack:
    """A lazy stack that decodes the file once, on its first patch."""
    colour = picture.natural.endswith("C")
    names = picture.channel_names if colour and layout.original_axes[-1] == "C" else None
    voxel = units = None
    if picture.pixel_um is not None:
        voxel = {"Y": picture.pixel_um[0], "X": picture.pixel_um[1]}
        units = {"Y": "micrometer", "X": "micrometer"}
    metadata = Metadata(voxel_size=voxel, units=units, channel_names=names, raw=partial(raw_info, picture.path))
    nbytes = math.prod(picture.shape) * np.dtype(picture.dtype).itemsize
    decoder = Decoder(picture.path, picture.mode, picture.frames, nbytes)
    return LazyStack(picture.path, layout, np.dtype(picture.dtype), decoder, metadata=metadata)
