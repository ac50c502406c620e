"""The stacks plugins build on, each a `StackInfo` value plus the way its pixels are reached.

- `ArrayStack`: data held in memory.
- `LazyStack`: reads each patch from an array-like the plugin opens on demand
  (memory map, zarr array, a format reader); picklable, reopened after pickling.
- `FileBackedStack`: a whole file read by `load()` and dropped by `close()`, for
  formats without partial reads.
"""

from __future__ import annotations

import functools
import os
import threading
import uuid
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from . import forksafe
from .axes import Layout
from .errors import AxesError, FileAccessError, ReadError, StackioError, ValidationError
from .files import raise_explained
from .image_metadata import ImageMetadata, ImageMetadataReader, PerImage, check_image_request
from .memory import ensure_fits_in_memory, not_enough_memory
from .metadata import Metadata
from .patches import _SEQUENCES, PatchPlan
from .protocol import numpy_instance, pixel_type
from .whole import destination, read_whole


def _options(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value or {})


def _metadata(value: Metadata | None) -> Metadata:
    return Metadata() if value is None else value


def _native(value: np.dtype | str) -> np.dtype:
    dtype = np.dtype(value)
    if dtype.isnative:
        return numpy_instance(dtype)  # a read's dtype is then most often the same object
    try:
        return numpy_instance(dtype.newbyteorder("="))
    except TypeError:  # a new-style dtype (numpy's StringDType) has no byte order: `_pixels` refuses it
        return dtype


def _pixels(info: StackInfo, attribute: object, dtype: np.dtype) -> None:
    pixel_type(dtype, info.source)


@attrs.frozen(eq=False)
class StackInfo:
    """What identifies a stack and describes its data, without the data.

    `dtype` is the pixel type of every patch: numeric or bool, always in native byte order (a
    big-endian file reads as native values).
    """

    #: Recreates the stack with `load_options`: `stackio.load(source, axes, **load_options)`.
    source: str
    layout: Layout
    dtype: np.dtype = attrs.field(converter=_native, validator=_pixels)
    metadata: Metadata = attrs.field(factory=Metadata, converter=_metadata)
    #: Options beyond `source` that shaped the data (a selection, a level); never read or written in place.
    load_options: dict[str, Any] = attrs.field(factory=dict, converter=_options)

    def __attrs_post_init__(self) -> None:
        if self.metadata.source is None:  # so that an error reading raw metadata names the stack
            object.__setattr__(self, "metadata", attrs.evolve(self.metadata, source=self.source))


