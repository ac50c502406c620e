"""How much memory this process may still use, and the checks made before each large allocation.

The memory available is the least of what the system has free (`MemAvailable`), what the process's
cgroup (v1 or v2, every level up to the root) still allows, and what its address-space limit
(`RLIMIT_AS`, `ulimit -v`) leaves; a training job in a container or under `ulimit` gets a clear error
instead of the OOM killer or a bare MemoryError.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import NotEnoughMemoryError, ReadError, ValidationError

#: Limits at or above this are "no limit" (cgroup v1 writes a page-rounded 2**63 - 1).
_UNLIMITED = 2**60
#: Segments that decode to less than this are decoded without asking what memory is free: reading the
#: limits costs more than decoding them, and any process that can read a file can hold one.
SEGMENT_CHECK_BYTES = 64 * 2**20
#: Whole arrays smaller than this are allocated without asking first: the limits cost about ten file reads
#: (a large share of loading a small image into memory), and a MemoryError is still a NotEnoughMemoryError.
ARRAY_CHECK_BYTES = 16 * 2**20


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return None


def _number(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip()
    return int(text) if text.isdecimal() else None  # cgroup v2 writes "max" for no limit


def _stat(text: str | None, key: str) -> int:
    for line in (text or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdecimal():
            return int(value)
    return 0


def system_available(proc: Path = Path("/proc")) -> int | None:
    """`MemAvailable` of /proc/meminfo (or the free physical pages), in bytes."""
    for line in (_read(proc / "meminfo") or "").splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _levels(mount: Path, path: str) -> list[Path]:
    """The cgroup directories from the process's own up to the mount's root (limits of each apply).

    Inside a cgroup namespace the process's path may not exist under the mount: the mount's root is then
    the process's own cgroup.
    """
    here = mount / path.lstrip("/")
    if not here.is_dir():
        return [mount]
    levels = [here]
    while here != mount and mount in here.parents:
        here = here.parent
        levels.append(here)
    return levels


def cgroup_available(proc: Path = Path("/proc"), cgroups: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Bytes the process's memory cgroup (v2, or v1's memory controller) still allows; None if unlimited.

    Page cache the kernel reclaims before it fails an allocation (inactive file pages) counts as free.
    """
    best: int | None = None
    for line in (_read(proc / "self" / "cgroup") or "").splitlines():
        _, controllers, path = line.split(":", 2) if line.count(":") >= 2 else ("", "", "")
        if controllers == "" and path:  # v2: "0::/path"
            mount, limit_file, usage_file, cache_key = cgroups, "memory.max", "memory.current", "inactive_file"
            if not (cgroups / "cgroup.controllers").exists():
                mount = cgroups / "unified"
        elif "memory" in controllers.split(","):  # v1: "4:memory:/path"
            mount, limit_file, usage_file = cgroups / "memory", "memory.limit_in_bytes", "memory.usage_in_bytes"
            cache_key = "total_inactive_file"
        else:
            continue
        for level in _levels(mount, path):
            limit = _number(_read(level / limit_file))
            usage = _number(_read(level / usage_file))
            if limit is None or usage is None or limit >= _UNLIMITED:
                continue
            free = max(0, limit - usage + _stat(_read(level / "memory.stat"), cache_key))
            best = free if best is None else min(best, free)
    return best


def address_space_available(proc: Path = Path("/proc")) -> int | None:
    """Bytes of address space the process's soft `RLIMIT_AS` leaves; None if unlimited."""
    try:
        import resource
    except ImportError:  # not on this platform
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    for line in (_read(proc / "self" / "status") or "").splitlines():
        if line.startswith("VmSize:"):
            return max(0, soft - int(line.split()[1]) * 1024)
    return soft


def data_limit() -> int | None:
    """Bytes the process's soft `RLIMIT_DATA` (heap and private maps) allows; None if unlimited."""
    try:
        import resource
    except ImportError:  # not on this platform
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_DATA)
    return None if soft == resource.RLIM_INFINITY or soft < 0 else soft


def available_memory() -> int | None:
    """Bytes of memory this process can allocate now: the least of the system's, its cgroup's and
    its address-space limit's; None where nothing says."""
    known = [n for n in (system_available(), cgroup_available(), address_space_available()) if n is not None]
    return min(known) if known else None


def ensure_fits_in_memory(shape: Sequence[int], dtype: np.dtype, source: str, *, what: str = "it") -> None:
    """Refuse, before allocating, an array of `shape` and `dtype` larger than the memory available now."""
    nbytes = math.prod(int(n) for n in shape) * np.dtype(dtype).itemsize
    if nbytes < ARRAY_CHECK_BYTES:
        return
    free = available_memory()
    if free is not None and nbytes > free:
        raise ValidationError(
            f"{source}: reading {what} into memory needs {nbytes / 2**30:.1f} GiB (shape "
            f"{tuple(shape)}, {np.dtype(dtype)}) but only {free / 2**30:.1f} GiB is available; "
            "load it lazily (in_memory=False) instead",
            source=source,
        )


def ensure_segment_fits(nbytes: int, source: str, what: str, remedy: str) -> None:
    """Refuse, before decoding, a compressed segment whose decoded size exceeds the memory available now.

    A segment (a TIFF tile or strip, a zarr chunk, an archive member, a CZI subblock) is decoded whole
    however small the patch asked for, and a few MiB of compressed zeros can decode to GiBs (a decompression
    bomb, or just a file written with one huge tile). Every plugin calls this with the segment's decoded
    size, known from the file's own layout, so the answer is a clear `ReadError` naming the source,
    `what` is too large and `remedy`, never the OOM killer or a bare `MemoryError`.
    """
    if nbytes < SEGMENT_CHECK_BYTES:
        return
    free = available_memory()
    if free is not None and nbytes > free:
        raise ReadError(
            f"{source}: {what} decodes to {nbytes / 2**30:.2f} GiB, all of which must be in memory to read "
            f"any pixel of it (however small the patch), but only {free / 2**30:.2f} GiB is available to "
            f"this process; {remedy}, or read it where more memory is available",
            source=source,
        )


def not_enough_memory(source: str, what: str, exc: MemoryError, hint: str) -> NotEnoughMemoryError:
    """The error for a `MemoryError` raised while reading `what` of `source`; `hint` says what to do."""
    try:
        free = available_memory()
    except MemoryError:  # reading the limits needs memory too
        free = None
    detail = str(exc) or "an allocation failed"
    now = f"; {free / 2**30:.2f} GiB is available now" if free is not None else ""
    return NotEnoughMemoryError(f"{source}: not enough memory for {what} ({detail}{now}); {hint}", source=source)
