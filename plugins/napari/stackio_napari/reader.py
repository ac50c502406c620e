"""napari's reader contribution: `get_reader(path)` says whether stackio reads a path; the reader reads it.

Everything goes through `stackio.load`, so through whatever format plugins are installed. A source no
installed format reads gets None (napari asks its other readers); a source stackio claims but cannot read
gets the stackio error, with its message and nothing from deep inside a format library.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import stackio

from .layers import is_labels, layer_data
from .levels import pyramids

LayerData = tuple[Any, dict[str, Any], str]
PathLike = str | os.PathLike[str]

#: Axes tried, by number of dimensions, for data that does not name its own (plain numpy or zarr
#: arrays): napari shows such data as it is, one slider per leading dimension, and so do these.
ASSUMED_AXES = ("YX", "ZYX", "TZYX", "TCZYX", "STCZYX")


def get_reader(path: PathLike | Sequence[PathLike]) -> Callable[[Any], list[LayerData]] | None:
    """The reader for `path` (one path or several) if an installed stackio format claims each, else None.

    Only detection runs here (suffix, directory markers, a header): nothing is loaded.
    """
    paths = _as_list(path)
    if not paths or not all(claims(p) for p in paths):
        return None
    return read


def claims(path: PathLike) -> bool:
    """Whether an installed stackio format claims `path`, or a file in the plain folder `path`."""
    if _detects(path):
        return True
    folder = Path(path)
    return folder.is_dir() and any(_detects(child) for child in _entries(folder))


def read(path: PathLike | Sequence[PathLike]) -> list[LayerData]:
    """napari layer data for every stack of every path, in order; the stackio error if one cannot be read."""
    layers: list[LayerData] = []
    for one in _as_list(path):
        try:
            layers += read_source(str(one))
        except stackio.StackioError as exc:
            raise _plain(exc) from None
    return layers


def read_source(source: str) -> list[LayerData]:
    """The layers of one source: a file, a dataset directory, or a plain folder (each file it holds)."""
    if not _detects(source) and Path(source).is_dir():
        return [layer for child in _entries(Path(source)) if _detects(child) for layer in read_source(str(child))]
    fmt = stackio.detect(source).format
    stacks, axes = _load(source)
    layers = []
    chains = pyramids(source, stacks, axes, fmt)
    names = layer_names(source, [chain[0].source for chain in chains])
    for chain, name in zip(chains, names, strict=True):
        extra = {"format": fmt, "assumed_axes": axes} if axes else {"format": fmt}
        layers.append(layer_data(chain, name, labels=is_labels(chain[0]), extra_metadata=extra))
    if not any(is_labels(chain[0]) for chain in chains):
        layers += _labels_group(source, fmt)
    return layers


def layer_names(source: str, stack_sources: Sequence[str]) -> list[str]:
    """One name per stack: the source's name, then what tells its stacks apart (`@1`, `/crop_1/raw`)."""
    base = _name(source)
    if len(stack_sources) == 1:
        return [base]
    root = _local(source)
    names = []
    for s in stack_sources:
        local = _local(s)
        if root is not None and local is not None and local.startswith(root) and len(local) > len(root):
            names.append(base + local[len(root) :])
        else:
            names.append(_name(s))
    return names


def _labels_group(source: str, fmt: str) -> list[LayerData]:
    """Labels layers for the images of a `labels/` group beside the image (OME-Zarr's layout)."""
    local = _local(source)
    group = Path(local) / "labels" if local is not None else None
    if group is None or not group.is_dir():
        return []
    layers = []
    for child in _entries(group):
        if not child.is_dir() or not _detects(child):
            continue
        try:
            stacks = stackio.load(str(child), format=fmt)
            chains = pyramids(str(child), stacks, None, fmt)
        except stackio.StackioError as exc:
            warnings.warn(f"{source}: the labels {child.name!r} are not shown: {exc}", stacklevel=2)
            continue
        names = layer_names(str(child), [chain[0].source for chain in chains])
        for chain, name in zip(chains, names, strict=True):
            if not is_labels(chain[0], role_hint="labels"):
                continue  # not integer data: napari cannot show it as labels
            layers.append(
                layer_data(chain, f"{_name(source)} labels/{name}", labels=True, extra_metadata={"format": fmt})
            )
    return layers


def _load(source: str) -> tuple[list[Any], str | None]:
    """The stacks of `source`, and the axes assumed when its data does not name them (else None)."""
    try:
        return stackio.load(source), None
    except stackio.AxesError as first:
        for axes in ASSUMED_AXES:
            try:
                return stackio.load(source, axes), axes
            except stackio.AxesError:
                continue
        raise first from None


def _detects(path: PathLike) -> bool:
    try:
        stackio.detect(os.fspath(path))
    except stackio.StackioError:
        return False
    return True


def _entries(folder: Path) -> list[Path]:
    try:
        children = [c for c in folder.iterdir() if not c.name.startswith(".")]
    except OSError:
        return []
    return sorted(children, key=lambda c: stackio.natural_key(c.name))


def _as_list(path: PathLike | Sequence[PathLike]) -> list[PathLike]:
    return [path] if isinstance(path, (str, os.PathLike)) else list(path)


def _local(source: str) -> str | None:
    """A local path for a path or file:// URI (no trailing slash), else None."""
    if "://" not in source:
        return str(Path(source)).rstrip("/") or "/"
    parsed = urlparse(source)
    return unquote(parsed.path).rstrip("/") if parsed.scheme == "file" else None


def _name(source: str) -> str:
    local = _local(source)
    return Path(local).name if local is not None else source.rstrip("/").rsplit("/", 1)[-1]


def _plain(exc: stackio.StackioError) -> stackio.StackioError:
    """The same stackio error without the chain of format-library exceptions behind it."""
    try:
        return type(exc)(str(exc), source=exc.source)
    except TypeError:  # a subclass with its own constructor
        return stackio.StackioError(str(exc), source=exc.source)
