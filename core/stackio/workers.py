"""Making stacks safe to read in a worker process started from one that read them.

A forked child already starts with fresh locks and no inherited readers (`stackio.forksafe` does it
at every fork); `reopen(stack)` does the same on demand, for stacks whose class is not the core's
and for workers started some other way. It never closes the parent's readers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def reopen(stack: Any) -> None:
    """Forget `stack`'s open reader and locks; the next read reopens its file. For forked processes."""
    from .stacks import FileBackedStack, LazyStack

    if isinstance(stack, LazyStack):
        stack._reader.after_fork()
    elif isinstance(stack, FileBackedStack):
        stack._data.after_fork()  # the loaded data itself is the child's copy: kept
    else:
        own = getattr(stack, "reopen", None)
        if callable(own):
            own()


def reopen_all(stacks: Iterable[Any]) -> None:
    for stack in stacks:
        reopen(stack)
