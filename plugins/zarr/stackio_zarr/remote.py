"""Zarr stores at URLs (https, s3, gs, any fsspec protocol): metadata documents fetched one request each,
never a listing (plain web servers and many object stores cannot list), and arrays read through
zarr-python's FsspecStore, one per store and process so patches share one connection pool.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any, Literal
from urllib.parse import urlsplit

import numpy as np
from stackio import ReadError
from stackio.forksafe import at_fork
from stackio.remote import (
    StorageOptions,
    filesystem,
    join,
    network_error,
    remote_error,
    remote_errors,
    store_options,
    timeout,
)

from . import settle
from .budget import budgeted

DISTRIBUTION = "stackio-zarr"
MARKERS = ("zarr.json", ".zgroup", ".zarray")
#: Documents a tree fetches (metadata only; chunks go through zarr).
DOCUMENTS = (*MARKERS, ".zattrs", ".zmetadata")


class RemoteTree:
    """One remote store location: fetches each metadata document once and remembers missing ones."""

    def __init__(self, url: str, options: StorageOptions) -> None:
        self.url = url.rstrip("/")
        self.options = options
        self.fs, _ = filesystem(self.url, options, DISTRIBUTION)
        self._documents: dict[str, bytes | None] = {}
        self._lock = threading.Lock()
        #: Requests made so far (for tests and the benchmark).
        self.requests = 0

    def fetch(self, url: str) -> bytes | None:
        """The object at `url`, or None when the server says it does not exist."""
        with self._lock:
            if url in self._documents:
                return self._documents[url]
        try:
            self.requests += 1
            data: bytes | None = bytes(self.fs.cat_file(self.fs._strip_protocol(url)))
        except FileNotFoundError:
            data = None
        except Exception as exc:
            raise remote_error(exc, url, DISTRIBUTION) from exc
        with self._lock:
            self._documents[url] = data
        return data

    def documents(self, root: str, path: str) -> dict[str, bytes | None]:
        """The metadata documents already fetched for the node at `path`, keyed as zarr asks for them."""
        node = join(root, path)
        with self._lock:
            return {
                (f"{path}/{name}" if path else name): data
                for name in DOCUMENTS
                if (data := self._documents.get(join(node, name), b"?")) != b"?"
            }

    def path(self, url: str | None = None) -> RemotePath:
        return RemotePath(self, (url or self.url).rstrip("/"))


def _host_root(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class RemotePath:
    """A location in a remote store with the part of `pathlib.Path` the zarr reader uses.

    Only metadata documents are ever fetched; `iterdir` refuses, since listing is what HTTP cannot do.
    """

    def __init__(self, tree: RemoteTree, url: str) -> None:
        self.tree = tree
        self.url = url

    # -- names --------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return "" if self.url == _host_root(self.url) else self.url.rsplit("/", 1)[-1]

    @property
    def parent(self) -> RemotePath:
        if self.url == _host_root(self.url):
            return self
        return RemotePath(self.tree, self.url.rsplit("/", 1)[0])

    @property
    def parents(self) -> Iterator[RemotePath]:
        current = self
        while current.parent != current:
            current = current.parent
            yield current

    @property
    def parts(self) -> tuple[str, ...]:
        return PurePosixPath(urlsplit(self.url).path or "/").parts

    def __truediv__(self, part: str) -> RemotePath:
        return RemotePath(self.tree, join(self.url, part))

    def joinpath(self, *parts: str) -> RemotePath:
        return RemotePath(self.tree, join(self.url, *parts))

    def relative_to(self, other: RemotePath) -> PurePosixPath:
        if self.url == other.url:
            return PurePosixPath(".")
        prefix = other.url + "/"
        if not self.url.startswith(prefix):
            raise ValueError(f"{self.url} is not inside {other.url}")
        return PurePosixPath(self.url[len(prefix) :])

    def resolve(self) -> RemotePath:
        return self

    def as_uri(self) -> str:
        return self.url

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"RemotePath({self.url!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemotePath) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)

    # -- what exists (one request per document, remembered) ------------------------------------
    def is_file(self) -> bool:
        return self.name in DOCUMENTS and self.tree.fetch(self.url) is not None

    def exists(self) -> bool:
        if self.name in DOCUMENTS:
            return self.is_file()
        return any((self / m).is_file() for m in MARKERS)

    def is_dir(self) -> bool:
        return self.name not in DOCUMENTS and self.exists()

    def read_bytes(self) -> bytes:
        data = self.tree.fetch(self.url) if self.name in DOCUMENTS else None
        if data is None:
            raise FileNotFoundError(self.url)
        return data

    def iterdir(self) -> Iterator[RemotePath]:
        scheme = urlsplit(self.url).scheme
        raise ReadError(
            f"{self.url}: finding what this group holds needs a listing, which stackio never does over "
            f"{scheme}://; name the group or array in the URL, or consolidate the store's metadata "
            "(zarr.consolidate_metadata) so the group's document lists its members",
            source=self.url,
        )


def detect(source: Any) -> Any:
    """Whether a URL holds zarr metadata: one request per document probed, never a listing."""
    from stackio import Detection

    url = str(source.uri).rstrip("/")
    tree = RemoteTree(url, StorageOptions.of(source.storage_options, source))
    path = tree.path()
    if path.name in MARKERS:
        path = path.parent
    for marker in MARKERS:
        if (path / marker).is_file():
            return Detection.accept(f"the URL holds {marker}")
    return Detection.refuse("no zarr.json, .zgroup or .zarray at this URL")


def is_remote_path(path: object) -> bool:
    return isinstance(path, RemotePath)


# -- arrays ---------------------------------------------------------------------------------------

_STORES: dict[tuple[str, str, float, int], Any] = {}
_STORES_LOCK = threading.Lock()


def _forget_after_fork() -> None:
    global _STORES_LOCK
    _STORES_LOCK = threading.Lock()
    _STORES.clear()


at_fork(_forget_after_fork)


def zarr_store(url: str, options: StorageOptions) -> Any:
    """zarr's read-only FsspecStore on `url`, one per store, options and process."""
    key = (url, options.token(), timeout(), os.getpid())
    with _STORES_LOCK:
        store = _STORES.get(key)
        if store is None:
            from zarr.storage import FsspecStore

            with remote_errors(url, DISTRIBUTION):
                store = FsspecStore.from_url(url, storage_options=store_options(url, options), read_only=True)
            _STORES[key] = store
    return store


