"""How file-backed readers reach pixels stored raw in a file: a whole-file memory map, or windows.

- ``"map"``: each file is memory-mapped whole once and patches are slices of the map. The fastest
  mode, but every page a read touched counts in the process's RSS for as long as the map stays open
  (it is page cache the kernel may reclaim, yet memory monitors and cgroup limits count it).
- ``"window"``: each read maps only the bytes it covers and unmaps them once copied; RSS stays flat
  however much of the file a long job reads, at a few microseconds more per read. No address space
  is held between reads (under ``ulimit -v`` a whole map of a large file may not fit).
- ``"auto"`` (the default): ``"window"`` for a file larger than an eighth of the memory the process is
  limited to (its cgroup's limit, ``RLIMIT_AS`` or ``RLIMIT_DATA``), ``"map"`` otherwise and wherever no
  limit is set.

Compressed segments are read with ``pread`` in every mode. Set the mode with `set_file_reads` or the
``STACKIO_FILE_READS`` environment variable (read when a file is first opened for reading).
"""

from __future__ import annotations

import os
from typing import Literal, cast

from .errors import ValidationError

FileReads = Literal["map", "window", "auto"]
MODES: tuple[FileReads, ...] = ("map", "window", "auto")
ENVIRONMENT = "STACKIO_FILE_READS"

#: A file larger than this share of the memory limit is read in windows under "auto".
LIMIT_SHARE = 8

_chosen: FileReads | None = None
#: The memory limit seen by this process (pid, bytes or None), found once: reading cgroup files costs.
_limit: tuple[int, int | None] | None = None


def set_file_reads(mode: FileReads | None) -> None:
    """Choose how files are read from now on (files already open keep their mode until reopened);
    None goes back to the environment variable, else ``"auto"``."""
    global _chosen, _limit
    if mode is not None and mode not in MODES:
        raise ValidationError(f"file reads must be one of {', '.join(map(repr, MODES))}, not {mode!r}")
    _chosen, _limit = mode, None


def file_reads() -> FileReads:
    """The mode chosen by `set_file_reads`, else by ``STACKIO_FILE_READS``, else ``"auto"``."""
    if _chosen is not None:
        return _chosen
    value = os.environ.get(ENVIRONMENT, "").strip().lower() or "auto"
    if value not in ("map", "window", "auto"):
        raise ValidationError(
            f"the environment variable {ENVIRONMENT}={value!r} is not one of {', '.join(map(repr, MODES))}; "
            "fix or unset it"
        )
    return cast(FileReads, value)


def memory_limit() -> int | None:
    """Bytes the process may still use under its cgroup, ``RLIMIT_AS`` and ``RLIMIT_DATA``; None: no limit.

    Found once per process (and again after `set_file_reads`).
    """
    global _limit
    if _limit is None or _limit[0] != os.getpid():
        from .memory import address_space_available, cgroup_available, data_limit

        known = [n for n in (cgroup_available(), address_space_available(), data_limit()) if n is not None]
        _limit = (os.getpid(), min(known) if known else None)
    return _limit[1]


def windowed(size: int) -> bool:
    """Whether a file of `size` bytes is read in windows rather than through a whole-file map."""
    mode = file_reads()
    if mode != "auto":
        return mode == "window"
    limit = memory_limit()
    return limit is not None and size * LIMIT_SHARE > limit
