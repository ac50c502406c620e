"""Stacks garbage-collected while the pool of open files is busy in the same thread must not deadlock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

_SCRIPT = r"""
import gc, sys
import numpy as np
import stackio

gc.set_threshold(1, 1, 1)  # collect on nearly every allocation, so finalizers run inside the pool's locked blocks
paths = sys.argv[1:]
for round_ in range(300):
    for path in paths:
        (stack,) = stackio.load(path, "YX")
        stack.self_cycle = stack  # freed only by the garbage collector, whose finalizer closes its files
        assert stack.extract_patch(0, None, (0, 0), (4, 4)).shape == (1, 4, 4)
        (other,) = stackio.load(path, "YX")
        other.extract_patch(0, None, (1, 1), (2, 2))
        other.close()  # the pool's forget, during which a collection may free a stack above
print("done")
"""


def test_stacks_collected_during_a_pool_call_do_not_deadlock(tmp_path: Path) -> None:
    paths = []
    for i in range(3):
        path = tmp_path / f"a{i}.npy"
        np.save(path, np.arange(64, dtype="uint16").reshape(8, 8) + i)
        paths.append(str(path))
    # before the pool's lock was reentrant this hung within the first rounds (a finalizer waiting on its own thread)
    run = subprocess.run([sys.executable, "-c", _SCRIPT, *paths], capture_output=True, text=True, timeout=90)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "done"