class _Described:
    """The ImageStack members every stack reads from its `info`."""

    _info: StackInfo
    #: The plugin's per-image metadata and the handle it reads through (None: the format records none).
    _images: PerImage | None = None

    @property
    def info(self) -> StackInfo:
        """What identifies the stack and describes its data."""
        return self._info

    @property
    def load_options(self) -> dict[str, Any]:
        """Options beyond `source` that shaped this stack (e.g. a selection or a level):
        `stackio.load(stack.source, axes, **stack.load_options)` recreates it."""
        return dict(self.info.load_options)

    @property
    def source(self) -> str:
        return self.info.source

    @property
    def data_shape(self) -> tuple[int, ...]:
        return self.info.layout.shape

    @property
    def data_dtype(self) -> np.dtype:
        return self.info.dtype

    @property
    def axes(self) -> str:
        return self.info.layout.axes

    @property
    def original_axes(self) -> str:
        return self.info.layout.original_axes

    @property
    def original_data_shape(self) -> tuple[int, ...]:
        return self.info.layout.original_shape

    @property
    def metadata(self) -> Metadata:
        return self.info.metadata

    @property
    def layout(self) -> Layout:
        return self.info.layout

    def to_dask(self, chunks: tuple[int, ...] | None = None) -> Any:
        """The stack as a lazy dask array in SC(Z)YX (needs dask installed).

        Chunks follow the format's own chunks where it has them (`chunks`
        attribute, in original axis order): one sample and all channels per chunk.
        Two arrays share a dask name only when they hold the same data: the same
        source, load options and layout, or (in memory) the same stack.
        """
        from .dask_adapter import stack_to_dask

        return stack_to_dask(self, chunks)  # type: ignore[arg-type]

    def read_patches(
        self,
        sample_indices: Any,
        coords: Any,
        patch_size: Sequence[int],
        channels: Sequence[int] | None = None,
    ) -> np.ndarray:
        """Many patches in one (N, C, (Z), Y, X) array, each chunk or tile decoded once (`stackio.read_patches`)."""
        from .batch import read_stack_patches

        return read_stack_patches(self, sample_indices, coords, patch_size, channels)

    def to_xarray(self, chunks: tuple[int, ...] | None = None, *, image_times: bool = False) -> Any:
        """The stack as a lazy `xarray.DataArray` with physical coordinates (see `stackio.xarray`)."""
        from .xarray import to_xarray

        return to_xarray(self, chunks, image_times=image_times)

    def image_metadata(self, sample_idx: int, channel: int = 0, depth: int | None = 0) -> ImageMetadata | None:
        """What the file records about one image (time, stage position, exposure); `None` if nothing.

        Read when asked, through the stack's open files. See `stackio.image_metadata`.
        """
        if self._images is None:
            check_image_request(self.source, tuple(self.data_shape), sample_idx, channel, depth)
            return None
        return self._images.read(self, sample_idx, channel, depth)

    def _in_memory(self, data: np.ndarray) -> ArrayStack:
        """`data`, this stack's pixels in SC(Z)YX, as an ArrayStack that is this stack in memory: the same
        source, metadata and load options, and the same per-image metadata, read through a handle of its
        own (opened on first request), so that closing this stack leaves the copy whole."""
        info = self.info
        memory = ArrayStack._holding(info, data)
        images = self._images
        if images is not None:
            memory._images = PerImage(images.reader_fn, OnDemand(images.handle.opener, info.source))
        return memory

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.source!r} {self.axes}{self.data_shape} {self.data_dtype}>"


#: What to do when whole-stack data does not fit in memory.
LAZY_HINT = "load it lazily (in_memory=False), or free memory"
#: What to do when a patch or a batch does not fit in memory.
PATCH_HINT = "request smaller patches or fewer at a time, or free memory"


def arrange(
    array: np.ndarray, layout: Layout, source: str, *, arranged: bool = False, owned: bool = False, copy: bool = False
) -> np.ndarray:
    """`array` (in the layout's original axes, or SC(Z)YX if `arranged`) as SC(Z)YX in native byte order.

    A view of `array` where one will do, unless `copy` asks for data of its own; otherwise one copy,
    made after checking that it fits in memory. `owned` says nothing else holds `array`: a byte-order
    change is then made in place, and a view of it is data of its own.
    """
    if not array.dtype.isnative and owned and array.flags.writeable:
        array = array.byteswap(inplace=True).view(array.dtype.newbyteorder("="))
    moved = array if arranged else array.transpose(layout.stack_order)
    if array.dtype.isnative and (owned or not copy):
        try:
            return np.reshape(moved, layout.shape, copy=False)  # type: ignore[call-overload, no-any-return, unused-ignore]
        except TypeError:  # numpy < 2.1 cannot say whether a reshape copies
            if moved.flags.c_contiguous:
                return moved.reshape(layout.shape)
        except ValueError:  # a view cannot do it
            pass
    native = array.dtype.newbyteorder("=")
    ensure_fits_in_memory(layout.shape, native, source, what="it in stack order")
    try:
        out = np.empty(layout.shape, dtype=native)
    except MemoryError as exc:
        raise not_enough_memory(source, "its copy in stack order", exc, LAZY_HINT) from exc
    out.reshape(moved.shape)[...] = moved
    return out


@functools.lru_cache(maxsize=256)
def _arranged(layout: Layout) -> Layout:
    """The layout of `layout`'s data once arranged: SC(Z)YX as its own original axes."""
    return Layout("SC" + layout.spatial_axes, layout.shape, "S", layout.depth_axis)


