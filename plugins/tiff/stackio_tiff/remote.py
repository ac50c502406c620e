"""TIFF files at URLs (https, s3, gs, any fsspec protocol): tifffile parses the file through an fsspec
file with a block cache, and patches read only the strips or tiles they touch (tifffile's zarr view
of the series). Images, axes and metadata come from the same code as for local files.
"""

from __future__ import annotations

import functools
import os
from pathlib import PurePosixPath
from typing import Any, cast
from urllib.parse import urlsplit

import numpy as np
from stackio import ImageStack, LazyStack, Metadata, ReadError, Source, UnsupportedFormatError, ValidationError
from stackio.remote import StorageOptions, filesystem, network_error, remote_errors

from . import MAGIC, layouts, meta
from .images import _CORRUPT, COMPANION_SUFFIX, Image, _TiffWarnings, list_images

DISTRIBUTION = "stackio-tiff"
#: Bytes per cached block: IFDs and small strips share blocks; a tile read costs one block at most.
BLOCK_SIZE = 1 << 20
#: Blocks kept per open file.
MAX_BLOCKS = 64


def open_remote(url: str, options: StorageOptions) -> Any:
    """The fsspec file at `url` with a block cache (one HEAD for its size, then ranged GETs)."""
    fs, path = filesystem(url, options, DISTRIBUTION)
    with remote_errors(url, DISTRIBUTION):
        return fs.open(
            path, "rb", block_size=BLOCK_SIZE, cache_type="blockcache", cache_options={"maxblocks": MAX_BLOCKS}
        )


class RemoteTiff:
    """One remote TIFF opened with tifffile, and its images."""

    def __init__(self, url: str, options: StorageOptions) -> None:
        import tifffile

        self.url = url
        self.file = open_remote(url, options)
        with remote_errors(url, DISTRIBUTION):
            head = self.file.read(4)
            self.file.seek(0)
        if head not in MAGIC:
            self.file.close()
            raise ReadError(
                f"{url}: is not a TIFF file: it starts with {head!r}, not a TIFF header (II*\\0 or MM\\0*, "
                "BigTIFF II+\\0 or MM\\0+)",
                source=url,
            )
        with _TiffWarnings() as warnings, remote_errors(url, DISTRIBUTION):
            try:
                self.tif = tifffile.TiffFile(self.file, name=PurePosixPath(urlsplit(url).path).name)
            except Exception as exc:
                self.file.close()
                if network_error(exc, url) is not None:
                    raise
                raise ReadError(f"{url}: could not be read as TIFF ({type(exc).__name__}: {exc})", source=url) from exc
        with _TiffWarnings() as more, remote_errors(url, DISTRIBUTION):
            self.images = list_images(self.tif, PurePosixPath(url))  # type: ignore[arg-type]
        bad = [m for m in warnings + more if any(c in m for c in _CORRUPT)]
        if bad or not self.images:
            self.close()
            what = bad[0].split("> ", 1)[-1] if bad else "no readable page"
            raise ReadError(f"{url}: the file is truncated or corrupt ({what})", source=url)

    def close(self) -> None:
        self.tif.close()
        self.file.close()


class RemoteSeries:
    """The pixels of one image at one level, read through tifffile's zarr view of the series."""

    def __init__(self, tiff: RemoteTiff, index: int, level: int, options: StorageOptions) -> None:
        import zarr

        self.url = tiff.url
        self._tiff = tiff
        if index >= len(tiff.images):
            tiff.close()
            raise ReadError(f"{self.url}: series {index} is gone; was the file changed?", source=self.url)
        with remote_errors(self.url, DISTRIBUTION):
            # tifffile's store holds one array at its root, so zarr.open gives an Array
            self._array: Any = cast(Any, zarr.open(tiff.images[index].series.aszarr(level=level), mode="r"))
        self.shape = tuple(int(n) for n in self._array.shape)
        self.dtype = np.dtype(self._array.dtype).newbyteorder("=")
        self.ndim = len(self.shape)
        self._pid = os.getpid()
        self._args = (index, level, options)

    @classmethod
    def open(cls, url: str, index: int, level: int, options: StorageOptions) -> RemoteSeries:
        return cls(RemoteTiff(url, options), index, level, options)

    def __getitem__(self, key: Any) -> np.ndarray:
        if self._pid != os.getpid():  # a forked child: the parent's connections are not usable here
            self.__dict__.update(RemoteSeries.open(self.url, *self._args).__dict__)
        with remote_errors(self.url, DISTRIBUTION):
            try:
                data = self._array[key]
            except Exception as exc:
                if network_error(exc, self.url) is not None:
                    raise
                raise ReadError(
                    f"{self.url}: reading pixels failed ({type(exc).__name__}: {exc}); the file may be "
                    "truncated or corrupt",
                    source=self.url,
                ) from exc
        return np.asarray(data).astype(self.dtype, copy=False)

    def close(self) -> None:
        self._tiff.close()


class RemoteOpener:
    """Opens one image of a remote TIFF for a LazyStack; pickles the URL and public options only."""

    def __init__(self, url: str, index: int, level: int, options: StorageOptions) -> None:
        self.url, self.index, self.level, self.options = url, index, level, options
        self._first: RemoteSeries | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_first": None}

    def __call__(self) -> RemoteSeries:
        first, self._first = self._first, None
        return first if first is not None else RemoteSeries.open(self.url, self.index, self.level, self.options)


