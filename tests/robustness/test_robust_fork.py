"""Forking while other threads read: each child reads its inherited stacks at once, with no worker setup.

A thread holding a reader's lock at the fork, or a reader whose native threads do not exist in the child,
used to hang the child (DataLoader fork workers beside a prefetch thread). Here two threads read (and now
and then close, so files are reopened) while the main thread forks; each child reads a patch and a batch
of patches from the same stack objects, compares them with the parent's serial reads, and exits. A child
that hangs is killed by the deadline and fails the test, as does one that reads other data.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import stackio
from robust_corpus import Base

FORKS = 20
#: Seconds a child may take to read (it reads in milliseconds; a hang never ends).
CHILD_DEADLINE = 10

#: One input per format and read path: corpus file name -> the test's name for it.
INPUTS = {
    "plain_zyx.tif": "tiff",
    "tiled_zstd.tif": "tiff-tiled",
    "two_series.ome.tif": "ome-tiff",
    "scenes_zstd.czi": "czi",
    "v2_chunked.zarr": "zarr",
    "ome_v04.ome.zarr": "ome-zarr",
    "tcz": "ndtiff",
    "volume.npy": "npy",
    "grey8.png": "png",
}
CASES = [*INPUTS.values(), "arrays"]


def _requests(stack: Any) -> list[tuple[int, tuple[int, ...], tuple[int, ...]]]:
    spatial = stack.data_shape[2:]
    size = tuple(min(4, n) for n in spatial)
    rng = np.random.default_rng(0)
    out = []
    for _ in range(40):
        coords = tuple(int(rng.integers(0, n - s + 1)) for n, s in zip(spatial, size, strict=True))
        out.append((int(rng.integers(0, stack.data_shape[0])), coords, size))
    return out


def _read(stack: Any, requests: list[tuple[int, tuple[int, ...], tuple[int, ...]]]) -> list[np.ndarray]:
    return [stack.extract_patch(s, None, c, p) for s, c, p in requests]


def _batch(stack: Any, requests: list[tuple[int, tuple[int, ...], tuple[int, ...]]]) -> np.ndarray:
    return np.asarray(stack.read_patches([s for s, _, _ in requests], [c for _, c, _ in requests], requests[0][2]))


@pytest.fixture
def stack(request: pytest.FixtureRequest, corpus: list[Base]) -> Iterator[Any]:
    if request.param == "arrays":
        data = np.arange(3 * 40 * 44, dtype="uint16").reshape(3, 40, 44)
        loaded = stackio.load(data, "ZYX")
    else:
        name = next(n for n, case in INPUTS.items() if case == request.param)
        base = next(b for b in corpus if os.path.basename(b.path) == name and not b.options)
        loaded = stackio.load(base.path, base.axes, **base.options)
    yield loaded[0]
    for s in loaded:
        close = getattr(s, "close", None)
        if callable(close):
            close()


def _child(stack: Any, requests: list[Any], want: list[np.ndarray], batch: np.ndarray) -> int:
    """What a forked child does: read as the parent did, compare; the exit status says how it went."""
    signal.signal(signal.SIGALRM, signal.SIG_DFL)  # the kernel ends a hung child, whatever Python is doing
    signal.alarm(CHILD_DEADLINE)
    try:
        got = _read(stack, requests[:4])
        if not all(np.array_equal(g, w) for g, w in zip(got, want, strict=False)):
            return 3
        if not np.array_equal(_batch(stack, requests), batch):
            return 4
        return 0
    except BaseException:
        return 5


def _wait(pid: int) -> int | str:
    """The child's exit status, or "hang" if its deadline ended it."""
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGALRM:
        return "hang"
    return os.waitstatus_to_exitcode(status)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
@pytest.mark.parametrize("stack", CASES, indirect=True)
def test_children_forked_while_threads_read_read_their_inherited_stacks(stack: Any) -> None:
    requests = _requests(stack)
    want = _read(stack, requests)
    batch = _batch(stack, requests)
    stop = threading.Event()
    errors: list[BaseException] = []

    def keep_reading(offset: int) -> None:
        n = 0
        while not stop.is_set():
            try:
                for sample, coords, size in requests[offset::2]:
                    stack.extract_patch(sample, None, coords, size)
                n += 1
                if n % 5 == 0 and hasattr(stack, "close"):
                    stack.close()  # the next read reopens the file: forks also land while it opens
            except BaseException as exc:
                errors.append(exc)
                return

    readers = [threading.Thread(target=keep_reading, args=(k,), daemon=True) for k in range(2)]
    for reader in readers:
        reader.start()
    outcomes: list[int | str] = []
    try:
        for _ in range(FORKS):
            pid = os.fork()
            if pid == 0:
                os._exit(_child(stack, requests, want[:4], batch))  # never back into pytest
            outcomes.append(_wait(pid))
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert not errors, f"{stack.source}: the parent's reading threads failed: {errors[:1]}"
    failed = [o for o in outcomes if o != 0]
    meaning = {"hang": "hung", 3: "read other pixels", 4: "read another batch", 5: "raised"}
    assert not failed, (
        f"{stack.source}: {len(failed)} of {FORKS} forked children failed: "
        f"{sorted({meaning.get(o, f'exit {o}') for o in failed})}"
    )