class ArrayStack(_Described):
    """A stack whose data is in memory.

    `array` has the layout's original axes and is rearranged to SC(Z)YX once;
    pass `arranged=True` when it is already in SC(Z)YX (`layout.shape`).
    """

    def __init__(
        self,
        array: np.ndarray,
        layout: Layout,
        *,
        source: str = "<array>",
        metadata: Metadata | None = None,
        arranged: bool = False,
        load_options: Mapping[str, Any] | None = None,
    ) -> None:
        expected = layout.shape if arranged else layout.original_shape
        if tuple(array.shape) != expected:
            raise AxesError(
                f"{source}: array shape {array.shape} does not match the expected {expected}",
                source=source,
            )
        array = np.asarray(array)
        info = StackInfo(source, layout, array.dtype, metadata, load_options)
        self._hold(info, arrange(array, layout, source, arranged=arranged))

    @classmethod
    def _holding(cls, info: StackInfo, data: np.ndarray) -> ArrayStack:
        """The stack `info` describes, holding `data`: its pixels already in SC(Z)YX (`info.layout.shape`)
        and in `info.dtype` (a whole read's result), so nothing is checked or rearranged again."""
        stack = cls.__new__(cls)
        stack._hold(info, data)
        return stack

    def _hold(self, info: StackInfo, data: np.ndarray) -> None:
        self._info = info
        self._data = data
        #: Tells this stack's data from any other's (an array has no source that names it).
        self.token = uuid.uuid4().hex
        # Patches are read from the arranged data, whose own layout is SC(Z)YX.
        self._arranged = _arranged(info.layout)
        self._plan = PatchPlan.of(self._arranged)

    @classmethod
    def from_axes(
        cls,
        array: np.ndarray,
        axes: str,
        *,
        source: str = "<array>",
        metadata: Metadata | None = None,
        depth_axis: str = "Z",
        load_options: Mapping[str, Any] | None = None,
    ) -> ArrayStack:
        layout = Layout.from_axes(axes, array.shape, depth_axis=depth_axis, source=source)  # type: ignore[arg-type]
        return cls(array, layout, source=source, metadata=metadata, load_options=load_options)

    @property
    def data(self) -> np.ndarray:
        """The whole stack as an SC(Z)YX array (a view, not a copy)."""
        return self._data

    def extract_patch(
        self,
        sample_idx: int,
        channels: Sequence[int] | None,
        coords: Sequence[int],
        patch_size: Sequence[int],
    ) -> np.ndarray:
        info = self._info
        plan = self._plan
        try:
            if channels is None and type(coords) in _SEQUENCES and type(patch_size) in _SEQUENCES:
                patch = plan.read_common(self._data, info.dtype, info.source, sample_idx, coords, patch_size)
                if patch is not None:
                    return patch
            return plan.read_patch(self._data, info.dtype, info.source, sample_idx, channels, coords, patch_size)
        except MemoryError as exc:
            raise not_enough_memory(info.source, f"a patch of size {tuple(patch_size)}", exc, PATCH_HINT) from exc

    def read_all(self) -> np.ndarray:
        """The whole stack as an SC(Z)YX array (a view, not a copy)."""
        return self._data

    def close(self) -> None:
        """Release the files per-image metadata was read from, if any (the data stays in memory)."""
        if self._images is not None:
            self._images.close()


def _close_reader(reader: object) -> None:
    close = getattr(reader, "close", None)
    if callable(close):
        close()


