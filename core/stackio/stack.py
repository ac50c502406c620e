"""The ImageStack protocol and the stacks plugins build on.

- `ArrayStack`: data held in memory.
- `LazyStack`: reads each patch from an array-like the plugin opens on demand
  (memory map, zarr array, a format reader); picklable, reopened after pickling.
- `FileBackedStack`: a whole file read by `load()` and dropped by `close()`, for
  formats without partial reads.
"""

from __future__ import annotations

import functools
import math
import operator
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .axes import Layout
from .errors import AxesError, PatchBoundsError, ReadError, StackioError, ValidationError
from .metadata import Metadata


@runtime_checkable
class ImageStack(Protocol):
    """What every loaded stack offers (CAREamics' image-stack API).

    `data_shape` is always S, C, then the spatial axes: (Z)YX, or TYX when time
    is the depth axis.
    """

    @property
    def source(self) -> str:
        """Recreates the stack: `load(stack.source, axes)` gives the same data."""

    @property
    def data_shape(self) -> tuple[int, ...]: ...

    @property
    def data_dtype(self) -> np.dtype: ...

    @property
    def axes(self) -> str:
        """'SCYX', 'SCZYX' or 'SCTYX'."""

    @property
    def original_axes(self) -> str: ...

    @property
    def original_data_shape(self) -> tuple[int, ...]: ...

    @property
    def metadata(self) -> Metadata: ...

    def extract_patch(
        self,
        sample_idx: int,
        channels: Sequence[int] | None,
        coords: Sequence[int],
        patch_size: Sequence[int],
    ) -> np.ndarray:
        """Return a C(Z)YX patch in the stack's dtype.

        `channels=None` means all channels. Parts of the patch outside the image
        are zero; a patch wholly outside raises `PatchBoundsError`.
        """


PROTOCOL_MEMBERS = (
    "source",
    "data_shape",
    "data_dtype",
    "axes",
    "original_axes",
    "original_data_shape",
    "metadata",
    "extract_patch",
)


def protocol_problems(obj: object) -> list[str]:
    """Say what keeps `obj` from being an ImageStack (empty when it is one)."""
    problems = []
    for name in PROTOCOL_MEMBERS:
        try:
            value = getattr(obj, name)
        except Exception as exc:  # a property that raises is a missing member too
            problems.append(f"{name} is missing ({type(exc).__name__}: {exc})")
            continue
        if name == "extract_patch":
            if not callable(value):
                problems.append("extract_patch is not callable")
        elif name in ("source", "axes", "original_axes") and not isinstance(value, str):
            problems.append(f"{name} should be a str, not {type(value).__name__}")
        elif name in ("data_shape", "original_data_shape") and not (
            isinstance(value, tuple) and all(isinstance(n, (int, np.integer)) for n in value)
        ):
            problems.append(f"{name} should be a tuple of ints, not {value!r}")
        elif name == "metadata" and not isinstance(value, Metadata):
            problems.append(f"metadata should be a stackio.Metadata, not {type(value).__name__}")
        elif name == "data_dtype":
            try:
                np.dtype(value)
            except TypeError:
                problems.append(f"data_dtype should be a numpy dtype, not {value!r}")
    if not problems:
        shape, axes = tuple(obj.data_shape), obj.axes  # type: ignore[attr-defined]
        if axes not in ("SCYX", "SCZYX", "SCTYX"):
            problems.append(f"axes should be 'SCYX', 'SCZYX' or 'SCTYX', not {axes!r}")
        elif len(shape) != len(axes):
            problems.append(f"data_shape {shape} does not have one entry per axis of {axes!r}")
    return problems


# -- patch requests -----------------------------------------------------------------