def _prefetched(store: Any, documents: dict[str, bytes | None]) -> Any:
    """`store` answering zarr's metadata reads from documents already fetched (so opening an array
    right after planning costs no request); every other read goes to `store`."""
    from zarr.storage import WrapperStore

    class Prefetched(WrapperStore):
        async def get(self, key: str, prototype: Any, byte_range: Any = None) -> Any:
            if byte_range is None and key in documents:
                data = documents[key]
                return None if data is None else prototype.buffer.from_bytes(data)
            return await self._store.get(key, prototype, byte_range)

        async def exists(self, key: str) -> bool:
            if key in documents:
                return documents[key] is not None
            return await self._store.exists(key)

    return Prefetched(store)


class _InProcess:
    """An open remote array that reopens itself in a forked child (the parent's event loop and
    connections do not exist there, and using them would hang)."""

    def __init__(self, opener: RemoteArrayOpener, array: Any) -> None:
        self._opener = opener
        self._array = array
        self._pid = os.getpid()
        self.dtype = np.dtype(array.dtype).newbyteorder("=")
        self.shape = tuple(array.shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        if self._pid != os.getpid():
            self._array, self._pid = self._opener.open(), os.getpid()
        with remote_errors(self._opener.url, DISTRIBUTION):
            return np.asarray(settle.read(self._array, key)).astype(self.dtype, copy=False)


class RemoteArrayOpener:
    """Opens one array of a remote store for a LazyStack. Pickles the URL and the public storage
    options only; credentials are re-resolved in the process that opens it."""

    def __init__(self, url: str, path: str, zarr_format: Literal[2, 3], options: StorageOptions) -> None:
        self.url = url
        self.path = path
        self.zarr_format = zarr_format
        self.options = options
        self._first: _InProcess | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_first": None}

    def open(self, documents: dict[str, bytes | None] | None = None) -> Any:
        import zarr

        store = zarr_store(self.url, self.options)
        if documents:
            store = _prefetched(store, documents)
        where = join(self.url, self.path)
        try:
            array = zarr.open_array(store=store, path=self.path, mode="r", zarr_format=self.zarr_format)
            settle.mark_reads()
            return array
        except Exception as exc:
            error = network_error(exc, where, DISTRIBUTION)
            if error is None:
                raise ReadError(
                    f"{where}: zarr could not open the array ({type(exc).__name__}: {exc}); its metadata may "
                    "be corrupt or use a data type or codec this zarr version does not read",
                    source=where,
                ) from exc
            raise error from exc

    def open_first(self, documents: dict[str, bytes | None]) -> Any:
        """The array opened from metadata already fetched (no request); the stack's first read uses it."""
        array = self.open(documents)
        self._first = _InProcess(self, array)
        return array

    def __call__(self) -> Any:
        first, self._first = self._first, None
        reader = first if first is not None else _InProcess(self, self.open())
        return budgeted(reader, reader._array, join(self.url, self.path))