class OnDemand:
    """Something opened on first use, shared by the reads under way, closed when no read holds it.

    `opener()` makes it; a failure that is not a StackioError becomes a ReadError naming `source`.
    `close()` takes effect at once for new reads; reads under way finish first. Pickles closed.
    A forked child starts closed (the parent's value is never closed there), unless `inherited`
    says the value is plain data the child may keep (its copy of an in-memory array).

    A read of the open value takes no lock: reads are counted in a list (``append`` and ``pop`` are
    atomic), a read counts itself before it looks at the value, and `close()` drops the value before it
    looks at the count, so a closing either sees the read or the read sees no value (and opens anew).
    """

    def __init__(self, opener: Callable[[], Any], source: str, *, inherited: bool = False) -> None:
        self.opener = opener
        self.source = source
        self.inherited = inherited
        self._value: Any = None
        self._finalizer: weakref.finalize | None = None
        self._lock = threading.Lock()
        #: Reads under way (one item each), and closings that wait for them to end.
        self._reads: list[None] = []
        self._deferred: list[weakref.finalize] = []
        forksafe.track(self)

    @property
    def _active(self) -> int:
        """Reads under way."""
        return len(self._reads)

    def after_fork(self) -> None:
        """In a forked child: a free lock, no reads under way, and (unless kept) the parent's value forgotten."""
        self._lock = threading.Lock()
        self._reads = []
        deferred, self._deferred = self._deferred, []
        for finalizer in deferred:  # closings that waited for the parent's reads, whose threads are gone
            forksafe.inherit(finalizer.detach())
        if not self.inherited and self._finalizer is not None:
            forksafe.inherit(self._finalizer.detach())
            self._finalizer, self._value = None, None

    @property
    def is_open(self) -> bool:
        return self._value is not None

    def acquire(self) -> Any:
        """The open value (opened now if need be), counted as in use until `release()`."""
        self._reads.append(None)  # counted before the value is looked at: see the class's docstring
        value = self._value
        if value is None:
            value = self._open_counted()
        return value

    def _open_counted(self) -> Any:
        """`_open()` for a read already counted: a failed opening takes the count back."""
        try:
            return self._open()
        except BaseException:
            self.release()
            raise

    def _open(self) -> Any:
        with self._lock:
            if self._value is None:
                try:
                    value = self.opener()
                except MemoryError as exc:
                    if isinstance(exc, StackioError):
                        raise
                    raise not_enough_memory(self.source, "opening it", exc, "free memory") from exc
                except Exception as exc:
                    raise_explained(
                        exc, self.source, "could not be opened for reading", "; check the file is complete and readable"
                    )
                self._finalizer = weakref.finalize(self, _close_reader, value)
                self._value = value
            return self._value

    def release(self) -> None:
        self._reads.pop()
        if self._deferred and not self._reads:
            self._close_deferred()

    def _close_deferred(self) -> None:
        """Run the closings put off while reads were under way, if none is now (each runs once: popped)."""
        while not self._reads:
            try:
                finalizer = self._deferred.pop()
            except IndexError:
                return
            finalizer()

    def close(self) -> None:
        with self._lock:
            finalizer, self._finalizer, self._value = self._finalizer, None, None
            if finalizer is None:
                return
            # put off first, then look at the reads: a read ending meanwhile finds it and closes it
            self._deferred.append(finalizer)
        self._close_deferred()

    def __getstate__(self) -> dict[str, Any]:
        return {"opener": self.opener, "source": self.source, "inherited": self.inherited}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["opener"], state["source"], inherited=state.get("inherited", False))  # type: ignore[misc]