def check_patch_request(
    source: str,
    shape: tuple[int, ...],
    sample_idx: int,
    channels: Sequence[int] | None,
    coords: Sequence[int],
    patch_size: Sequence[int],
) -> tuple[int, list[int] | None, tuple[tuple[int, int], ...]]:
    """Validate a patch request against an SC(Z)YX shape.

    Returns the sample index, the channel list (or None for all) and, per spatial
    axis, the (start, stop) of the part of the patch that lies inside the image.
    """
    n_samples, n_channels, *spatial = shape
    spatial_names = "ZYX"[-len(spatial) :] if len(spatial) <= 3 else "?" * len(spatial)
    try:
        coords, patch_size = tuple(coords), tuple(patch_size)
    except TypeError:
        raise PatchBoundsError(
            f"{source}: coords and patch_size must be sequences of ints, not {coords!r} and {patch_size!r}",
            source=source,
        ) from None
    if not isinstance(sample_idx, (int, np.integer)) or isinstance(sample_idx, bool):
        raise PatchBoundsError(f"{source}: sample_idx must be an int, not {sample_idx!r}", source=source)
    if not 0 <= sample_idx < n_samples:
        raise PatchBoundsError(
            f"{source}: sample {sample_idx} does not exist; the stack has {n_samples} "
            f"sample(s), indices 0 to {n_samples - 1}",
            source=source,
        )
    if channels is not None:
        if isinstance(channels, (int, np.integer, str, bytes)) or not hasattr(channels, "__iter__"):
            raise PatchBoundsError(
                f"{source}: channels must be None (all) or a list of channel indices such as [0, 2], not {channels!r}",
                source=source,
            )
        channels = [_whole(c, "channels", source) for c in channels]
        if not channels:
            raise PatchBoundsError(f"{source}: channels is empty; pass None for all channels", source=source)
        bad = [c for c in channels if not 0 <= c < n_channels]
        if bad:
            raise PatchBoundsError(
                f"{source}: channel(s) {bad} do not exist; the stack has {n_channels} "
                f"channel(s), indices 0 to {n_channels - 1}",
                source=source,
            )
    if len(coords) != len(spatial) or len(patch_size) != len(spatial):
        raise PatchBoundsError(
            f"{source}: coords {tuple(coords)} and patch_size {tuple(patch_size)} must each have "
            f"{len(spatial)} values ({spatial_names}) for a stack of shape {shape}",
            source=source,
        )
    ranges = []
    for name, start, size, extent in zip(spatial_names, coords, patch_size, spatial, strict=True):
        start, size = _whole(start, "coords", source), _whole(size, "patch_size", source)
        if size < 1:
            raise PatchBoundsError(f"{source}: patch_size must be positive, got {tuple(patch_size)}", source=source)
        if start >= extent or start + size <= 0:
            raise PatchBoundsError(
                f"{source}: the patch at {tuple(coords)} of size {tuple(patch_size)} lies wholly "
                f"outside the image along {name} (extent {extent}); spatial shape is {tuple(spatial)}",
                source=source,
            )
        ranges.append((max(start, 0), min(start + size, extent)))
    return int(sample_idx), channels, tuple(ranges)


def _whole(value: Any, what: str, source: str) -> int:
    """`value` as an int; a float, a string or a bool is refused rather than truncated."""
    if isinstance(value, (bool, np.bool_)):
        raise PatchBoundsError(f"{source}: {what} must be whole numbers, not {value!r}", source=source)
    try:
        return operator.index(value)
    except TypeError:
        raise PatchBoundsError(f"{source}: {what} must be whole numbers, not {value!r}", source=source) from None


#: Patches larger than this are checked against the memory available before they are allocated.
_LARGE_PATCH = 256 * 2**20


@functools.lru_cache(maxsize=4096)
def _read_plan(layout: Layout) -> tuple[Any, ...]:
    """What `read_patch` derives from a layout, computed once per layout (layouts are frozen)."""
    orig = layout.original_axes
    remaining = [a for a in orig if a not in layout.sample_axes]
    order = [remaining.index("C")] if "C" in remaining else []
    order += [remaining.index(a) for a in layout.spatial_axes]
    return (
        layout.shape,
        layout.sample_shape,
        tuple(orig.index(a) for a in layout.sample_axes),
        tuple(orig.index(a) for a in layout.spatial_axes),
        orig.index("C") if "C" in orig else None,
        None if order == sorted(order) else tuple(order),
    )


