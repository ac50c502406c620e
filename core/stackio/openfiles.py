"""Files open for reading, shared by every reader in the process: one bounded pool of descriptors.

Thousands of lazy stacks can be open at once (a folder of files, a dataset of many files); one
descriptor or memory map held per stack would exhaust the process's limit (``ulimit -n``). Readers
name a file by its `FileKey` and lease it from `POOL` for one read; beyond the pool's limit the least
recently used files are closed (once no read holds them) and reopened on their next read.

Every read first checks that the file is the one the reader parsed (same size and modification
time), so a file truncated or re-saved under an open stack is a `ReadError` saying so, never stale
offsets or a SIGBUS from touching pages past its new end. How raw pixels are reached, a whole-file
map or a window per read, is `readmode`'s choice.
"""

from __future__ import annotations

import errno
import math
import mmap
import os
import stat
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Protocol, TypeVar, overload

import attrs
import numpy as np

from . import forksafe
from .errors import FileAccessError, ReadError
from .files import file_kind
from .readmode import windowed

P = TypeVar("P", bound="Pooled")

#: `mmap.mmap` duplicates its descriptor, so a mapped file holds two.
_MAPPED_DESCRIPTORS = 2


def default_limit() -> int:
    """Descriptors the pool may hold: a quarter of the soft ``RLIMIT_NOFILE``, between 16 and 1024."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY or soft <= 0:
            soft = 4096
    except (ImportError, ValueError, OSError):  # pragma: no cover - non-POSIX
        soft = 512
    return max(16, min(1024, soft // 4))


@attrs.frozen
class FileKey:
    """A file as it was when a reader parsed it; reads refuse it once it has changed.

    `appendable`: the file may grow while it is read (a dataset still being acquired); only a file
    shorter than it was, or than a read needs, has changed.
    """

    path: str
    size: int
    mtime_ns: int
    appendable: bool = False

    @classmethod
    def of(cls, path: str | os.PathLike[str], *, appendable: bool = False) -> FileKey:
        """The file at `path` now; a relative path is made absolute here, once, so a later
        `os.chdir` (or a worker started elsewhere) still reads the same file."""
        absolute = os.path.abspath(os.fspath(path))
        st = os.stat(absolute)
        return cls(absolute, st.st_size, st.st_mtime_ns, appendable)

    def changed(self, st: os.stat_result) -> str | None:
        """How the file described by `st` differs from this key, or None."""
        if st.st_size < self.size:
            return f"it shrank from {self.size} to {st.st_size} bytes"
        if self.appendable:
            return None
        if st.st_size != self.size:
            return f"it grew from {self.size} to {st.st_size} bytes"
        if st.st_mtime_ns != self.mtime_ns:
            return "it was rewritten"
        return None


def changed_error(key: FileKey, how: str) -> FileAccessError:
    return FileAccessError(
        f"{key.path}: the file changed since it was opened ({how}); load it again to read what it holds now",
        source=key.path,
    )


def _open_error(key: FileKey, exc: OSError) -> FileAccessError:
    if isinstance(exc, FileNotFoundError):
        return changed_error(key, "it no longer exists")
    if exc.errno in (errno.EMFILE, errno.ENFILE):
        return FileAccessError(
            f"{key.path}: cannot be opened: too many files are open in this process or system ({exc.strerror}); "
            "close stacks you no longer need or raise the limit (ulimit -n)",
            source=key.path,
        )
    return FileAccessError(f"{key.path}: cannot be opened for reading ({exc.strerror or exc})", source=key.path)


Region = list[tuple[int, int, int, bool]]


def _region(shape: Sequence[int], key: Any) -> Region:
    """Per dimension (start, count, step, dropped) of a numpy basic index (ints, slices, Ellipsis)."""
    if not isinstance(key, tuple):
        key = (key,)
    if any(k is Ellipsis for k in key):
        at = next(i for i, k in enumerate(key) if k is Ellipsis)
        key = key[:at] + (slice(None),) * (len(shape) - len(key) + 1) + key[at + 1 :]
    if len(key) > len(shape):
        raise IndexError(f"too many indices ({len(key)}) for an array of {len(shape)} dimensions")
    key = key + (slice(None),) * (len(shape) - len(key))
    region: Region = []
    for k, n in zip(key, shape, strict=True):
        if isinstance(k, slice):
            start, stop, step = k.indices(n)
            if step < 1:
                raise IndexError("only positive slice steps are supported")
            region.append((start, len(range(start, stop, step)), step, False))
        else:
            i = int(k)
            if i < 0:
                i += n
            if not 0 <= i < n:
                raise IndexError(f"index {k} is out of bounds for a dimension of size {n}")
            region.append((i, 1, 1, True))
    return region


class OpenFile:
    """One open file of the pool: an OS descriptor, and a whole-file map when reads use one.

    Leased from `FilePool.acquire` for a read and given back with `FilePool.release`.
    """

    def __init__(self, key: FileKey, fd: int, windows: bool) -> None:
        self.key = key
        self.fd = fd
        #: Whether raw reads map a window each (see `readmode`) rather than the whole file once.
        self.windows = windows
        self._map: mmap.mmap | None = None
        self._lock = threading.Lock()
        #: Reads holding the file, and whether the pool has let go of it (closed when the last read ends).
        self.leases = 0
        self.retired = False

    @property
    def descriptors(self) -> int:
        return _MAPPED_DESCRIPTORS if self._map is not None else 1

    def check(self, end: int) -> None:
        """Refuse a read of bytes up to `end` if the file changed since its key was made, or is too short."""
        st = os.fstat(self.fd)
        how = self.key.changed(st)
        if how is not None:
            raise changed_error(self.key, how)
        if end > st.st_size:
            raise ReadError(
                f"{self.key.path}: a read needs bytes up to {end} but the file has {st.st_size}; "
                "the file is truncated or corrupt",
                source=self.key.path,
            )

    def read_bytes(self, offset: int, count: int) -> bytes:
        """`count` bytes at `offset` (``pread``: no map, no signal if the file shrinks meanwhile)."""
        self.check(offset + count)
        data = os.pread(self.fd, count, offset)
        if len(data) != count:
            raise changed_error(self.key, f"it ended at byte {offset + len(data)} during a read of {count} bytes")
        return data

    def read_array(
        self,
        offset: int,
        shape: Sequence[int],
        dtype: np.dtype,
        key: Any = (),
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """``ndarray(shape, dtype, buffer=file, offset=offset)[key]`` for a basic index `key`, copied into
        `out` (which must take its shape) or into a new array in native byte order."""
        dtype = np.dtype(dtype)
        if self.windows:
            view, window = self._window(offset, shape, dtype, key)
        else:
            self.check(offset + math.prod(shape) * dtype.itemsize)
            view, window = np.ndarray(tuple(shape), dtype, buffer=self._whole(), offset=offset)[key], None
        try:
            if out is None:
                out = np.array(view, dtype=dtype.newbyteorder("="), copy=True)
            else:
                np.copyto(out, view)
        finally:
            del view  # the map cannot close while a view of it lives
            if window is not None:
                window.close()
        return out

    def read_arrays(self, shape: Sequence[int], dtype: np.dtype, reads: Sequence[tuple[int, Any, np.ndarray]]) -> None:
        """Many `read_array` calls (arrays of one `shape` and stored `dtype`), for a batch: per
        ``(offset, key, out)``, ``ndarray(shape, dtype, buffer=file, offset=offset)[key]`` copied into `out`.

        The file is checked once for the whole batch, then each region is copied from the map with no
        other work per read; in window mode each read still maps (and unmaps) only its own bytes.
        """
        if self.windows or len(reads) < 2:
            for offset, key, out in reads:
                self.read_array(offset, shape, dtype, key, out)
            return
        dtype = np.dtype(dtype)
        shape = tuple(shape)
        self.check(max(offset for offset, _, _ in reads) + math.prod(shape) * dtype.itemsize)
        whole = self._whole()
        arrays: dict[int, np.ndarray] = {}  # one array per offset: patches of a batch share images
        try:
            for offset, key, out in reads:
                array = arrays.get(offset)
                if array is None:
                    array = arrays[offset] = np.ndarray(shape, dtype, buffer=whole, offset=offset)
                out[...] = array[key]  # converts the byte order
        finally:
            arrays.clear()  # the map cannot close while a view of it lives

    def _whole(self) -> mmap.mmap:
        mapped = self._map
        if mapped is None:
            with self._lock:
                if self._map is None:
                    self._map = mmap.mmap(self.fd, 0, access=mmap.ACCESS_READ)
                mapped = self._map
        return mapped

    def _window(self, offset: int, shape: Sequence[int], dtype: np.dtype, key: Any) -> tuple[np.ndarray, Any]:
        """A view of the indexed region on a map of just the bytes it spans (and that map)."""
        region = _region(shape, key)
        kept = [(count, step) for _, count, step, dropped in region if not dropped]
        out_shape = tuple(count for count, _ in kept)
        if 0 in out_shape:
            return np.empty(out_shape, dtype), None
        strides = [dtype.itemsize] * len(region)
        for i in range(len(region) - 2, -1, -1):
            strides[i] = strides[i + 1] * int(shape[i + 1])
        first = offset + sum(start * s for (start, _, _, _), s in zip(region, strides, strict=True))
        last = offset + sum(
            (start + (count - 1) * step) * s for (start, count, step, _), s in zip(region, strides, strict=True)
        )
        end = last + dtype.itemsize
        self.check(end)
        begin = first - first % mmap.ALLOCATIONGRANULARITY
        window = mmap.mmap(self.fd, end - begin, access=mmap.ACCESS_READ, offset=begin)
        view_strides = tuple(s * step for (_, _, step, dropped), s in zip(region, strides, strict=True) if not dropped)
        return np.ndarray(out_shape, dtype, buffer=window, offset=first - begin, strides=view_strides), window

    def close(self) -> None:
        mapped, self._map = self._map, None
        if mapped is not None:
            try:
                mapped.close()
            except BufferError:  # a view still lives (a traceback's frame): the map closes when it goes
                pass
        try:
            os.close(self.fd)
        except OSError:
            pass


class Pooled(Protocol):
    """What the pool holds: an `OpenFile`, or a format library's open reader (see `FilePool.acquire`)."""

    #: Reads holding it, and whether the pool has let go of it (it closes when the last read ends).
    leases: int
    retired: bool

    @property
    def descriptors(self) -> int:
        """Descriptors it holds open."""
        ...

    def close(self) -> None: ...


