"""Which of some marker names a folder holds, looked up again only when the folder has changed.

Dispatch asks this of the folder of every file it is given (a file inside an NDTiff or zarr dataset
belongs to it), usually of the same few folders, and mostly to hear "none". Adding, removing or
renaming an entry of a folder updates the folder's modification time (POSIX), so while the folder's
stat is unchanged, so is the answer: one stat instead of one per marker. Two guards keep that sound:

- an answer is remembered only for a folder (and each subfolder a nested marker such as
  `Full resolution/NDTiff.index` goes through) last modified at least `SETTLED_NS` before it was
  looked up: a change made later, even within the file system's timestamp granularity, gives a
  modification time unlike the remembered one;
- the folder's stat is taken before its markers are looked up, so a marker made meanwhile shows up
  as a changed stat next time.

Glob markers naming a subfolder (`a/*.json`) are looked up every time.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence

from . import forksafe

#: How long before a lookup a folder must have been last modified for its answer to be remembered.
SETTLED_NS = 2_000_000_000
#: Folders remembered (the least recently looked-up are forgotten first).
MAX_FOLDERS = 256

_Stamp = tuple[int, int, int, int]
_lock = threading.Lock()
_remembered: dict[tuple[str, tuple[str, ...]], tuple[tuple[_Stamp | None, ...], tuple[str, ...], frozenset[str]]] = {}


def _after_fork() -> None:
    global _lock
    _lock = threading.Lock()  # another thread of the parent may have held it


forksafe.at_fork(_after_fork)


def _stamp(path: str) -> _Stamp | None:
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return info.st_dev, info.st_ino, info.st_mtime_ns, info.st_ctime_ns


def _is_glob(marker: str) -> bool:
    return any(c in marker for c in "*?[")


def _has(folder: str, marker: str) -> bool:
    if not _is_glob(marker):
        return os.path.exists(os.path.join(folder, marker))
    from pathlib import Path

    return any(True for _ in Path(folder).glob(marker))


def markers_in(folder: str | os.PathLike[str], markers: Sequence[str]) -> frozenset[str]:
    """The `markers` (paths relative to `folder`, globs allowed) that `folder` holds."""
    where = os.fspath(folder)
    wanted = tuple(markers)
    key = (where, wanted)
    held = _remembered.get(key)
    if held is not None:
        stamps, subfolders, found = held
        if stamps[0] == _stamp(where) and all(
            stamp == _stamp(os.path.join(where, s)) for stamp, s in zip(stamps[1:], subfolders, strict=True)
        ):
            return found
    if any(_is_glob(m) and "/" in m for m in wanted):  # a glob below the folder: its changes are not seen here
        return frozenset(m for m in wanted if _has(where, m))
    now = time.time_ns()
    top = _stamp(where)
    nested = sorted({m.split("/", 1)[0] for m in wanted if "/" in m})
    present = [s for s in nested if os.path.isdir(os.path.join(where, s))]
    stamps = (top, *(_stamp(os.path.join(where, s)) for s in present))
    found = frozenset(m for m in wanted if _has(where, m))
    if all(s is not None and s[2] < now - SETTLED_NS for s in stamps):
        with _lock:
            _remembered.pop(key, None)
            _remembered[key] = (stamps, tuple(present), found)
            while len(_remembered) > MAX_FOLDERS:
                del _remembered[next(iter(_remembered))]
    return found


def forget() -> None:
    """Forget every remembered folder (tests; a file system known to keep modification times unchanged)."""
    with _lock:
        _remembered.clear()
