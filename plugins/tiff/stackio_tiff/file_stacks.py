"""The stacks of one local TIFF file: image selection, multi-file ownership, metadata, stack construction."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs
import numpy as np
from stackio import (
    FileBackedStack,
    ImageStack,
    Layout,
    LazyStack,
    Metadata,
    ReadError,
    ValidationError,
)

from . import image_meta, layouts, meta
from .images import Image, Opened, PlaneSet, image_owner, make_store, open_file
from .pages import MemmapStore, PlaneStore


def _same(a: str | Path, b: str | Path) -> bool:
    # The string comparison settles the common case without the system calls realpath makes.
    return str(a) == str(b) or os.path.realpath(a) == os.path.realpath(b)


# -- openers ---------------------------------------------------------------------------------


class ImageOpener:
    """Reopens one image of a file and returns its store; picklable (the store is not pickled)."""

    def __init__(
        self,
        path: str,
        index: int,
        level: int,
        allow_missing: bool = False,
        prebuilt: MemmapStore | PlaneStore | None = None,
    ) -> None:
        self.path = path
        self.index = index
        self.level = level
        self.allow_missing = allow_missing
        self._prebuilt = prebuilt

    def __call__(self) -> Any:
        prebuilt, self._prebuilt = self._prebuilt, None
        if prebuilt is not None:
            return prebuilt
        opened = open_file(Path(self.path), allow_missing=self.allow_missing)
        try:
            if self.index >= len(opened.images):
                raise ReadError(f"{self.path}: series {self.index} is gone; was the file changed?", source=self.path)
            store = make_store(opened.images[self.index], self.level, Path(self.path))
            _check_missing(self.path, opened, opened.images[self.index], store, self.allow_missing)
            return store
        finally:
            opened.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_prebuilt"] = None
        return state

    def __repr__(self) -> str:
        return f"ImageOpener({self.path!r}, index={self.index}, level={self.level})"


class ReadWhole:
    """`read_func` for `FileBackedStack`: the whole image, in the stack's axes."""

    def __init__(self, opener: ImageOpener, arrange: bool, layout: Any) -> None:
        self.opener = opener
        self.arrange = arrange
        self.layout = layout

    def __call__(self, path: str) -> np.ndarray:
        store = self.opener()
        try:
            data = store[(slice(None),) * store.ndim]
        finally:
            store.close()
        return np.asarray(self.layout.to_stack_order(data)) if self.arrange else data