def raw_metadata(url: str, kind: str, options: StorageOptions) -> Any:
    """The file's own metadata (OME-XML, ImageJ dict, a flavour's metadata), fetched when asked."""
    tiff = RemoteTiff(url, options)
    try:
        tif = tiff.tif
        with remote_errors(url, DISTRIBUTION):
            if kind == "ome" or tif.is_ome:
                return tif.ome_metadata
            if kind == "imagej" or tif.is_imagej:
                return tif.imagej_metadata
            if kind == "mmstack":
                return tif.micromanager_metadata
            flavour = getattr(tif, f"{kind}_metadata", None) if kind else None
            return flavour if flavour is not None else (tif.pages.first.description or None)
    finally:
        tiff.close()


def _ome_matches(tiff: RemoteTiff, chosen: list[Image]) -> list[meta.OmeMatch | None] | None:
    """The OME Image of every series, the XML parsed once for the file; None when no chosen image is OME."""
    if not any(image.kind == "ome" for image in chosen):
        return None
    with remote_errors(tiff.url, DISTRIBUTION):
        return meta.match_ome([im.series for im in tiff.images], tiff.tif.ome_metadata)


def _metadata(
    tiff: RemoteTiff,
    image: Image,
    axes: str,
    n_channels: int,
    options: StorageOptions,
    ome: list[meta.OmeMatch | None] | None,
) -> Metadata:
    tif = tiff.tif
    physical: meta.Physical | None = None
    with remote_errors(tiff.url, DISTRIBUTION):
        if image.kind == "ome" and ome is not None:
            match = ome[image.index]
            physical = match.physical if match is not None else None
        elif image.kind == "imagej":
            physical = meta.imagej_physical(tif.imagej_metadata or {}, tif.pages.first)
    fields: dict[str, Any] = {"voxel_size": None, "units": None, "offset": None}
    names = None
    if physical is not None:
        fields = physical.for_axes(axes)
        if physical.channel_names is not None and len(physical.channel_names) == n_channels:
            names = physical.channel_names
    raw = functools.partial(raw_metadata, tiff.url, image.kind, options)
    return Metadata(axis_names=tuple(image.axes), channel_names=names, raw=raw, **fields)


def _check_complete(tiff: RemoteTiff, series: Any) -> None:
    """Refuse a file shorter than its pages say (tifffile would read the missing bytes as zeros)."""
    size = int(tiff.file.size)
    with remote_errors(tiff.url, DISTRIBUTION):
        if series.dataoffset is not None:
            end = int(series.dataoffset) + int(series.nbytes)
        else:
            ends = [
                int(o) + int(c)
                for page in series.pages
                if page is not None
                for o, c in zip(page.dataoffsets, page.databytecounts, strict=False)
            ]
            end = max(ends, default=0)
    if end > size:
        tiff.close()
        raise ReadError(
            f"{tiff.url}: the file is truncated: its image data should end at byte {end} but the server "
            f"has {size} bytes; the file was not written (or uploaded) completely",
            source=tiff.url,
        )


def _refuse(url: str, tiff: RemoteTiff) -> None:
    name = PurePosixPath(urlsplit(url).path).name.lower()
    if name.endswith(COMPANION_SUFFIX) or any(i.kind == "mmstack" for i in tiff.images):
        tiff.close()
        raise UnsupportedFormatError(
            f"{url}: multi-file TIFF sets (OME companion files, Micro-Manager stacks) are read from local "
            "folders only; download the whole set and load its folder",
            source=url,
        )


def load(source: Source, axes: str | None, options: dict[str, Any], index: int | None) -> list[ImageStack]:
    """The stacks of a TIFF at a URL: the image asked for by index, else every image of the file."""
    url = str(source.uri)
    if options.get("file_backed"):
        raise ValidationError(f"{source}: file_backed= is for local files; a URL is read lazily", source=url)
    storage = StorageOptions.of(options.get("storage_options"), source)
    level = int(options.get("level") or 0)
    tiff = RemoteTiff(url, storage)
    kept_open = False
    try:
        _refuse(url, tiff)
        images = tiff.images
        if index is not None and not 0 <= index < len(images):
            raise ValidationError(
                f"{url}: series {index} does not exist; the file has {len(images)} series "
                f"(0 to {len(images) - 1}); pass series=N or {url}@N with one of them",
                source=url,
            )
        chosen = [images[index]] if index is not None else list(images)
        stacks: list[ImageStack] = []
        ome = _ome_matches(tiff, chosen)
        for image in chosen:
            if level and not 0 <= level < image.levels:
                raise ValidationError(
                    f"{url}: pyramid level {level} does not exist; the image has {image.levels} level(s), "
                    f"0 to {image.levels - 1}",
                    source=url,
                )
            label = url if len(images) == 1 else f"{url}@{image.index}"
            series = image.series.levels[level] if level else image.series
            _check_complete(tiff, series)
            shape = tuple(int(n) for n in series.shape)
            resolved = layouts.resolve_image(image, shape, axes, source=label)
            layout = layouts.layout_for(resolved, shape, source=label)
            metadata = _metadata(tiff, image, resolved, layout.n_channels, storage, ome)
            opener = RemoteOpener(url, image.index, level, storage)
            if not kept_open:  # the first stack reads through the file already open (its blocks cached)
                opener._first = RemoteSeries(tiff, image.index, level, storage)
                kept_open = True
            kept: dict[str, Any] = {"level": level} if level else {}
            stacks.append(
                LazyStack(
                    label,
                    layout,
                    np.dtype(series.dtype).newbyteorder("="),
                    opener,
                    metadata=metadata,
                    load_options={**kept, **storage.load_option()},
                )
            )
        return stacks
    except BaseException:
        tiff.close()
        raise