def read_patch(
    layout: Layout,
    reader: Any,
    dtype: np.dtype,
    source: str,
    sample_idx: int,
    channels: Sequence[int] | None,
    coords: Sequence[int],
    patch_size: Sequence[int],
) -> np.ndarray:
    """Read one C(Z)YX patch through `reader[key]` in the layout's original axes.

    `reader` needs numpy basic indexing only: an int per merged sample axis, and
    in-bounds slices for C and the spatial axes. It returns either a view of data
    it holds (the patch is then copied) or a new array it does not keep.
    """
    if not isinstance(coords, (tuple, list)) and hasattr(coords, "__iter__"):
        coords = tuple(coords)  # numpy arrays, generators: read once (the checks refuse anything else)
    if not isinstance(patch_size, (tuple, list)) and hasattr(patch_size, "__iter__"):
        patch_size = tuple(patch_size)
    shape, sample_shape, sample_pos, spatial_pos, channel_pos, transpose = _read_plan(layout)
    n_spatial = len(spatial_pos)
    key: list[int | slice] = [slice(None)] * len(layout.original_shape)
    expected: list[int | None] = list(layout.original_shape)
    # The common request (all channels, a valid sample, wholly inside) skips the general checks.
    inside = (
        channels is None
        and type(sample_idx) is int
        and 0 <= sample_idx < shape[0]
        and isinstance(coords, (tuple, list))
        and isinstance(patch_size, (tuple, list))
        and len(coords) == n_spatial
        and len(patch_size) == n_spatial
    )
    if inside:
        for pos, start, size, extent in zip(spatial_pos, coords, patch_size, shape[2:], strict=True):
            if type(start) is not int or type(size) is not int:
                if not isinstance(start, np.integer) or not isinstance(size, np.integer):
                    inside = False  # the general path checks (and refuses floats, strings, bools)
                    break
                start, size = int(start), int(size)
            if start < 0 or size < 1 or start + size > extent:
                inside = False
                break
            key[pos] = slice(start, start + size)
            expected[pos] = size
    if not inside:
        return _read_patch_general(layout, reader, dtype, source, sample_idx, channels, coords, patch_size)
    index = sample_idx
    for pos, n in zip(reversed(sample_pos), reversed(sample_shape), strict=True):
        key[pos] = index % n
        expected[pos] = None
        index //= n
    block = np.asarray(reader[tuple(key)])
    block = _checked(block, tuple(n for n in expected if n is not None), dtype, source, "a patch")
    fresh = block.base is None
    if transpose is not None:
        block = block.transpose(transpose)
    if channel_pos is None:
        block = block[np.newaxis]
    if not fresh:
        return block.copy()
    return block if block.flags.c_contiguous else np.ascontiguousarray(block)


