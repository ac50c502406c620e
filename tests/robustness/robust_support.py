"""Running jobs in watched worker processes, and measuring a process's open files and memory.

`run_jobs` hands a list of JSON jobs to worker subprocesses (`robust_worker.py`). Each job has its
own time limit; a worker that dies (segfault, abort) or overruns is killed, its current job is
recorded as "crash" or "hang", and a new worker resumes with the next job. So one bad input costs
one job, never the batch, and a crash in a format library is seen as a failure, not as a dead run.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORKER = HERE / "robust_worker.py"
#: Counts the tests record for the end-of-session summary (inputs tried, mutants, crashes).
REPORT: dict[str, Any] = {}


def worker_count() -> int:
    """Worker processes to run side by side: the cores available (CI has 2), at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def _launch(jobs_file: str, start: int, scratch: str, stderr_file: Any) -> tuple[subprocess.Popen[bytes], int]:
    read_fd, write_fd = os.pipe()
    env = {**os.environ, "PYTHONFAULTHANDLER": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), jobs_file, str(start), str(write_fd), scratch],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr_file,
        pass_fds=(write_fd,),
        env=env,
        start_new_session=True,  # its own process group: a hang is killed with everything it started
    )
    os.close(write_fd)
    return proc, read_fd


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _tail(path: str, size: int = 3000) -> str:
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - size))
        return f.read().decode("utf-8", "replace")


def run_batch(jobs: Sequence[dict[str, Any]], *, timeout: float, startup: float = 120.0) -> list[dict[str, Any]]:
    """Run `jobs` in order in one worker at a time; one result dict per job.

    A job's result has "outcome"; the runner itself gives "crash" (with the exit status and the
    end of stderr) or "hang". `startup` bounds the worker's imports before its first job.
    """
    results: list[dict[str, Any] | None] = [None] * len(jobs)
    with tempfile.TemporaryDirectory(prefix="stackio-robust-") as tmp:
        jobs_file = os.path.join(tmp, "jobs.json")
        with open(jobs_file, "w") as f:
            json.dump(list(jobs), f)
        start = 0
        launches = 0
        while start < len(jobs):
            launches += 1
            stderr_path = os.path.join(tmp, f"stderr{launches}.txt")
            with open(stderr_path, "wb") as stderr_file:
                proc, fd = _launch(jobs_file, start, os.path.join(tmp, f"scratch{launches}"), stderr_file)
            current, deadline = None, time.monotonic() + startup
            buffer = b""
            next_start = len(jobs)
            with os.fdopen(fd, "rb", buffering=0) as pipe:
                while True:
                    wait = max(0.0, deadline - time.monotonic())
                    ready, _, _ = select.select([pipe], [], [], wait)
                    if not ready:  # the job (or the start-up) overran: kill, record, resume after it
                        _kill(proc)
                        if current is None:
                            raise RuntimeError(f"worker did not start within {startup}s:\n{_tail(stderr_path)}")
                        results[current] = {"outcome": "hang", "seconds": timeout, "stderr": _tail(stderr_path)}
                        next_start = current + 1
                        break
                    chunk = pipe.read(65536)
                    if not chunk:  # the worker exited
                        code = proc.wait()
                        if current is not None and results[current] is None:
                            results[current] = {
                                "outcome": "crash",
                                "returncode": code,
                                "signal": signal.Signals(-code).name if code < 0 else None,
                                "stderr": _tail(stderr_path),
                            }
                            next_start = current + 1
                        elif current is None:
                            raise RuntimeError(
                                f"worker failed before its first job (exit {code}):\n{_tail(stderr_path)}"
                            )
                        else:
                            next_start = current + 1
                        break
                    buffer += chunk
                    while b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        kind, _, rest = line.decode().partition(" ")
                        if kind == "START":
                            current = int(rest)
                            deadline = time.monotonic() + timeout
                        elif kind == "DONE":
                            index, _, payload = rest.partition(" ")
                            results[int(index)] = json.loads(payload)
            if proc.poll() is None:
                _kill(proc)
            start = next_start
    return [r if r is not None else {"outcome": "not run"} for r in results]