def load_file(
    path: Path,
    axes: str | None,
    options: dict[str, Any],
    *,
    index: int | None,
    covered: set[str] | None = None,
    recipes: list[tuple[StackRecipe, MemmapStore | PlaneStore]] | None = None,
) -> list[ImageStack]:
    """The stacks of one file: the image asked for by index, else every image the file owns.

    With `covered` (a folder being read), every image of the file's multi-file set whose first
    plane is in the same folder is given, each as if loaded from the file holding that plane, and
    the paths of the set's files are added to `covered`: the folder need not open them again.
    With `recipes`, a file whose stacks depend on nothing but its own bytes gets one `StackRecipe`
    per stack there, with the store it reads (see `shared`); a file of any other kind leaves it empty.
    """
    path = path.absolute()
    level = int(options.get("level") or 0)
    opened = open_file(path, allow_missing=bool(options.get("allow_missing")))
    try:
        images = opened.images
        if index is not None:
            if not 0 <= index < len(images):
                listing = ", ".join(str(i) for i in range(len(images)))
                raise ValidationError(
                    f"{path}: series {index} does not exist; the file has {len(images)} series "
                    f"({listing}); pass series=N or {path.name}@N with one of them",
                    source=str(path),
                )
            chosen = [images[index]]
        else:
            chosen = list(images)
        for image in chosen:
            if level and not 0 <= level < image.levels:
                raise ValidationError(
                    f"{_label(path, opened, image)}: pyramid level {level} does not exist; the image has "
                    f"{image.levels} level(s), 0 to {image.levels - 1}",
                    source=str(path),
                )
        allow_missing = bool(options.get("allow_missing"))
        cache: dict[int, PlaneSet] = {}
        from_companion = opened.companion is not None and _same(opened.companion, path)
        if index is None and not from_companion:
            owners = {id(image): image_owner(image) for image in chosen}
            owned = [image for image in chosen if owners[id(image)] and _same(owners[id(image)], path)]
            if covered is not None:
                owned = []
                for image in chosen:
                    start = owners[id(image)]
                    if not start:  # its first plane is missing: say so (or skip it when allowed)
                        store = make_store(image, level, path, cache)
                        _check_missing(str(path), opened, image, store, allow_missing)
                        continue
                    if not _same(Path(start).parent, path.parent):
                        raise _not_an_owner(path, owners.values())
                    owned.append(image)
            elif not owned:
                raise _not_an_owner(path, owners.values())
            chosen = owned
        built = [(image, make_store(image, level, path, cache)) for image in chosen]
        described = _Described(opened)
        stacks = []
        made: list[tuple[StackRecipe, MemmapStore | PlaneStore] | None] = []
        for image, store in built:
            _check_missing(str(path), opened, image, store, allow_missing)
            home = path
            if covered is not None and not from_companion:
                home = Path(image_owner(image)).absolute() if index is None else path
                covered |= _files_of(store, home)
            recipe = _recipe(home, opened, image, store, axes, level, options, described)
            contained = recipes is not None and _self_contained(path, home, opened, image, store)
            made.append((recipe, store) if contained and isinstance(store, (MemmapStore, PlaneStore)) else None)
            stacks.append(recipe.build(home, store))
        if recipes is not None and index is None and made and all(r is not None for r in made):
            recipes += [r for r in made if r is not None]
        return stacks
    finally:
        opened.close()


def _files_of(store: Any, path: Path) -> set[str]:
    if isinstance(store, PlaneStore):
        return {os.path.realpath(p.file.path) for p in store.planes if p is not None}
    if isinstance(store, MemmapStore):
        return {os.path.realpath(store.file.path)}
    return {os.path.realpath(path)}


def _label(path: Path, opened: Opened, image: Image) -> str:
    """The stack's source: the path, with @N when the file has several images or N starts elsewhere."""
    from_companion = opened.companion is not None and _same(opened.companion, path)
    here = from_companion or _same(image_owner(image) or path, path)
    return str(path) if len(opened.images) == 1 and here else f"{path}@{image.index}"


def _not_an_owner(path: Path, owners: Iterable[str]) -> ValidationError:
    starts = sorted({Path(o).name for o in owners if o})
    where = ", ".join(starts) or "files that are missing"
    return ValidationError(
        f"{path}: this file only continues image(s) of a multi-file set; each image is read from the file "
        f"holding its first plane ({where}). Load that file or the whole folder, or pass series=N "
        f"({path.name}@N) to read one image through this file",
        source=str(path),
    )


def _check_missing(path: str, opened: Opened, image: Image, store: Any, allow_missing: bool) -> None:
    if not isinstance(store, PlaneStore) or allow_missing:
        return
    used = store.plane_indices()
    missing = sum(store.planes[i] is None for i in used)
    if not missing:
        return
    missing_files = _missing_files(opened)
    files = f"; missing file(s): {', '.join(missing_files)}" if missing_files else ""
    raise ReadError(
        f"{path}: image {image.index} declares {len(used)} planes but {missing} of them "
        f"are not in the file(s){files}. Keep every file of a multi-file set together, or pass "
        "allow_missing=True to read the missing planes as zeros",
        source=path,
    )