def _read_patch_general(
    layout: Layout,
    reader: Any,
    dtype: np.dtype,
    source: str,
    sample_idx: int,
    channels: Sequence[int] | None,
    coords: Sequence[int],
    patch_size: Sequence[int],
) -> np.ndarray:
    """`read_patch` for any request: channel lists, zero fill at the edges, and the errors."""
    sample_idx, channel_list, ranges = check_patch_request(
        source, layout.shape, sample_idx, channels, coords, patch_size
    )
    n_bytes = len(channel_list or range(layout.shape[1])) * math.prod(int(p) for p in patch_size) * dtype.itemsize
    if n_bytes > _LARGE_PATCH:
        free = available_memory()
        if free is not None and n_bytes > free:
            raise PatchBoundsError(
                f"{source}: a patch of size {tuple(patch_size)} needs {n_bytes / 2**30:.1f} GiB but only "
                f"{free / 2**30:.1f} GiB is available; request smaller patches",
                source=source,
            )
    orig = layout.original_axes
    key: list[int | slice] = [slice(None)] * len(orig)
    for axis, index in layout.sample_index(sample_idx).items():
        key[orig.index(axis)] = index
    first_channel = 0
    if "C" in orig and channel_list is not None:
        first_channel = min(channel_list)
        key[orig.index("C")] = slice(first_channel, max(channel_list) + 1)
    for axis, (lo, hi) in zip(layout.spatial_axes, ranges, strict=True):
        key[orig.index(axis)] = slice(lo, hi)
    expected = tuple(_extent(k, n) for k, n in zip(key, layout.original_shape, strict=True) if isinstance(k, slice))
    block = _checked(np.asarray(reader[tuple(key)]), expected, dtype, source, "a patch")
    remaining = [a for a in orig if a not in layout.sample_axes]
    order = [remaining.index("C")] if "C" in remaining else []
    order += [remaining.index(a) for a in layout.spatial_axes]
    block = block.transpose(order)
    if "C" not in orig:
        block = block[np.newaxis]
    if channel_list is not None and list(range(first_channel, first_channel + block.shape[0])) != channel_list:
        block = block[[c - first_channel for c in channel_list]]
    wanted = tuple(int(p) for p in patch_size)
    if block.shape[1:] == wanted:
        return block if block.flags.owndata and block.flags.c_contiguous else block.copy()
    out = np.zeros((block.shape[0], *wanted), dtype=dtype)
    inside = tuple(slice(lo - int(c), hi - int(c)) for (lo, hi), c in zip(ranges, coords, strict=True))
    out[(slice(None), *inside)] = block
    return out


def _extent(key: slice, n: int) -> int:
    return len(range(*key.indices(n)))


def _checked(block: np.ndarray, shape: tuple[int, ...], dtype: np.dtype, source: str, what: str) -> np.ndarray:
    """`block` if a reader returned what was asked for; a ReadError, never a broadcast or a silent cast.

    A byte-order difference alone is converted; any other shape or dtype is the reader's fault.
    """
    if block.shape == shape and block.dtype == dtype:
        return block
    dtype = np.dtype(dtype)
    if block.shape != shape or block.dtype.newbyteorder("=") != dtype.newbyteorder("="):
        raise ReadError(
            f"{source}: the reader returned {block.dtype} data of shape {block.shape} for {what} of shape "
            f"{shape} ({dtype}); the file does not hold what its metadata declares, or the plugin's reader "
            "is inconsistent with the stack it built (report this to the plugin)",
            source=source,
        )
    return block if block.dtype == dtype else block.astype(dtype)


