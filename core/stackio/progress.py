"""Progress of a long load on a terminal: nothing unless stderr is a terminal and a second has passed.

A plugin opening many files counts them with `Progress`; the bar is tqdm's when tqdm is
installed, else one line rewritten in place. Never shown when stderr is not a terminal
(pipes, logs, notebooks' captured streams, DataLoader workers writing to files).
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any

#: Seconds a load runs before its progress is shown, and between two updates of the plain line.
DELAY = 1.0
_EVERY = 0.1


def _on_terminal() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


class Progress:
    """Counts `total` steps of `what` (e.g. "tiff: opening files"); use as a context manager."""

    def __init__(self, what: str, total: int, *, delay: float | None = None) -> None:
        self.what = what
        self.total = total
        self.done = 0
        self._start = time.monotonic()
        self._delay = DELAY if delay is None else delay
        self._shown = _on_terminal() and total > 1
        self._bar: Any = None
        self._started = False
        self._line_at = 0.0
        self._wrote_line = False

    def advance(self, steps: int = 1) -> None:
        self.done += steps
        if not self._shown:
            return
        now = time.monotonic()
        if not self._started:
            if now - self._start < self._delay:
                return
            self._started = True
            self._bar = _tqdm(self.what, self.total, self.done - steps)
        if self._bar is not None:
            self._bar.update(steps)
        elif now - self._line_at >= _EVERY or self.done >= self.total:
            self._line_at = now
            self._wrote_line = True
            sys.stderr.write(f"\r{self.what}: {self.done:,}/{self.total:,}")
            sys.stderr.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._wrote_line:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._wrote_line = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _tqdm(what: str, total: int, done: int) -> Any:
    """tqdm's bar where tqdm is installed (imported only now, a second into a long load), else None."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    try:
        return tqdm(total=total, initial=done, desc=what, unit="file", file=sys.stderr, leave=False)
    except Exception:  # a broken tqdm must not break loading: fall back to the plain line
        return None