class FilePool:
    """An LRU of open files holding at most `limit` descriptors (see `default_limit`); thread-safe.

    Files in use when they fall out of the pool close when their last read ends, so a read never
    loses its file, and the pool may exceed its limit by the files being read at that moment.
    """

    def __init__(self, limit: int | None = None) -> None:
        #: Descriptors the pool may hold; None: `default_limit()` as the process's limit is now.
        self.limit = limit
        self._files: OrderedDict[Hashable, Any] = OrderedDict()
        # Reentrant so that a stack garbage-collected while this thread holds the lock (an allocation in a
        # locked block can run the stack's finalizer, which asks to close its files) finds it owned and
        # leaves the closing for later instead of waiting on itself forever.
        self._lock = threading.RLock()
        #: `forget` / `discard` calls made from inside a locked block, done at the next call.
        self._deferred: deque[tuple[Callable[[Any], None], Any]] = deque()
        #: Files opened so far (for tests and diagnostics).
        self.opened = 0

    def __len__(self) -> int:
        return len(self._files)

    @overload
    def acquire(self, key: FileKey) -> OpenFile: ...

    @overload
    def acquire(self, key: Hashable, opener: Callable[[], P]) -> P: ...

    def acquire(self, key: Any, opener: Callable[[], Any] | None = None) -> Any:
        """The open file for `key` (opened now if need be), held for a read until `release`.

        A `FileKey` opens as an `OpenFile`; any other key needs `opener`, which makes a `Pooled`
        (a format library's reader of one file, counted against the same limit).
        """
        with self._lock:
            found = self._files.get(key)
            if found is not None:
                self._files.move_to_end(key)
                found.leases += 1
                return found
        # outside the lock: an open can block on a slow or remote disk
        opened = self._open(key) if opener is None else opener()
        spare: list[Any] = []
        with self._lock:
            found = self._files.get(key)
            if found is not None:  # another thread opened it meanwhile
                spare.append(opened)
            else:
                found = self._files[key] = opened
                self.opened += 1
                spare += self._trim(keep=key)
            found.leases += 1
        for file in spare:
            file.close()
        return found

    def release(self, file: Pooled) -> None:
        with self._lock:
            file.leases -= 1
            done = file.retired and file.leases == 0
        if done:
            file.close()

    def _defer(self, method: Callable[[Any], None], arg: Any) -> bool:
        """Whether this call came from inside one of this thread's locked blocks and was put off."""
        if self._lock._is_owned():  # type: ignore[attr-defined]
            self._deferred.append((method, arg))
            return True
        self._run_deferred()
        return False

    def _run_deferred(self) -> None:
        while self._deferred:
            put_off, put_off_arg = self._deferred.popleft()
            put_off(put_off_arg)

    def forget(self, path: str) -> None:
        """Close every file at `path` (`FileKey`s, and keys whose first item is the path) once no read
        holds it (a stack was closed)."""
        if self._defer(self.forget, path):
            return
        path = os.path.abspath(path)
        with self._lock:
            gone = [self._retire(k) for k in [k for k in self._files if _path_of(k) == path]]
        for file in gone:
            if file is not None:
                file.close()
        self._run_deferred()

    def discard(self, key: Hashable) -> None:
        """Close `key`'s file once no read holds it, if the pool has it."""
        if self._defer(self.discard, key):
            return
        with self._lock:
            file = self._retire(key) if key in self._files else None
        if file is not None:
            file.close()
        self._run_deferred()

    def clear(self) -> None:
        with self._lock:
            gone = [self._retire(k) for k in list(self._files)]
        for file in gone:
            if file is not None:
                file.close()

    def after_fork(self) -> None:
        """A forked child starts with a free lock and no open file: those of the parent are kept alive
        but never used or closed here (a library's reader may share a file offset with the parent, and
        their locks may be held by a parent's thread); the child opens its own on its first reads."""
        self._lock = threading.RLock()
        self._deferred.clear()
        forksafe.inherit(*self._files.values())
        self._files.clear()

    @staticmethod
    def _open(key: FileKey) -> OpenFile:
        try:
            # O_NONBLOCK: a FIFO put in the file's place must not block the open (regular files ignore it)
            fd = os.open(key.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0))
        except OSError as exc:
            raise _open_error(key, exc) from exc
        try:
            st = os.fstat(fd)
            how = key.changed(st) if stat.S_ISREG(st.st_mode) else f"it is {file_kind(st.st_mode)} now"
            if how is not None:
                raise changed_error(key, how)
            return OpenFile(key, fd, windowed(st.st_size))
        except BaseException:
            os.close(fd)
            raise

    def _retire(self, key: Hashable) -> Any:
        """Take `key` out of the pool; the file, if no read holds it (to be closed outside the lock)."""
        file = self._files.pop(key)
        file.retired = True
        return file if file.leases == 0 else None

    def _trim(self, keep: Hashable) -> list[Any]:
        limit = self.limit or default_limit()
        held = sum(f.descriptors for f in self._files.values())
        gone: list[OpenFile] = []
        for key in list(self._files):
            if held <= limit:
                break
            if key == keep:
                continue
            held -= self._files[key].descriptors
            file = self._retire(key)
            if file is not None:
                gone.append(file)
        return gone


