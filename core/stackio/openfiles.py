"""Files open for reading, shared by every reader in the process: one bounded pool of descriptors.

Thousands of lazy stacks can be open at once (a folder of files, a dataset of many files); one
descriptor or memory map held per stack would exhaust the process's limit (``ulimit -n``). Readers
name a file by its `FileKey` and lease it from `POOL` for one read (a `FileRef` keeps the file it got and
leases it again without the pool's lock); beyond the pool's limit the least recently used files are
closed (once no read holds them) and reopened on their next read.

Every read first checks that the file is the one the reader parsed (same size and modification
time, one ``fstat``), so a file truncated or re-saved under an open stack is a `ReadError` saying so,
never stale offsets or a SIGBUS from touching pages past its new end. How raw pixels are reached, a
whole-file map or a window per read, is `readmode`'s choice.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import mmap
import os
import stat
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any, Generic, TypeVar, overload

import attrs
import numpy as np

from . import forksafe
from .errors import FileAccessError, ReadError
from .files import file_kind, os_failure
from .protocol import numpy_instance
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
    reason = os_failure(exc)  # what the errno means here (descriptor limits, permissions, I/O) and what to do
    if reason is not None:
        return FileAccessError(f"{key.path}: cannot be opened for reading: {reason}", source=key.path)
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


#: In window mode, a read spreading over more than WINDOW_SPAN bytes of the file whose items along its first
#: axis are each one run of bytes (whole rows of several planes: what a conversion reads) is read run by
#: run with ``preadv``, mapping nothing: mapped at once, all its pages would count in RSS until the copy
#: ends. Other regions are mapped whole: mapping them piece by piece costs several times the copy.
WINDOW_SPAN = 4 * 2**20

#: A region of an array stored in a file: its shape, its first byte, the byte after its last, its strides.
Span = tuple[tuple[int, ...], int, int, tuple[int, ...]]


def _span(offset: int, shape: Sequence[int], dtype: np.dtype, key: Any) -> Span:
    """Where ``ndarray(shape, dtype, buffer=file, offset=offset)[key]`` lies in the file."""
    region = _region(shape, key)
    strides = [dtype.itemsize] * len(region)
    for i in range(len(region) - 2, -1, -1):
        strides[i] = strides[i + 1] * int(shape[i + 1])
    out_shape = tuple(count for _, count, _, dropped in region if not dropped)
    view_strides = tuple(s * step for (_, _, step, dropped), s in zip(region, strides, strict=True) if not dropped)
    first = offset + sum(start * s for (start, _, _, _), s in zip(region, strides, strict=True))
    last = offset + sum(
        (start + (count - 1) * step) * s for (start, count, step, _), s in zip(region, strides, strict=True)
    )
    return out_shape, first, last + dtype.itemsize, view_strides


def _runs(offset: int, shape: Sequence[int], dtype: np.dtype, key: Any) -> list[tuple[Any, Any]] | None:
    """A region as its items along its first axis of more than one item, if each is one run of bytes:
    (index into the region's result, key of the item) per item; None otherwise."""
    region = _region(shape, key)
    kept = 0
    for axis, (start, count, step, dropped) in enumerate(region):
        if dropped:
            continue
        if count > 1:
            base: list[Any] = [at if gone else slice(at, at + (n - 1) * st + 1, st) for at, n, st, gone in region]
            base[axis] = slice(start, start + 1)
            item_shape, first, end, _ = _span(offset, shape, dtype, tuple(base))
            if end - first != math.prod(item_shape) * dtype.itemsize:
                return None
            items = []
            for i in range(count):
                at = start + i * step
                base[axis] = slice(at, at + 1)
                items.append(((slice(None),) * kept + (slice(i, i + 1),), tuple(base)))
            return items
        kept += 1
    return None


def _takes_raw(out: np.ndarray, shape: tuple[int, ...], dtype: np.dtype) -> bool:
    """Whether the file's bytes of a region of `shape` can be read straight into `out`."""
    return out.shape == shape and out.dtype == dtype and out.flags.c_contiguous and out.flags.writeable


class Pooled:
    """What the pool holds (an `OpenFile`, or a format library's reader of one file): it counts the reads
    holding it, and closes once the pool has let go of it (`retired`) and no read holds it.

    Reads are counted in a list, whose ``append`` and ``pop`` are atomic, so a `FileRef` leases without
    the pool's lock: a read counts itself before it looks at `retired`, and the pool sets `retired` before
    it looks at the count, so whichever comes second sees the other (the read then asks the pool again,
    or the pool leaves the closing to the read's `unlease`).
    """

    #: Descriptors it holds open.
    descriptors: int = 1
    #: Descriptors the pool counts for it while it is pooled (`FilePool._count`).
    counted: int = 0

    def __init__(self) -> None:
        self._reads: list[None] = []
        #: Whether the pool has let go of it (it closes when the last read ends).
        self.retired = False
        #: Read through a `FileRef` since the pool last passed it over (a second chance before it is
        #: closed for its descriptor); a file just opened or acquired from the pool is at the recent end.
        self.used = False
        self._unclosed: list[None] = [None]  # taken by the one `close_once` that closes it

    @property
    def leases(self) -> int:
        """Reads holding it now."""
        return len(self._reads)

    def lease(self) -> bool:
        """Hold it for a read, unless the pool has let go of it (False: ask the pool again)."""
        self._reads.append(None)
        if self.retired:
            self.unlease()
            return False
        self.used = True
        return True

    def unlease(self) -> None:
        """End a read; the last read of a retired file closes it."""
        self._reads.pop()
        if self.retired and not self._reads:
            self.close_once()

    def close_once(self) -> None:
        """`close()`, the first time only (a read ending and the pool may both find it done)."""
        try:
            self._unclosed.pop()
        except IndexError:
            return
        self.close()

    def forsake(self) -> None:
        """In a forked child: never to be read or closed here (it is the parent's)."""
        self.retired = True
        self._unclosed.clear()

    def close(self) -> None:
        """Release what it holds (called once, by `close_once`)."""


#: Whole-array views an `OpenFile` keeps per (offset, shape, dtype); then it starts over.
VIEWS_KEPT = 1024

#: Reads into an output at least this large are made through a window of their own inside `one_pass()`.
ONE_PASS_BYTES = 1 * 2**20

_one_pass: contextvars.ContextVar[bool] = contextvars.ContextVar("stackio_one_pass", default=False)


@contextlib.contextmanager
def one_pass() -> Iterator[None]:
    """Raw reads in this block (this thread or task) are read once: a large read into an output maps
    just its own bytes and unmaps them once copied, as in window mode, so a whole-file read leaves no
    file pages in the process's RSS (a patch job's reads keep the whole-file map, which pays for itself
    when regions are read again)."""
    token = _one_pass.set(True)
    try:
        yield
    finally:
        _one_pass.reset(token)


class OpenFile(Pooled):
    """One open file of the pool: an OS descriptor, and a whole-file map when reads use one.

    Leased from `FilePool.acquire` (or a `FileRef`) for a read and given back with `FilePool.release`.
    """

    def __init__(self, key: FileKey, fd: int, windows: bool) -> None:
        super().__init__()
        self.key = key
        self.fd = fd
        #: Whether raw reads map a window each (see `readmode`) rather than the whole file once.
        self.windows = windows
        self._size = key.size
        self._mtime_ns = key.mtime_ns
        self._map: mmap.mmap | None = None
        self._lock = threading.Lock()
        #: Views of the map as whole arrays, checked to lie inside the file as its key describes it, with
        #: the native dtype a read copies them to: building one costs more than the copy of a small patch.
        self._views: dict[tuple[int, Any, Any], tuple[np.ndarray, np.dtype | None]] = {}

    @property
    def descriptors(self) -> int:  # type: ignore[override]
        return _MAPPED_DESCRIPTORS if self._map is not None else 1

    def check(self, end: int) -> None:
        """Refuse a read of bytes up to `end` if the file changed since its key was made, or is too short."""
        st = os.fstat(self.fd)
        if st.st_size != self._size or st.st_mtime_ns != self._mtime_ns:
            self._refuse_changed(st)
        if end > st.st_size:
            self._refuse_short(end, st.st_size)

    def _refuse_changed(self, st: os.stat_result) -> None:
        how = self.key.changed(st)
        if how is not None:
            raise changed_error(self.key, how)

    def _refuse_short(self, end: int, size: int) -> None:
        raise ReadError(
            f"{self.key.path}: a read needs bytes up to {end} but the file has {size}; "
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
        dtype: np.dtype | str,
        key: Any = (),
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """``ndarray(shape, dtype, buffer=file, offset=offset)[key]`` for a basic index `key`, copied into
        `out` (which must take its shape) or into a new array in native byte order."""
        if self.windows or (out is not None and out.nbytes >= ONE_PASS_BYTES and _one_pass.get()):
            return self._read_window(offset, shape, np.dtype(dtype), key, out)
        # The file is checked on every read (one fstat), before any byte of the map is touched.
        st = os.fstat(self.fd)
        try:
            found = self._views.get((offset, shape, dtype))
        except TypeError:  # a shape given as a list
            shape = tuple(shape)
            found = self._views.get((offset, shape, dtype))
        if found is None or st.st_size != self._size or st.st_mtime_ns != self._mtime_ns:
            found = self._view(st, offset, shape, dtype)
        whole, native = found
        if out is None:
            # `copy()` when no byte order changes: it costs less than `np.array` with a dtype
            return whole[key].copy() if native is None else np.array(whole[key], dtype=native)
        np.copyto(out, whole[key])
        return out

    def _view(
        self, st: os.stat_result, offset: int, shape: Sequence[int], dtype: np.dtype | str
    ) -> tuple[np.ndarray, np.dtype | None]:
        """The array at `offset` as a view of the whole-file map (kept while the file is as its key says),
        once the file is checked to be unchanged and to hold it all; and the native dtype reads convert
        it to (None: it is native)."""
        unchanged = st.st_size == self._size and st.st_mtime_ns == self._mtime_ns
        if not unchanged:
            self._refuse_changed(st)
        file_dtype = numpy_instance(np.dtype(dtype))  # copies carry it: the stack's dtype is the same object
        end = offset + math.prod(shape) * file_dtype.itemsize
        if end > st.st_size:
            self._refuse_short(end, st.st_size)
        native = None if file_dtype.isnative else numpy_instance(file_dtype.newbyteorder("="))
        found = np.ndarray(tuple(shape), file_dtype, buffer=self._whole(), offset=offset), native
        if unchanged:
            if len(self._views) >= VIEWS_KEPT:
                self._views.clear()
            self._views[(offset, tuple(shape) if type(shape) is not tuple else shape, dtype)] = found
        return found

    def _read_window(
        self, offset: int, shape: Sequence[int], dtype: np.dtype, key: Any, out: np.ndarray | None
    ) -> np.ndarray:
        span = _span(offset, shape, dtype, key)
        out_shape, first, end, _ = span
        if 0 in out_shape:
            return np.empty(out_shape, dtype) if out is None else out
        nbytes = math.prod(out_shape) * dtype.itemsize
        if end - first == nbytes:
            # The region is one run of bytes: read it straight into the result. No page of the file is
            # mapped (nothing stays in RSS), and a file that shrank is a short read, not a SIGBUS.
            self.check(end)
            target = out if out is not None and _takes_raw(out, out_shape, dtype) else np.empty(out_shape, dtype)
            self._read_into(target, first)
            if target is out:
                return out
            if out is None:
                return target if dtype.isnative else target.astype(dtype.newbyteorder("="))
            np.copyto(out, target)
            return out
        if end - first > WINDOW_SPAN:
            runs = _runs(offset, shape, dtype, key)
            if runs is not None:
                if out is None:
                    out = np.empty(out_shape, dtype.newbyteorder("="))
                for part, sub in runs:
                    self._read_window(offset, shape, dtype, sub, out[part])
                return out
        view, window = self._window(span, dtype)
        try:
            if out is None:
                out = np.array(view, dtype=dtype.newbyteorder("="), copy=True)
            else:
                np.copyto(out, view)
        finally:
            del view  # the map cannot close while a view of it lives
            window.close()
        return out

    def _read_into(self, target: np.ndarray, offset: int) -> None:
        """Fill the C-contiguous `target` with the file's bytes from `offset` (``preadv``, in pieces:
        one call may return fewer bytes than asked)."""
        buffer = target.data.cast("B")
        done = 0
        while done < len(buffer):
            got = os.preadv(self.fd, [buffer[done:]], offset + done)
            if got <= 0:
                raise changed_error(self.key, f"it ended at byte {offset + done} during a read of {len(buffer)} bytes")
            done += got

    def read_arrays(
        self, shape: Sequence[int], dtype: np.dtype | str, reads: Sequence[tuple[int, Any, np.ndarray]]
    ) -> None:
        """Many `read_array` calls for a batch (arrays of one `shape` and stored `dtype`): per
        ``(offset, key, out)``, ``ndarray(shape, dtype, buffer=file, offset=offset)[key]`` copied into `out`.

        The file is checked once (one ``fstat``) for the whole batch, then each region is copied from
        the map with no other work per read; in window mode each read still maps only its own bytes.
        """
        if self.windows or len(reads) < 2 or _one_pass.get():
            for offset, key, out in reads:
                self.read_array(offset, shape, dtype, key, out)
            return
        st = os.fstat(self.fd)
        shape = tuple(shape)
        views = self._views
        # a changed file finds no view kept: `_view` refuses it (or, appendable, checks each array's end)
        unchanged = st.st_size == self._size and st.st_mtime_ns == self._mtime_ns
        for offset, key, out in reads:
            found = views.get((offset, shape, dtype)) if unchanged else None
            if found is None:
                found = self._view(st, offset, shape, dtype)
            out[...] = found[0][key]  # converts the byte order

    def _whole(self) -> mmap.mmap:
        mapped = self._map
        if mapped is None:
            with self._lock:
                if self._map is None:
                    self._map = mmap.mmap(self.fd, 0, access=mmap.ACCESS_READ)
                mapped = self._map
        return mapped

    def _window(self, span: Span, dtype: np.dtype) -> tuple[np.ndarray, mmap.mmap]:
        """A view of a region (see `_span`) on a map of just the bytes it spans, and that map."""
        out_shape, first, end, strides = span
        self.check(end)
        begin = first - first % mmap.ALLOCATIONGRANULARITY
        window = mmap.mmap(self.fd, end - begin, access=mmap.ACCESS_READ, offset=begin)
        return np.ndarray(out_shape, dtype, buffer=window, offset=first - begin, strides=strides), window

    def close(self) -> None:
        self._views.clear()
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


class FilePool:
    """An LRU of open files holding at most `limit` descriptors (see `default_limit`); thread-safe.

    Files in use when they fall out of the pool close when their last read ends, so a read never
    loses its file, and the pool may exceed its limit by the files being read at that moment. Reads
    through a `FileRef` do not reorder the LRU (that would take the lock); they mark the file used
    instead, and a used file is passed over once before it is closed (the "clock" approximation).
    """

    def __init__(self, limit: int | None = None) -> None:
        #: Descriptors the pool may hold; None: `default_limit()` as the process's limit is now.
        self.limit = limit
        self._files: OrderedDict[Hashable, Any] = OrderedDict()
        #: The descriptors its files are counted for (see `_count`), kept as files come and go: summing
        #: them on each open walked the whole pool, once per file of a folder read file by file.
        self._held = 0
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
            if found is not None:  # in the pool, so not retired: no need to check as `lease` does
                self._files.move_to_end(key)
                found._reads.append(None)
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
                opened.counted = self._count(opened)
                self._held += opened.counted
                self.opened += 1
                spare += self._trim(keep=key)
            found._reads.append(None)
        for file in spare:
            file.close_once()
        return found

    def release(self, file: Pooled) -> None:
        """End a read of `file` (from `acquire`); no lock is needed (see `Pooled`)."""
        file.unlease()

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
                file.close_once()
        self._run_deferred()

    def discard(self, key: Hashable) -> None:
        """Close `key`'s file once no read holds it, if the pool has it."""
        if self._defer(self.discard, key):
            return
        with self._lock:
            file = self._retire(key) if key in self._files else None
        if file is not None:
            file.close_once()
        self._run_deferred()

    def clear(self) -> None:
        with self._lock:
            gone = [self._retire(k) for k in list(self._files)]
        for file in gone:
            if file is not None:
                file.close_once()

    def after_fork(self) -> None:
        """A forked child starts with a free lock and no open file: those of the parent are kept alive
        but never used or closed here (a library's reader may share a file offset with the parent, and
        their locks may be held by a parent's thread); the child opens its own on its first reads."""
        self._lock = threading.RLock()
        self._deferred.clear()
        for file in self._files.values():
            file.forsake()  # a `FileRef` holding it asks the pool again
        forksafe.inherit(*self._files.values())
        self._files.clear()
        self._held = 0

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

    @staticmethod
    def _count(file: Pooled) -> int:
        """The descriptors the pool counts for `file`: the most it will hold (an `OpenFile` reading from a
        whole-file map maps its file on its first array read, so it is counted for the map from the start)."""
        if isinstance(file, OpenFile) and not file.windows:
            return max(file.descriptors, _MAPPED_DESCRIPTORS)
        return file.descriptors

    def _retire(self, key: Hashable) -> Any:
        """Take `key` out of the pool; the file, if no read holds it (to be closed outside the lock).

        `retired` is set before the reads are counted: see `Pooled`."""
        file = self._files.pop(key)
        self._held -= file.counted
        file.retired = True
        return file if not file._reads else None

    def _trim(self, keep: Hashable) -> list[Any]:
        """Retire the least recently used files until the pool is within its limit; a file read since
        the pool last passed it over is moved to the recent end once instead."""
        limit = self.limit or default_limit()
        gone: list[Any] = []
        if self._held <= limit:
            return gone
        for second_chances in (True, False):
            for key in list(self._files):
                if self._held <= limit:
                    return gone
                if key == keep:
                    continue
                file = self._files[key]
                if second_chances and file.used:
                    file.used = False
                    self._files.move_to_end(key)
                    continue
                if self._retire(key) is not None:
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


class FileRef(Generic[P]):
    """A reader's way to one file of a pool (`POOL` unless given): it keeps the open file it last got and
    leases that again without the pool's lock for as long as the pool keeps it open, else asks the pool.

    ``file = ref.acquire()`` ... ``file.unlease()``, or `read_array` / `read_bytes` in one call. A
    `FileKey` needs no opener; any other key needs the `opener` `FilePool.acquire` takes.
    """

    __slots__ = ("_file", "key", "opener", "pool")

    @overload
    def __init__(self: FileRef[OpenFile], key: FileKey, opener: None = None, pool: FilePool | None = None) -> None: ...

    @overload
    def __init__(self: FileRef[P], key: Hashable, opener: Callable[[], P], pool: FilePool | None = None) -> None: ...

    def __init__(self, key: Any, opener: Callable[[], Any] | None = None, pool: FilePool | None = None) -> None:
        self.key = key
        self.opener = opener
        self.pool = POOL if pool is None else pool
        self._file: Any = None

    def acquire(self) -> P:
        """The open file, held for a read until its `unlease()`."""
        file = self._file
        if file is None or not file.lease():
            file = self._file = self._acquire()
        return file

    def _acquire(self) -> Any:
        return self.pool.acquire(self.key) if self.opener is None else self.pool.acquire(self.key, self.opener)

    def read_array(
        self: FileRef[OpenFile],
        offset: int,
        shape: Sequence[int],
        dtype: np.dtype | str,
        key: Any = (),
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """`OpenFile.read_array`, leased for the call."""
        # `Pooled.lease` and `unlease` written out: this runs once per patch
        file = self._file
        if file is not None:
            reads = file._reads
            reads.append(None)
            if file.retired:
                file.unlease()
                file = None
            else:
                file.used = True
        if file is None:
            file = self._file = self._acquire()
            reads = file._reads
        try:
            return file.read_array(offset, shape, dtype, key, out)
        finally:
            reads.pop()
            if file.retired and not reads:
                file.close_once()

    def read_bytes(self: FileRef[OpenFile], offset: int, count: int) -> bytes:
        """`OpenFile.read_bytes`, leased for the call."""
        file = self.acquire()
        try:
            return file.read_bytes(offset, count)
        finally:
            file.unlease()

    def __reduce__(self) -> tuple[Any, ...]:  # the open file stays behind; a copy asks the pool anew
        return (FileRef, (self.key, self.opener))


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
        self.file_dtype = np.dtype(raw.dtype)
        self.dtype = self.file_dtype.newbyteorder("=")
        self._file = FileRef(raw.file)

    def __getitem__(self, key: Any) -> np.ndarray:
        raw = self.raw
        if not raw.fortran_order:
            return self._file.read_array(raw.offset, raw.shape, self.file_dtype, key)
        # Fortran order is the C order of the reversed shape: read that, give back its transpose.
        full = tuple(slice(a, a + n * s, s) if not d else a for a, n, s, d in _region(raw.shape, key))
        return self._file.read_array(raw.offset, raw.shape[::-1], self.file_dtype, full[::-1]).T

    def read_into(self, keys: Sequence[Any], outs: Sequence[np.ndarray]) -> None:
        """Each region copied straight into its output (a batch, or a whole read; see `stackio.batch`)."""
        raw = self.raw
        for key, out in zip(keys, outs, strict=True):
            if not raw.fortran_order:
                self._file.read_array(raw.offset, raw.shape, self.file_dtype, key, out)
                continue
            full = tuple(slice(a, a + n * s, s) if not d else a for a, n, s, d in _region(raw.shape, key))
            self._file.read_array(raw.offset, raw.shape[::-1], self.file_dtype, full[::-1], out.T)

    def close(self) -> None:
        POOL.forget(self.raw.file.path)
