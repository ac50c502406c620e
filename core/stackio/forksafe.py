"""Fork safety: one mechanism that the core and every plugin use for their locks and open handles.

A child forked while other threads run inherits every lock as it was: one that a parent thread held at
the fork is never released there. It also inherits open readers: file offsets shared with the parent, a
native reader whose threads do not exist in the child. An object owning locks or handles calls
`track(self)`; in each forked child its `after_fork()` runs first thing, making fresh locks and
forgetting inherited handles, so the next read opens the file anew. Module-level state registers a
function with `at_fork`. A handle forgotten this way is handed to `inherit`: kept alive, never closed
or finalised in the child, since it belongs to the parent. A library read through is named with
`track_library`: before Python 3.12 each `functools.cached_property` holds one lock for every instance
of its class (tifffile's series, zarr's codecs), which a reading thread may hold at the fork.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any, Protocol


class ForkSafe(Protocol):
    """Something that holds locks or handles a forked child must not reuse."""

    def after_fork(self) -> None:
        """In a forked child: fresh locks and no inherited handles (never close the parent's)."""


_tracked: weakref.WeakSet[Any] = weakref.WeakSet()
_callbacks: list[Callable[[], None]] = []
#: Top-level packages whose classes' cached properties get fresh locks in a child (Python < 3.12).
_libraries: set[str] = {"stackio"}
#: The parent's handles a child forgot: referenced so that no destructor or finaliser closes them here.
_inherited: list[Any] = []


def track(obj: ForkSafe) -> None:
    """Call `obj.after_fork()` in every process forked from this one while `obj` lives."""
    _tracked.add(obj)


def at_fork(callback: Callable[[], None]) -> None:
    """Call `callback()` in every process forked from this one (for module-level locks and caches)."""
    _callbacks.append(callback)


def inherit(*handles: Any) -> None:
    """Keep a parent's handles alive in this child without using them (closing them could hang or
    disturb the parent's reads)."""
    _inherited.extend(h for h in handles if h is not None)


def track_library(*packages: str) -> None:
    """Give the cached properties of these packages' classes fresh locks in a forked child (nothing is
    imported here; on Python 3.12 and later the properties have no lock and this does nothing)."""
    _libraries.update(packages)


#: The cached properties of each module of those packages seen so far, found before a fork (in the parent).
_properties: dict[str, list[functools.cached_property[Any]]] = {}


def _find_cached_properties() -> None:
    if sys.version_info >= (3, 12):
        return
    for name, module in list(sys.modules.items()):
        if name in _properties or module is None or name.partition(".")[0] not in _libraries:
            continue
        found = _properties[name] = []
        for value in list(vars(module).values()):
            if isinstance(value, type) and value.__module__ == name:
                found += [a for a in vars(value).values() if isinstance(a, functools.cached_property)]


def _reset_cached_property_locks() -> None:
    for found in _properties.values():
        for prop in found:
            prop.lock = threading.RLock()  # type: ignore[attr-defined]


def _after_fork_in_child() -> None:
    # One failure must not leave the other objects with a lock held by a thread that is gone.
    failures: list[BaseException] = []
    for callback in [_reset_cached_property_locks, *_callbacks]:
        try:
            callback()
        except Exception as exc:
            failures.append(exc)
    for obj in list(_tracked):
        try:
            obj.after_fork()
        except Exception as exc:
            failures.append(exc)
    if failures:
        raise failures[0]  # reported by Python's at-fork machinery as unraisable; the child goes on


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_find_cached_properties, after_in_child=_after_fork_in_child)