class LazyStack(_Described):
    """A stack that reads each patch from disk on demand.

    `opener()` returns an array-like in the layout's original axes supporting
    numpy basic indexing (a memory map, a zarr array, or a plugin's reader with
    `__getitem__`, and `close()` if it holds files). It is called on first read,
    again after unpickling or `close()`, and must itself be picklable.
    """

    def __init__(
        self,
        source: str,
        layout: Layout,
        dtype: np.dtype | str,
        opener: Callable[[], Any],
        *,
        metadata: Metadata | None = None,
        chunks: tuple[int, ...] | None = None,
        shards: tuple[int, ...] | None = None,
        load_options: Mapping[str, Any] | None = None,
        image_metadata: ImageMetadataReader | None = None,
    ) -> None:
        self._info = StackInfo(source, layout, dtype, metadata, load_options)
        self._reader = OnDemand(opener, source)
        self._plan = PatchPlan.of(layout)
        if image_metadata is not None:
            self._images = PerImage(image_metadata, self._reader)
        #: Chunk shape in original axis order, where the format has chunks.
        self.chunks = chunks
        #: Shard shape in original axis order, where the format has shards.
        self.shards = shards

    @property
    def is_open(self) -> bool:
        """Whether the reader is open (it opens on the first read and after `close()` on the next)."""
        return self._reader.is_open

    @property
    def is_loaded(self) -> bool:
        """Whether the file is open for reading (CAREamics' file-stack API; the data stays on disk)."""
        return self._reader.is_open

    def load(self) -> None:
        """Open the file now rather than on the first read (CAREamics' file-stack API; reads nothing)."""
        self._open()

    def _open(self) -> Any:
        """The open reader, for inspection (tests, benchmarks); not counted as a read under way."""
        reader = self._reader.acquire()
        self._reader.release()
        return reader

    def extract_patch(
        self,
        sample_idx: int,
        channels: Sequence[int] | None,
        coords: Sequence[int],
        patch_size: Sequence[int],
    ) -> np.ndarray:
        info = self._info
        plan = self._plan
        # `OnDemand.acquire` and `release` written out: this runs once per patch
        on_demand = self._reader
        reads = on_demand._reads
        reads.append(None)
        reader = on_demand._value
        if reader is None:
            reader = on_demand._open_counted()
        try:
            # the common request straight to the plan's fast path: a call less per patch
            if channels is None and type(coords) in _SEQUENCES and type(patch_size) in _SEQUENCES:
                patch = plan.read_common(reader, info.dtype, info.source, sample_idx, coords, patch_size)
                if patch is not None:
                    return patch
            return plan.read_patch(reader, info.dtype, info.source, sample_idx, channels, coords, patch_size)
        except FileAccessError as exc:  # the message names the file; say which stack and read it was
            raise FileAccessError(
                f"{info.source}: reading sample {sample_idx} at {tuple(coords)} failed: {exc}", source=info.source
            ) from exc
        except MemoryError as exc:
            if isinstance(exc, StackioError):
                raise
            raise not_enough_memory(info.source, f"a patch of size {tuple(patch_size)}", exc, PATCH_HINT) from exc
        except Exception as exc:
            raise_explained(
                exc,
                info.source,
                f"reading sample {sample_idx} at {tuple(coords)} failed",
                "; the file may be truncated or corrupt",
            )
        finally:
            reads.pop()
            if on_demand._deferred and not reads:
                on_demand._close_deferred()

    def read_all(self) -> np.ndarray:
        """The whole stack as a new SC(Z)YX array in memory, checked against the memory available before it
        is allocated: the reader fills it block by block, so at most one block is held beside it (see
        `stackio.whole`)."""
        info = self._info
        layout = info.layout
        shape = layout.shape
        ensure_fits_in_memory(shape, info.dtype, info.source, what="it in stack order")
        reader = self._reader.acquire()
        try:
            out, dest = destination(layout, shape, info.dtype)
            read_whole(reader, dest, info.dtype, info.source, self.chunks)
        except FileAccessError as exc:
            raise FileAccessError(f"{info.source}: reading the whole stack failed: {exc}", source=info.source) from exc
        except MemoryError as exc:
            if isinstance(exc, StackioError):
                raise
            raise not_enough_memory(info.source, "the whole stack", exc, LAZY_HINT) from exc
        except Exception as exc:
            raise_explained(
                exc, info.source, "reading the whole stack failed", "; the file may be truncated or corrupt"
            )
        finally:
            self._reader.release()
        return out

    def to_memory(self) -> ArrayStack:
        """An in-memory copy of this stack, with the same source, metadata, load options and per-image
        metadata (which stays on disk, read when asked)."""
        return self._in_memory(self.read_all())

    def close(self) -> None:
        """Release open files; the next read reopens them.

        Reads under way in other threads finish first: the files close when the last one ends.
        """
        self._reader.close()

    def __enter__(self) -> LazyStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _ReadWhole:
    """Reads a FileBackedStack's file into an ArrayStack, and checks it still holds what it first held."""

    def __init__(
        self,
        path: str,
        read_func: Callable[[str], np.ndarray],
        axes: str,
        depth_axis: str,
        source: str,
        metadata: Metadata | None,
        load_options: Mapping[str, Any] | None,
        known: StackInfo | None,
    ) -> None:
        self.path = path
        self.read_func = read_func
        self.axes = axes
        self.depth_axis = depth_axis
        self.source = source
        self.metadata = metadata
        self.load_options = dict(load_options or {})
        #: The stack's info: given, or learnt from the first read.
        self.known = known

    def __call__(self) -> ArrayStack:
        name = getattr(self.read_func, "__qualname__", repr(self.read_func))
        if self.known is not None:
            ensure_fits_in_memory(self.known.layout.original_shape, self.known.dtype, self.source)
        try:
            array = self.read_func(self.path)
        except MemoryError as exc:
            if isinstance(exc, StackioError):
                raise
            raise not_enough_memory(self.source, f"reading it whole with {name}", exc, "free memory") from exc
        except Exception as exc:
            raise_explained(exc, self.source, f"{name} failed to read it")
        if not isinstance(array, np.ndarray):
            raise ValidationError(
                f"{self.source}: {name} returned {type(array).__name__}, not a numpy array; "
                "a read function must return an ndarray",
                source=self.source,
            )
        stack = ArrayStack.from_axes(
            array,
            self.axes,
            source=self.source,
            metadata=self.metadata,
            depth_axis=self.depth_axis,
            load_options=self.load_options,
        )
        known = self.known
        if known is None:
            self.known = stack.info
        elif stack.original_data_shape != known.layout.original_shape or stack.data_dtype != known.dtype:
            raise ReadError(
                f"{self.source}: holds {stack.data_dtype} data of shape {array.shape} now, not "
                f"{known.dtype} of shape {known.layout.original_shape} as when it was first read; "
                "was the file changed?",
                source=self.source,
            )
        return stack


