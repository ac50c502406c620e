"""Read-only memory maps of TIFF files, shared by every reader in the process.

A many-file dataset can have thousands of lazy stacks open at once; each one
holding its own file descriptor would exhaust the process's limit. Readers ask
this cache for a file's map on every read instead: the least recently used
maps are dropped beyond a limit (a dropped map is closed once nothing uses it).
"""

from __future__ import annotations

import mmap
import os
import threading
from collections import OrderedDict

import attrs


def _default_limit() -> int:
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
    """A file as it was when a reader opened it (a changed file is not served stale)."""

    path: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: str) -> FileKey:
        st = os.stat(path)
        return cls(path, st.st_size, st.st_mtime_ns)


class MapCache:
    """An LRU of read-only `mmap`s keyed by `FileKey`; thread-safe."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit or _default_limit()
        self._maps: OrderedDict[FileKey, mmap.mmap] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: FileKey) -> mmap.mmap:
        with self._lock:
            found = self._maps.get(key)
            if found is not None:
                self._maps.move_to_end(key)
                return found
        with open(key.path, "rb") as f:
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        if len(mapped) != key.size:
            # the file changed since the reader parsed it
            from stackio import ReadError

            raise ReadError(
                f"{key.path}: the file changed size ({key.size} -> {len(mapped)} bytes) since it was "
                "opened; load it again",
                source=key.path,
            )
        with self._lock:
            found = self._maps.get(key)
            if found is not None:
                return found
            self._maps[key] = mapped
            while len(self._maps) > self.limit:
                self._maps.popitem(last=False)
            return mapped

    def forget(self, path: str) -> None:
        """Drop every map of `path` (used when a stack is closed)."""
        with self._lock:
            for key in [k for k in self._maps if k.path == path]:
                del self._maps[key]

    def __len__(self) -> int:
        return len(self._maps)

    def after_fork(self) -> None:
        """A forked child starts with a free lock (a parent thread may have held it at the fork)."""
        self._lock = threading.Lock()


#: The process-wide cache every reader uses.
MAPS = MapCache()
os.register_at_fork(after_in_child=MAPS.after_fork)
