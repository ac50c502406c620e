"""SIGPIPE kept ignored, as Python sets it, after pylibCZIrw's libcurl transfers reset it."""

from __future__ import annotations

import signal
from typing import Any


def keep_sigpipe_ignored() -> None:
    """Put back Python's ``SIG_IGN`` for SIGPIPE after a libCZI transfer.

    pylibCZIrw's libcurl input leaves SIGPIPE at its default action after each open and read: the next
    write to a closed socket or pipe anywhere in the process (a server answering a client that left, a
    DataLoader queue) would then kill the process instead of raising ``BrokenPipeError``. Done through libc,
    because `signal.signal` works only in the main thread and reads happen in any thread.
    """
    if getattr(signal, "SIGPIPE", None) is None or signal.getsignal(signal.SIGPIPE) != signal.SIG_IGN:
        return  # not POSIX, or the program chose another action itself
    global _libc_signal
    if _libc_signal is None:
        import ctypes

        function = ctypes.CDLL(None).signal
        function.argtypes, function.restype = [ctypes.c_int, ctypes.c_void_p], ctypes.c_void_p
        _libc_signal = function
    _libc_signal(signal.SIGPIPE, int(signal.SIG_IGN))


_libc_signal: Any = None