def available_memory() -> int | None:
    """Bytes of memory available to this process now, where the system says."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import os

        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def ensure_fits_in_memory(shape: Sequence[int], dtype: np.dtype, source: str) -> None:
    """Refuse, before allocating, data larger than the memory available."""
    nbytes = math.prod(int(n) for n in shape) * np.dtype(dtype).itemsize
    free = available_memory()
    if free is not None and nbytes > free:
        raise ValidationError(
            f"{source}: reading it into memory needs {nbytes / 2**30:.1f} GiB (shape "
            f"{tuple(shape)}, {np.dtype(dtype)}) but only {free / 2**30:.1f} GiB is available; "
            "load it lazily (in_memory=False) instead",
            source=source,
        )


# -- stacks -------------------------------------------------------------------------


class _StackBase:
    """Shared read-only properties over a `Layout`."""

    _layout: Layout
    _dtype: np.dtype
    _source: str
    _metadata: Metadata
    _load_options: dict[str, Any] | None = None

    @property
    def load_options(self) -> dict[str, Any]:
        """Options beyond `source` that shaped this stack (e.g. a selection or a level):
        `stackio.load(stack.source, axes, **stack.load_options)` recreates it."""
        return dict(self._load_options or {})

    @property
    def source(self) -> str:
        return self._source

    @property
    def data_shape(self) -> tuple[int, ...]:
        return self._layout.shape

    @property
    def data_dtype(self) -> np.dtype:
        return self._dtype

    @property
    def axes(self) -> str:
        return self._layout.axes

    @property
    def original_axes(self) -> str:
        return self._layout.original_axes

    @property
    def original_data_shape(self) -> tuple[int, ...]:
        return self._layout.original_shape

    @property
    def metadata(self) -> Metadata:
        return self._metadata

    @property
    def layout(self) -> Layout:
        return self._layout

    def to_dask(self, chunks: tuple[int, ...] | None = None) -> Any:
        """The stack as a lazy dask array in SC(Z)YX (needs dask installed).

        Chunks follow the format's own chunks where it has them (`chunks`
        attribute, in original axis order): one sample and all channels per chunk.
        """
        return stack_to_dask(self, chunks)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._source!r} {self.axes}{self.data_shape} {self._dtype}>"


class ArrayStack(_StackBase):
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
        load_options: dict[str, Any] | None = None,
    ) -> None:
        expected = layout.shape if arranged else layout.original_shape
        if tuple(array.shape) != expected:
            raise AxesError(
                f"{source}: array shape {array.shape} does not match the expected {expected}",
                source=source,
            )
        self._layout = layout
        self._source = source
        self._metadata = metadata or Metadata()
        self._dtype = np.dtype(array.dtype)
        self._load_options = load_options
        array = np.asarray(array)
        self._data: np.ndarray = array if arranged else layout.to_stack_order(array)  # type: ignore[assignment]
        spatial = layout.spatial_axes
        self._stack_layout = Layout("SC" + spatial, self._data.shape, "S", layout.depth_axis)

    @classmethod
    def from_axes(
        cls,
        array: np.ndarray,
        axes: str,
        *,
        source: str = "<array>",
        metadata: Metadata | None = None,
        depth_axis: str = "Z",
    ) -> ArrayStack:
        layout = Layout.from_axes(axes, array.shape, depth_axis=depth_axis, source=source)  # type: ignore[arg-type]
        return cls(array, layout, source=source, metadata=metadata)

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
        return read_patch(
            self._stack_layout,
            self._data,
            self._dtype,
            self._source,
            sample_idx,
            channels,
            coords,
            patch_size,
        )

    def close(self) -> None:
        """Nothing to release; present so every stack can be closed alike."""


def _close_reader(reader: object) -> None:
    close = getattr(reader, "close", None)
    if callable(close):
        close()


class LazyStack(_StackBase):
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
        load_options: dict[str, Any] | None = None,
    ) -> None:
        self._source = source
        self._load_options = load_options
        self._layout = layout
        self._dtype = np.dtype(dtype)
        self._opener = opener
        self._metadata = metadata or Metadata()
        #: Chunk shape in original axis order, where the format has chunks.
        self.chunks = chunks
        #: Shard shape in original axis order, where the format has shards.
        self.shards = shards
        self._reader: Any = None
        self._finalizer: weakref.finalize | None = None
        self._lock = threading.Lock()
        #: Reads under way, and closings that wait for them to end.
        self._active = 0
        self._deferred: list[weakref.finalize] = []

    def _acquire(self) -> Any:
        """The open reader (opened on first use), counted as in use until `_release`."""
        with self._lock:
            if self._reader is None:
                try:
                    reader = self._opener()
                except StackioError:
                    raise
                except Exception as exc:
                    raise ReadError(
                        f"{self._source}: could not be opened for reading "
                        f"({type(exc).__name__}: {exc}); check the file is complete and readable",
                        source=self._source,
                    ) from exc
                self._finalizer = weakref.finalize(self, _close_reader, reader)
                self._reader = reader
            self._active += 1
            return self._reader

    def _open(self) -> Any:
        """The open reader, for inspection (tests, benchmarks); not counted as a read under way."""
        reader = self._acquire()
        self._release()
        return reader

    def _release(self) -> None:
        with self._lock:
            self._active -= 1
            deferred = self._deferred if self._active == 0 else []
            if deferred:
                self._deferred = []
        for finalizer in deferred:
            finalizer()

    def extract_patch(
        self,
        sample_idx: int,
        channels: Sequence[int] | None,
        coords: Sequence[int],
        patch_size: Sequence[int],
    ) -> np.ndarray:
        reader = self._acquire()
        try:
            return read_patch(
                self._layout,
                reader,
                self._dtype,
                self._source,
                sample_idx,
                channels,
                coords,
                patch_size,
            )
        except StackioError:
            raise
        except Exception as exc:
            raise ReadError(
                f"{self._source}: reading sample {sample_idx} at {tuple(coords)} failed "
                f"({type(exc).__name__}: {exc}); the file may be truncated or corrupt",
                source=self._source,
            ) from exc
        finally:
            self._release()

    def read_all(self) -> np.ndarray:
        """The whole stack as an SC(Z)YX array in memory."""
        ensure_fits_in_memory(self._layout.original_shape, self._dtype, self._source)
        reader = self._acquire()
        try:
            whole = np.asarray(reader[(slice(None),) * len(self._layout.original_axes)])
            whole = _checked(whole, self._layout.original_shape, self._dtype, self._source, "the whole stack")
        except StackioError:
            raise
        except Exception as exc:
            raise ReadError(
                f"{self._source}: reading the whole stack failed ({type(exc).__name__}: {exc}); "
                "the file may be truncated or corrupt",
                source=self._source,
            ) from exc
        finally:
            self._release()
        return self._layout.to_stack_order(whole)  # type: ignore[return-value]

    def to_memory(self) -> ArrayStack:
        """An in-memory copy of this stack, with the same source and metadata."""
        return ArrayStack(
            self.read_all(),
            self._layout,
            source=self._source,
            metadata=self._metadata,
            arranged=True,
            load_options=self._load_options,
        )

    def close(self) -> None:
        """Release open files; the next read reopens them.

        Reads under way in other threads finish first: the files close when the last one ends.
        """
        with self._lock:
            finalizer, self._finalizer, self._reader = self._finalizer, None, None
            if finalizer is None:
                return
            if self._active:
                self._deferred.append(finalizer)
                return
        finalizer()

    def __enter__(self) -> LazyStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_reader=None, _finalizer=None, _lock=None, _active=0, _deferred=[])
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


class FileBackedStack(_StackBase):
    """A file read whole by `load()` and dropped by `close()`.

    For formats without partial reads, and for datasets of many files larger
    than memory: keep one file loaded at a time. A read on an unloaded stack
    loads it. `read_func(path)` returns the array in the axes given.
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
    ) -> None:
        self.path = path
        self._read_func = read_func
        self._given_axes = axes
        self._depth_axis = depth_axis
        self._source = source or path
        self._metadata = metadata or Metadata()
        self._data: ArrayStack | None = None
        self._layout = (
            Layout.from_axes(axes, shape, depth_axis=depth_axis, source=self._source)  # type: ignore[arg-type]
            if shape is not None
            else None  # type: ignore[assignment]
        )
        self._dtype = np.dtype(dtype) if dtype is not None else None  # type: ignore[assignment]
        self._lock = threading.Lock()

    @property
    def is_loaded(self) -> bool:
        return self._data is not None

    def load(self) -> None:
        """Read the file into memory (no-op when already loaded)."""
        with self._lock:
            if self._data is not None:
                return
            try:
                array = self._read_func(self.path)
            except StackioError:
                raise
            except Exception as exc:
                name = getattr(self._read_func, "__qualname__", repr(self._read_func))
                raise ReadError(
                    f"{self._source}: {name} failed to read it ({type(exc).__name__}: {exc})",
                    source=self._source,
                ) from exc
            if not isinstance(array, np.ndarray):
                name = getattr(self._read_func, "__qualname__", repr(self._read_func))
                raise ValidationError(
                    f"{self._source}: {name} returned {type(array).__name__}, not a numpy array; "
                    "a read function must return an ndarray",
                    source=self._source,
                )
            stack = ArrayStack.from_axes(
                array,
                self._given_axes,
                source=self._source,
                metadata=self._metadata,
                depth_axis=self._depth_axis,
            )
            if self._layout is not None and stack.layout.original_shape != self._layout.original_shape:
                raise ReadError(
                    f"{self._source}: holds shape {array.shape} now, not {self._layout.original_shape} "
                    "as when it was first read; was the file changed?",
                    source=self._source,
                )
            self._layout = stack.layout
            self._dtype = stack.data_dtype
            self._data = stack

    def close(self) -> None:
        """Drop the data from memory; shape and dtype stay known."""
        self._data = None

    def _loaded(self) -> ArrayStack:
        if self._data is None:
            self.load()
        return self._data  # type: ignore[return-value]

    @property
    def data_shape(self) -> tuple[int, ...]:
        return self._layout.shape if self._layout is not None else self._loaded().data_shape

    @property
    def data_dtype(self) -> np.dtype:
        return self._dtype if self._dtype is not None else self._loaded().data_dtype

    @property
    def original_axes(self) -> str:
        return self._layout.original_axes if self._layout is not None else self._loaded().original_axes

    @property
    def original_data_shape(self) -> tuple[int, ...]:
        return self._layout.original_shape if self._layout is not None else self._loaded().original_data_shape

    @property
    def axes(self) -> str:
        return self._layout.axes if self._layout is not None else self._loaded().axes

    @property
    def layout(self) -> Layout:
        return self._layout if self._layout is not None else self._loaded().layout

    def extract_patch(
        self,
        sample_idx: int,
        channels: Sequence[int] | None,
        coords: Sequence[int],
        patch_size: Sequence[int],
    ) -> np.ndarray:
        return self._loaded().extract_patch(sample_idx, channels, coords, patch_size)

    def read_all(self) -> np.ndarray:
        return self._loaded().data

    def __repr__(self) -> str:
        state = "loaded" if self.is_loaded else "not loaded"
        return f"<FileBackedStack {self._source!r} {state}>"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_data=None, _lock=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


