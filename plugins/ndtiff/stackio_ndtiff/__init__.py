"""stackio plugin for NDTiff datasets (Micro-Manager 2, pycro-manager): declarations and hooks only.

Reading lives in `reader`; it is imported by `stackio_load` only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from stackio import Detection, FormatSpec, ImageStack, Option, Sample, Source, UnsupportedFormatError, hookimpl
from stackio.remote import SCHEMES

INDEX = "NDTiff.index"
MARKERS = (INDEX, "Full resolution/NDTiff.index")
OPTIONS = (
    # select's structure (axis names to values or lists of them) is checked by the reader, with the dataset's axes
    Option(
        "select",
        doc="NDTiff axis name -> value or list of values to keep, e.g. {'time': 2, 'channel': 'DAPI'}",
        identifies=True,
    ),
    Option("stitched", bool, "stitch tiled XY positions into one plane (default: when the dataset has a grid)"),
    Option(
        "level", int, "resolution level: 0 is full resolution, N is Downsampled_x{2**N}", minimum=0, identifies=True
    ),
)


@hookimpl
def stackio_register_formats(register: Callable[[FormatSpec], None]) -> None:
    register(
        FormatSpec(
            name="ndtiff",
            directories=True,
            markers=MARKERS,
            # declared so that a URL naming an NDTiff dataset gets the error saying it is read locally only
            schemes=SCHEMES,
            owns_files=True,
            priority=10,
            options=OPTIONS,
            handles_index=True,  # refused with a pointer to select={'position': N}
            heavy_modules=("ndstorage", "ndtiff"),
            description="Micro-Manager / pycro-manager NDTiff dataset folders (NDTiff.index), tiled XY stitched",
        )
    )


@hookimpl
def stackio_detect(source: Source) -> Detection:
    if source.is_remote:
        return Detection.refuse("NDTiff datasets are read from local folders only")
    if not source.is_dir:
        return Detection.refuse("not a folder; an NDTiff dataset is the folder holding NDTiff.index")
    for marker in MARKERS:
        if source.has(marker):
            return Detection.accept(f"folder holds {marker}")
    return Detection.refuse("folder holds no NDTiff.index (nor 'Full resolution/NDTiff.index')")


@hookimpl
def stackio_validate(source: Source, axes: str | None, options: dict[str, Any]) -> None:
    if source.is_remote:
        raise UnsupportedFormatError(
            f"{source}: NDTiff datasets are read from local folders only (their index and stack files are "
            "read with memory maps); download the dataset folder and load it from disk",
            source=str(source),
        )
    from . import reader

    reader.validate(source, axes, options)


@hookimpl
def stackio_load(source: Source, axes: str | None, options: dict[str, Any]) -> Sequence[ImageStack]:
    from . import reader

    return reader.load(source, axes, options)


@hookimpl
def stackio_write_samples(directory: Path) -> Sequence[Sample]:
    from . import samples  # imports ndstorage

    return samples.write_samples(directory)
