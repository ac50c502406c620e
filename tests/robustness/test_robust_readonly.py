"""Read-only guarantee: stackio never opens a source for writing, and inputs keep their checksums.

The session guard in `conftest.py` checksums the generated inputs and ../shared/realdata before and
after the whole robustness suite and records every write-mode open of them (an audit hook). Here
every input is read through every path (lazy patches, whole reads, in memory) while the hook
watches, and descriptors opened by C libraries are checked through /proc while stacks are open.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import stackio
from robust_corpus import Base, checksum_tree
from robust_support import WATCH, WriteWatch, writable_fds_under


def test_reading_every_input_opens_nothing_for_writing(all_bases: list[Base]) -> None:
    before = len(WATCH.violations)
    read = 0
    for base in all_bases:
        top = base.path.split("@")[0]
        try:
            stacks = stackio.load(base.path, base.axes, **base.options)
        except stackio.StackioError:
            continue
        for stack in stacks:
            shape = stack.data_shape
            stack.extract_patch(shape[0] - 1, None, [0] * (len(shape) - 2), [min(n, 32) for n in shape[2:]])
        assert not writable_fds_under([top]), f"{base.name}: a descriptor of the source is open for writing"
        small = [s for s in stacks if int(np.prod(s.data_shape)) < 2**24]
        for stack in small:
            getattr(stack, "read_all", lambda: None)()
        for stack in stacks:
            stack.close()
        read += 1
    assert read >= len(all_bases) - 2
    assert WATCH.roots, "the write watch is not active"
    assert WATCH.violations[before:] == []


def test_in_memory_loads_open_nothing_for_writing(corpus: list[Base]) -> None:
    before = len(WATCH.violations)
    for base in corpus:
        for stack in stackio.load(base.path, base.axes, in_memory=True, **base.options):
            stack.close()
    assert WATCH.violations[before:] == []


def test_the_watch_sees_a_write_open(tmp_path: Path) -> None:
    """The guard can fail: opening a watched file for writing, or mapping it writable, is recorded."""
    import mmap

    watch = WriteWatch()
    watch.install()
    target = tmp_path / "input.bin"
    target.write_bytes(b"\0" * 4096)
    watch.roots = (str(tmp_path.resolve()),)
    try:
        with open(target, "r+b") as f:
            mmap.mmap(f.fileno(), 0).close()
        with open(target, "rb") as f:  # reading is fine
            f.read()
    finally:
        watch.roots = ()
    assert len(watch.violations) == 2, watch.violations
    assert "mode='r+" in watch.violations[0] and "writable mmap" in watch.violations[1]


def test_checksums_see_a_change(tmp_path: Path) -> None:
    """The session's before/after comparison can fail: one changed byte changes a file's checksum."""
    (tmp_path / "a").write_bytes(b"abc")
    before = checksum_tree([tmp_path])
    (tmp_path / "a").write_bytes(b"abd")
    assert checksum_tree([tmp_path]) != before