def _missing_files(opened: Opened) -> list[str]:
    import xml.etree.ElementTree as ET

    xml = opened.tif.ome_metadata if opened.tif.is_ome else None
    if not xml:
        return []
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return []
    base = Path(opened.tif.filehandle.dirname)
    names = {e.attrib["FileName"] for e in root.iter() if e.tag.endswith("UUID") and "FileName" in e.attrib}
    return sorted(n for n in names if not (base / n).is_file())


def _chunks(store: Any) -> tuple[int, ...] | None:
    if not isinstance(store, PlaneStore):
        return None
    codecs = {id(p.codec): p.codec for p in store.planes if p is not None}
    if len(codecs) != 1:
        return None
    codec = next(iter(codecs.values()))
    if codec.raw_dtype is not None:
        return None
    depth, length, width = codec.segment
    per_page = (1, depth if codec.tiled else 1, length, width, codec.shaped[4])
    return tuple(1 if kind == "outer" else per_page[j] for kind, j in store.exposed)


class _Described:
    """What the file's metadata says of its images, worked out once per load and shared by its stacks.

    The OME-XML is parsed once for all series (parsing it per series made many-series files quadratic).
    """

    def __init__(self, opened: Opened) -> None:
        self.opened = opened
        self._ome: list[meta.OmeMatch | None] | None = None
        self._documents: dict[Any, image_meta.OmeDocument] = {}

    def ome(self, image: Image) -> meta.OmeMatch | None:
        """The OME Image declaring `image` (the XML parsed on the first call)."""
        if self._ome is None:
            self._ome = meta.match_ome([im.series for im in self.opened.images], self.opened.tif.ome_metadata)
        return self._ome[image.index]

    def document(self, raw: functools.partial[Any]) -> image_meta.OmeDocument:
        """The OME-XML `raw` reads, one document for every stack reading it from the same file."""
        key = (raw.func, raw.args)
        if key not in self._documents:
            self._documents[key] = image_meta.OmeDocument(raw)
        return self._documents[key]


def _raw(path: Path, opened: Opened, image: Image) -> functools.partial[Any]:
    """What reads the file's own metadata for `metadata.raw()` (the companion file's XML where there is one)."""
    if opened.companion is not None and _same(opened.companion, path):
        return functools.partial(meta.raw_companion, str(opened.companion))
    return functools.partial(meta.raw_metadata, str(path), image.kind)


def _metadata(path: Path, opened: Opened, image: Image, axes: str, n_channels: int, described: _Described) -> Metadata:
    tif = opened.tif
    raw = _raw(path, opened, image)
    physical: meta.Physical | None = None
    if image.kind == "ome":
        match = described.ome(image)
        physical = match.physical if match is not None else None
    elif image.kind == "imagej":
        physical = meta.imagej_physical(tif.imagej_metadata or {}, tif.pages.first)
    elif image.kind == "mmstack":
        physical = _mm_physical(tif)
    fields: dict[str, Any] = {"voxel_size": None, "units": None, "offset": None}
    names = None
    if physical is not None:
        fields = physical.for_axes(axes)
        if physical.channel_names is not None and len(physical.channel_names) == n_channels:
            names = physical.channel_names
    return Metadata(axis_names=tuple(image.axes), channel_names=names, raw=raw, **fields)


def _mm_physical(tif: Any) -> meta.Physical:
    summary = (tif.micromanager_metadata or {}).get("Summary", {})
    voxel: dict[str, float] = {}
    units: dict[str, str] = {}
    size = meta._positive(summary.get("PixelSize_um"))
    if size is not None:
        voxel.update(X=size, Y=size)
        units.update(X="micrometer", Y="micrometer")
    step = meta._positive(summary.get("z-step_um"))
    if step is not None:
        voxel["Z"], units["Z"] = step, "micrometer"
    names = summary.get("ChNames")
    return meta.Physical(voxel, units, {}, tuple(str(n) for n in names) if names else None)


#: tifffile series kinds whose stacks depend only on the file's own bytes (no other file, no path).
SELF_CONTAINED_KINDS = frozenset({"generic", "uniform", "shaped", "imagej"})


