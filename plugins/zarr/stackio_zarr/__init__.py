"""stackio plugin for Zarr v2/v3 stores and OME-Zarr: declarations and hooks; reading lives in `reader`.

Also the crop-layout reader for segmentation training sets: `load_crops`, `Crop`, `normalize_raw`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackio import Detection, FormatSpec, ImageStack, Option, Sample, Source, hookimpl
from stackio.remote import SCHEMES

from .crops import Crop, load_crops, normalize_raw

if TYPE_CHECKING:
    from stackio.writing import DatasetWriter, WriteRequest

MARKERS = ("zarr.json", ".zgroup", ".zarray")
OPTIONS = (
    Option("level", int, "the multiscales level, 0 is full resolution", minimum=0, identifies=True),
    Option(
        "storage_options", Mapping, "fsspec storage options for a URL (credentials, endpoint); never in load_options"
    ),
)
#: Options of the OME-Zarr writer (see writer.py).
WRITE_OPTIONS = ("version", "compression", "name")


@hookimpl
def stackio_register_formats(register: Callable[[FormatSpec], None]) -> None:
    register(
        FormatSpec(
            name="zarr",
            suffixes=(".zarr", ".ome.zarr"),
            directories=True,
            markers=MARKERS,
            schemes=SCHEMES,
            owns_files=True,
            options=OPTIONS,
            handles_index=True,  # store@N: the N-th of the stacks the store gives
            writes=(".ome.zarr", ".zarr"),
            write_options=WRITE_OPTIONS,
            heavy_modules=("zarr", "numcodecs"),
            description="Zarr v2/v3 stores, groups and arrays (paths, file:// URIs, URLs); OME-Zarr 0.1-0.5",
        )
    )


def _inside_store(path: Path) -> bool:
    return any(any((p / m).is_file() for m in MARKERS) for p in path.parents)


@hookimpl
def stackio_detect(source: Source) -> Detection:
    if source.path is None and source.is_remote:
        from .remote import detect

        return detect(source)
    if source.path is None:
        return Detection.refuse("not a local path")
    if not source.is_dir:
        if source.path.name in MARKERS:
            return Detection.accept(f"a zarr metadata file ({source.path.name}): its directory is read")
        return Detection.refuse("a file; zarr stores are directories")
    found = [m for m in MARKERS if m in source.names]
    if found:
        return Detection.accept(f"directory with {found[0]}")
    if _inside_store(source.path):
        return Detection.accept("a directory inside a zarr store")
    return Detection.refuse("no zarr.json, .zgroup or .zarray in the directory")


@hookimpl
def stackio_load(source: Source, axes: str | None, options: dict[str, Any]) -> Sequence[ImageStack]:
    from . import reader  # zarr is imported only now

    return reader.load(source, axes, options)


@hookimpl
def stackio_open_writer(request: WriteRequest) -> DatasetWriter:
    from . import writer  # zarr is imported only now

    return writer.open_writer(request)


@hookimpl
def stackio_write_samples(directory: Path) -> Sequence[Sample]:
    from . import samples

    return samples.write_samples(directory)


def write_crops(store: Any, crops: Any, **kwargs: Any) -> Path:
    """Write a DaCapo crop layout (see `crop_writer.write_crops`); imports zarr only now."""
    from .crop_writer import write_crops as write

    return write(store, crops, **kwargs)


def __getattr__(name: str) -> Any:
    if name == "CropData":
        from .crop_writer import CropData

        return CropData
    raise AttributeError(name)


__all__ = ["Crop", "CropData", "load_crops", "normalize_raw", "write_crops"]