def run_jobs(jobs: Sequence[dict[str, Any]], *, timeout: float, workers: int | None = None) -> list[dict[str, Any]]:
    """`run_batch` over `workers` shards run side by side (jobs dealt round-robin); results in job order."""
    n = max(1, min(workers or worker_count(), len(jobs)))
    shards = [list(range(i, len(jobs), n)) for i in range(n)]
    out: list[dict[str, Any]] = [{} for _ in jobs]
    errors: list[BaseException] = []

    def run(indices: list[int]) -> None:
        try:
            for i, result in zip(indices, run_batch([jobs[i] for i in indices], timeout=timeout), strict=True):
                out[i] = result
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in shards]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return out


# -- what a process holds -----------------------------------------------------------------------


def open_fds() -> dict[int, str]:
    """This process's open file descriptors and what they point at (Linux /proc)."""
    out = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            out[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
    return out


def fds_under(paths: Sequence[str | Path]) -> list[str]:
    """Open descriptors pointing into any of `paths` (files or folders)."""
    roots = [os.path.realpath(p) for p in paths]
    return sorted(t for t in open_fds().values() if any(t == r or t.startswith(r + os.sep) for r in roots))


def maps_under(paths: Sequence[str | Path]) -> list[str]:
    """Memory maps of files inside any of `paths` (a memory map keeps a file open without a descriptor)."""
    roots = [os.path.realpath(p) for p in paths]
    found = set()
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split(maxsplit=5)
            if len(parts) == 6:
                target = parts[5].strip()
                if any(target == r or target.startswith(r + os.sep) for r in roots):
                    found.add(target)
    return sorted(found)


def writable_fds_under(paths: Sequence[str | Path]) -> list[str]:
    """Descriptors into `paths` opened for writing (O_WRONLY or O_RDWR), C libraries' included."""
    roots = [os.path.realpath(p) for p in paths]
    out = []
    for fd, target in open_fds().items():
        if not any(target == r or target.startswith(r + os.sep) for r in roots):
            continue
        try:
            with open(f"/proc/self/fdinfo/{fd}") as f:
                flags = next(int(line.split()[1], 8) for line in f if line.startswith("flags:"))
        except (OSError, StopIteration):
            continue
        if flags & (os.O_WRONLY | os.O_RDWR):
            out.append(target)
    return out


def rss_bytes() -> int:
    """Resident memory of this process now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# -- watching inputs for writes ------------------------------------------------------------------


class WriteWatch:
    """An audit hook that records every attempt to open a watched path for writing.

    Python audit hooks cannot be removed, so the hook stays installed and only records while
    `roots` is non-empty. It sees `open()`, `os.open()` and writable memory maps; C libraries that
    open files themselves (libCZI) are checked through /proc instead (`writable_fds_under`).
    """

    def __init__(self) -> None:
        self.roots: tuple[str, ...] = ()
        self.violations: list[str] = []
        self._lock = threading.Lock()
        self._installed = False

    def install(self) -> None:
        if not self._installed:
            sys.addaudithook(self._hook)
            self._installed = True

    def _watched(self, path: Any) -> str | None:
        if isinstance(path, int) or path is None:
            return None
        try:
            text = os.path.abspath(os.fsdecode(path))
        except (TypeError, ValueError):
            return None
        if any(text == r or text.startswith(r + os.sep) for r in self.roots):
            return text
        real = os.path.realpath(text)
        return real if any(real == r or real.startswith(r + os.sep) for r in self.roots) else None

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.roots:
            return
        if event == "open":
            path, mode, flags = (*args, None, None, None)[:3]
            writing = bool(mode and any(c in str(mode) for c in "wax+")) or bool(
                isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC)
            )
            if writing:
                target = self._watched(path)
                if target:
                    with self._lock:
                        self.violations.append(f"open({target!r}, mode={mode!r}, flags={flags!r})")
        elif event == "mmap.__new__":
            fileno, _length, access = args[0], args[1], args[2]
            import mmap

            if fileno is not None and fileno >= 0 and access in (mmap.ACCESS_WRITE, mmap.ACCESS_DEFAULT):
                try:
                    target = self._watched(os.readlink(f"/proc/self/fd/{fileno}"))
                except OSError:
                    target = None
                if target:
                    with self._lock:
                        self.violations.append(f"writable mmap of {target!r} (access={access})")


#: The session's watch (armed by the read-only guard in conftest.py).
WATCH = WriteWatch()