def _self_contained(path: Path, home: Path, opened: Opened, image: Image, store: Any) -> bool:
    """Whether another file with the same bytes where tifffile parses would give this stack, with its own path."""
    if opened.companion is not None or image.kind not in SELF_CONTAINED_KINDS or not _same(home, path):
        return False
    if isinstance(store, MemmapStore):
        return _same(store.file.path, path)
    return isinstance(store, PlaneStore) and all(p is not None and _same(p.file.path, path) for p in store.planes)


@attrs.frozen
class StackRecipe:
    """Everything of one image's stack but its file: `build` makes the stack for a file laid out the same."""

    #: The file the recipe was made from.
    origin: str
    index: int
    #: Whether the file holds this image only (the stack's source is then the bare path, else path@index).
    alone: bool
    kind: str
    layout: Layout
    dtype: np.dtype
    metadata: Metadata
    images: image_meta.OmePlanes | image_meta.ImagejFrames | None
    chunks: tuple[int, ...] | None
    level: int
    allow_missing: bool
    kept: dict[str, Any]
    file_backed: bool
    resolved: str

    def build(self, path: Path, store: Any) -> ImageStack:
        """The stack of this image in `path`, read through `store` (one of `path`'s own)."""
        label = str(path) if self.alone else f"{path}@{self.index}"
        metadata = self.metadata
        if str(path) != self.origin:  # the stack's source set here too: the stack then makes no copy of its own
            raw = functools.partial(meta.raw_metadata, str(path), self.kind)
            metadata = metadata.bound(raw, label)
        if self.file_backed:
            layout = self.layout
            arrange = any(a not in "STCZYX" for a in self.resolved)
            read = ReadWhole(ImageOpener(str(path), self.index, self.level, self.allow_missing), arrange, layout)
            store.close()
            return FileBackedStack(
                str(path),
                read,
                layout.axes if arrange else self.resolved,
                source=label,
                metadata=metadata,
                shape=layout.shape if arrange else store.shape,
                dtype=store.dtype,
                depth_axis="Z",
                load_options=self.kept,
                # An arranged stack has merged the file's own axes into S: its planes no longer say the file's.
                image_metadata=None if arrange else self.images,
            )
        opener = ImageOpener(str(path), self.index, self.level, self.allow_missing, prebuilt=store)
        return LazyStack(
            label,
            self.layout,
            self.dtype,
            opener,
            metadata=metadata,
            chunks=self.chunks,
            load_options=self.kept,
            image_metadata=self.images,
        )


def _recipe(
    path: Path,
    opened: Opened,
    image: Image,
    store: Any,
    axes: str | None,
    level: int,
    options: dict[str, Any],
    described: _Described,
) -> StackRecipe:
    label = _label(path, opened, image)
    resolved = layouts.resolve_image(image, store.shape, axes, source=label)
    layout = layouts.layout_for(resolved, store.shape, source=label)
    metadata = _metadata(path, opened, image, resolved, layout.n_channels, described)
    kept = {k: options[k] for k in ("level", "allow_missing") if options.get(k)}  # what `label` cannot say
    file_backed = bool(options.get("file_backed"))
    images: image_meta.OmePlanes | image_meta.ImagejFrames | None = None
    if image.kind == "ome":
        match = described.ome(image)
        number = match.number if match is not None else None
        images = image_meta.OmePlanes(described.document(_raw(path, opened, image)), number, image.index)
    else:
        images = image_meta.for_image(image.kind, metadata)
    return StackRecipe(
        origin=str(path),
        index=image.index,
        alone=label == str(path),
        kind=image.kind,
        layout=layout,
        dtype=store.dtype,
        metadata=metadata,
        images=images,
        chunks=_chunks(store),
        level=level,
        allow_missing=bool(options.get("allow_missing")),
        kept=kept,
        file_backed=file_backed,
        resolved=resolved,
    )
