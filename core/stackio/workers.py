"""Making stacks safe to read in a process that was forked from one that read them.

A forked child inherits the parent's open readers and the state of their locks: a lock a parent thread
held at the fork is never released in the child, and a native reader's internal threads do not exist
there. `reopen(stack)` gives a stack fresh locks and forgets its reader (without closing it: that is
the parent's), so the next read in the child opens the file anew.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any


def reopen(stack: Any) -> None:
    """Forget `stack`'s open reader and locks; the next read reopens its file. For forked processes."""
    from .stacks import FileBackedStack, LazyStack

    if isinstance(stack, LazyStack):
        _forget(stack._reader)
    elif isinstance(stack, FileBackedStack):
        held = stack._data
        held._lock = threading.Lock()  # the loaded data itself is the child's copy: keep it
        held._active = 0
        held._deferred = []
    else:
        own = getattr(stack, "reopen", None)
        if callable(own):
            own()


def _forget(held: Any) -> None:
    """An `OnDemand` reader as if never opened, without closing what the parent opened."""
    finalizer = held._finalizer
    if finalizer is not None:
        finalizer.detach()  # the reader belongs to the parent: never close it from here
    held._finalizer = None
    held._value = None
    held._lock = threading.Lock()
    held._active = 0
    held._deferred = []


def reopen_all(stacks: Iterable[Any]) -> None:
    for stack in stacks:
        reopen(stack)