def _path_of(key: Hashable) -> str | None:
    if isinstance(key, FileKey):
        return key.path
    if isinstance(key, tuple) and key and isinstance(key[0], str):
        return key[0]
    return None


#: The process-wide pool every reader uses.
POOL = FilePool()
forksafe.track(POOL)


class Leased:
    """``with Leased(key) as file:`` holds `key`'s open file from `POOL` for the block."""

    __slots__ = ("_file", "_key")

    def __init__(self, key: FileKey) -> None:
        self._key = key

    def __enter__(self) -> OpenFile:
        self._file = POOL.acquire(self._key)
        return self._file

    def __exit__(self, *exc: object) -> None:
        POOL.release(self._file)


@attrs.frozen
class RawArray:
    """An array stored raw at `offset` of a file (C order, or Fortran order): a picklable `LazyStack`
    opener whose reader reads each index through `POOL`."""

    file: FileKey
    offset: int
    shape: tuple[int, ...]
    #: The dtype as stored, byte order included (reads give native byte order).
    dtype: str
    fortran_order: bool = False

    def __call__(self) -> RawArrayReader:
        return RawArrayReader(self)


class RawArrayReader:
    """A `RawArray` indexed like numpy (ints, slices, Ellipsis): each index reads just that region."""

    def __init__(self, raw: RawArray) -> None:
        self.raw = raw
        self.shape = raw.shape
        self.ndim = len(raw.shape)
        self.dtype = np.dtype(raw.dtype).newbyteorder("=")

    def __getitem__(self, key: Any) -> np.ndarray:
        raw = self.raw
        with Leased(raw.file) as file:
            if not raw.fortran_order:
                return file.read_array(raw.offset, raw.shape, np.dtype(raw.dtype), key)
            # Fortran order is the C order of the reversed shape: read that, give back its transpose.
            full = tuple(slice(a, a + n * s, s) if not d else a for a, n, s, d in _region(raw.shape, key))
            return file.read_array(raw.offset, raw.shape[::-1], np.dtype(raw.dtype), full[::-1]).T

    def close(self) -> None:
        POOL.forget(self.raw.file.path)
