"""Reads that leave no work behind when they fail: zarr's pending chunk tasks are cancelled first.

zarr runs a read as tasks on its own event-loop thread and gathers them without cancelling the rest
when one fails (a corrupt chunk): the error reaches the caller while the other chunks are still being
read and decoded. If the interpreter then exits, zarr's exit handler closes its loop on those tasks and
asyncio prints "Task was destroyed but it is pending!" for each; in a long process they go on reading
after the error was reported. Here each read marks the tasks it starts (a context variable they inherit,
seen by a task factory on zarr's loop), and a failed read cancels and awaits them before it raises.
"""

from __future__ import annotations

import contextvars
import weakref
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # asyncio is imported with zarr, when a read needs it
    import asyncio

#: The tasks started by the read under way in this context (None: not a read of ours).
_STARTED: contextvars.ContextVar[weakref.WeakSet[asyncio.Future[Any]] | None] = contextvars.ContextVar(
    "stackio_zarr_started", default=None
)
#: How long a failed read waits for its cancelled tasks before raising anyway.
SETTLE_SECONDS = 10.0

TaskFactory = Callable[..., "asyncio.Future[Any]"]


class _MarkingFactory:
    """zarr's loop task factory: makes tasks as before, and records those a read of ours starts."""

    def __init__(self, previous: TaskFactory | None) -> None:
        self.previous = previous

    def __call__(
        self, loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], /, **kwargs: Any
    ) -> asyncio.Future[Any]:
        if self.previous is not None:
            task: asyncio.Future[Any] = self.previous(loop, coro, **kwargs)
        else:
            import asyncio

            task = asyncio.Task(coro, loop=loop, **kwargs)
        started = _STARTED.get()  # the creator's context: a task of a read copies the read's
        if started is not None:
            started.add(task)
        return task


async def _install() -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    if not isinstance(loop.get_task_factory(), _MarkingFactory):
        loop.set_task_factory(_MarkingFactory(loop.get_task_factory()))  # type: ignore[arg-type]  # generic in typeshed


def mark_reads() -> None:
    """Have zarr's event loop record the tasks of reads made through `read` (call where an array is
    opened: after a fork, or after zarr's resources were cleaned up, zarr makes a new loop)."""
    from zarr.core.sync import sync

    sync(_install())


async def _cancel(started: weakref.WeakSet[asyncio.Future[Any]]) -> None:
    import asyncio

    while pending := [task for task in list(started) if not task.done()]:
        for task in pending:
            task.cancel()
        await asyncio.wait(pending)


def _settle(started: weakref.WeakSet[asyncio.Future[Any]]) -> None:
    from zarr.core.sync import sync

    try:
        sync(_cancel(started), timeout=SETTLE_SECONDS)
    except Exception:  # the read's own error is what the caller must see
        pass


def read(array: Any, key: Any) -> Any:
    """`array[key]` (a zarr array); if it fails, the tasks it started are cancelled before the error goes on."""
    started: weakref.WeakSet[asyncio.Future[Any]] = weakref.WeakSet()
    token = _STARTED.set(started)
    try:
        value = array[key]
    except BaseException:
        _STARTED.reset(token)
        _settle(started)
        raise
    _STARTED.reset(token)
    return value


class Settled:
    """A reader of a zarr array whose failed reads leave no pending task (see the module)."""

    def __init__(self, array: Any) -> None:
        self._array = array
        self.dtype = array.dtype
        self.shape = tuple(array.shape)

    def __getitem__(self, key: Any) -> Any:
        return read(self._array, key)