class FileBackedStack(_Described):
    """A file read whole by `load()` and dropped by `close()`.

    For formats without partial reads, and for datasets of many files larger
    than memory: keep one file loaded at a time. A read on an unloaded stack
    loads it. `read_func(path)` returns the array in the axes given; with `shape`
    and `dtype` given, nothing is read until the data is needed.

    Per-image metadata (`image_metadata`, as for `LazyStack`) is read when asked, never by loading the
    pixels: the reader is called with what `image_opener()` opens (picklable; e.g. the file's header),
    or with the file's path when it needs nothing open.
    """

    def __init__(
        self,
        path: str,
        read_func: Callable[[str], np.ndarray],
        axes: str,
        *,
        source: str | None = None,
        metadata: Metadata | None = None,
        shape: Sequence[int] | None = None,
        dtype: np.dtype | str | None = None,
        depth_axis: str = "Z",
        load_options: Mapping[str, Any] | None = None,
        image_metadata: ImageMetadataReader | None = None,
        image_opener: Callable[[], Any] | None = None,
    ) -> None:
        self.path = path
        source = source or path
        known = None
        if shape is not None and dtype is not None:
            layout = Layout.from_axes(axes, shape, depth_axis=depth_axis, source=source)  # type: ignore[arg-type]
            known = StackInfo(source, layout, dtype, metadata, load_options)
        self._read = _ReadWhole(path, read_func, axes, depth_axis, source, metadata, load_options, known)
        self._data = OnDemand(self._read, source, inherited=True)  # in-memory data: the child's own copy
        if image_metadata is not None:
            opener = image_opener or functools.partial(os.fspath, path)
            self._images = PerImage(image_metadata, OnDemand(opener, source))

    @property
    def info(self) -> StackInfo:
        """What identifies the stack and describes its data (learnt by reading the file if not given)."""
        if self._read.known is None:
            self.load()
        return self._read.known  # type: ignore[return-value]

    @property
    def is_loaded(self) -> bool:
        return self._data.is_open

    def load(self) -> None:
        """Read the file into memory (no-op when already loaded)."""
        self._data.acquire()
        self._data.release()

    def close(self) -> None:
        """Drop the data from memory; shape and dtype stay known.

        Reads under way in other threads finish first, on the data they started with.
        """
        self._data.close()
        if self._images is not None:
            self._images.close()

    def extract_patch(
        self,
        sample_idx: int,
        channels: Sequence[int] | None,
        coords: Sequence[int],
        patch_size: Sequence[int],
    ) -> np.ndarray:
        loaded: ArrayStack = self._data.acquire()
        try:
            return loaded.extract_patch(sample_idx, channels, coords, patch_size)
        finally:
            self._data.release()

    def read_all(self) -> np.ndarray:
        """The whole stack as an SC(Z)YX array (the loaded data itself, not a copy)."""
        loaded: ArrayStack = self._data.acquire()
        self._data.release()
        return loaded.data

    def to_memory(self) -> ArrayStack:
        """This stack as an ArrayStack, with the same source, metadata, load options and per-image
        metadata. It holds the loaded data itself (the file is read now if it is not loaded), not a copy."""
        return self._in_memory(self.read_all())

    def __repr__(self) -> str:
        state = "loaded" if self.is_loaded else "not loaded"
        return f"<FileBackedStack {self.source!r} {state}>"