class _StackArray:
    """An SC(Z)YX array-like over any ImageStack, for `dask.array.from_array`."""

    def __init__(self, stack: ImageStack) -> None:
        self.stack = stack
        self.shape = tuple(stack.data_shape)
        self.dtype = np.dtype(stack.data_dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, key: tuple[slice, ...]) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (key,)
        key = key + (slice(None),) * (self.ndim - len(key))
        ranges = [range(*k.indices(n)) for k, n in zip(key, self.shape, strict=True)]
        samples, channels, *spatial = ranges
        out = np.empty([len(r) for r in ranges], dtype=self.dtype)
        if 0 in out.shape:
            return out
        for i, sample in enumerate(samples):
            out[i] = self.stack.extract_patch(
                sample, list(channels), [r.start for r in spatial], [len(r) for r in spatial]
            )
        return out


def _natural_chunks(stack: ImageStack) -> tuple[int, ...]:
    shape = tuple(stack.data_shape)
    n_channels, spatial = shape[1], shape[2:]
    layout = getattr(stack, "layout", None)
    native = getattr(stack, "chunks", None)
    if native is not None and layout is not None:
        return (1, n_channels, *(native[layout.original_axes.index(a)] for a in layout.spatial_axes))
    plane = n_channels * math.prod(spatial[-2:]) * np.dtype(stack.data_dtype).itemsize
    if len(spatial) == 3:
        depth = max(1, min(spatial[0], (64 * 2**20) // max(plane, 1)))
        return (1, n_channels, depth, *spatial[1:])
    return (1, n_channels, *spatial)


def stack_to_dask(stack: ImageStack, chunks: tuple[int, ...] | None = None) -> Any:
    """Wrap any ImageStack as a dask array whose chunks are read with `extract_patch`."""
    import dask.array as da
    from dask.base import tokenize

    array = _StackArray(stack)
    name = "stackio-" + tokenize(stack.source, array.shape, str(array.dtype), chunks)
    return da.from_array(
        array, chunks=chunks or _natural_chunks(stack), name=name, asarray=False, fancy=False, lock=False
    )
