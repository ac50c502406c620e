"""The pool of open files (`stackio.openfiles`): leases through a `FileRef` without the pool's lock stay
correct under threads and the pool's trimming, a hot file keeps its place, and a file changed between
two reads of the cached path is still refused."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from stackio.openfiles import FileKey, FilePool, FileRef, OpenFile, Pooled, RawArray


def _npy_files(folder: Path, n: int, shape: tuple[int, ...] = (64, 64)) -> list[tuple[FileKey, int, np.ndarray]]:
    """`n` .npy files of distinct pixels (written by numpy): key, pixel offset and the pixels of each."""
    files = []
    for i in range(n):
        data = (np.arange(np.prod(shape), dtype=np.uint16).reshape(shape) * 7 + i * 1000).astype(np.uint16)
        path = folder / f"f{i}.npy"
        np.save(path, data)
        offset = os.path.getsize(path) - data.nbytes  # the header comes first, the pixels after it
        files.append((FileKey.of(path), offset, data))
    return files


class _CountingPool(FilePool):
    """A pool that keeps every file it opens, to check each is closed once and never read after."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.all_opened: list[OpenFile] = []

    def _open(self, key: FileKey) -> OpenFile:  # type: ignore[override]
        file = FilePool._open(key)
        self.all_opened.append(file)
        return file


@pytest.mark.parametrize("mode", ["map", "window"])
def test_threads_reading_through_refs_while_the_pool_trims_read_every_pixel_right(
    tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACKIO_FILE_READS", mode)
    files = _npy_files(tmp_path, 12)
    pool = _CountingPool(limit=4)  # far fewer descriptors than files: every few reads close a file
    refs = [FileRef(key, pool=pool) for key, _, _ in files]
    errors: list[BaseException] = []
    reads = [0]

    def read(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(400):
                i = rng.randrange(len(files))
                _, offset, data = files[i]
                y, x = rng.randrange(0, 48), rng.randrange(0, 48)
                window = (slice(y, y + 16), slice(x, x + 16))
                if rng.random() < 0.5:
                    got = refs[i].read_array(offset, data.shape, data.dtype, window)
                else:  # the pool's own lease, as `Leased` takes it, mixed with the refs'
                    file = pool.acquire(files[i][0])
                    try:
                        got = file.read_array(offset, data.shape, data.dtype, window)
                    finally:
                        pool.release(file)
                np.testing.assert_array_equal(got, data[window])
                reads[0] += 1
        except BaseException as exc:  # collected for the main thread
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(seed,)) for seed in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert reads[0] == 6 * 400
    assert len(pool.all_opened) > len(files)  # files were closed for their descriptors and reopened
    held = sum(f.descriptors for f in pool._files.values())
    assert held <= 4 and all(f.leases == 0 for f in pool.all_opened)
    retired = [f for f in pool.all_opened if f.retired]
    assert retired and all(not f._unclosed for f in retired)  # each file let go of was closed (once)
    pool.clear()
    assert all(not f._unclosed for f in pool.all_opened)  # all closed (one opened twice at once was never pooled)


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to count open files")
def test_the_pool_never_holds_more_descriptors_than_its_limit_though_files_map_after_their_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACKIO_FILE_READS", "map")
    files = _npy_files(tmp_path, 30)
    pool = FilePool(limit=7)
    refs = [FileRef(key, pool=pool) for key, _, _ in files]
    before = _open_descriptors()
    for ref, (_, offset, data) in zip(refs, files, strict=True):
        assert ref.read_bytes(0, 6) == b"\x93NUMPY"  # opened, not mapped yet: one descriptor
        np.testing.assert_array_equal(ref.read_array(offset, data.shape, data.dtype), data)  # mapped: two
        assert _open_descriptors() - before <= 7
    assert len(pool) == 3 and all(f.descriptors == 2 for f in pool._files.values())
    assert pool._held == 6  # the pool's running count, which its opens check instead of walking it
    pool.forget(files[-1][0].path)
    pool.discard(files[-2][0])
    assert pool._held == 2 and len(pool) == 1
    pool.clear()
    assert pool._held == 0 and _open_descriptors() == before


class _Reader(Pooled):
    def __init__(self, name: str, closed: list[str]) -> None:
        super().__init__()
        self.name = name
        self.closed = closed

    def close(self) -> None:
        self.closed.append(self.name)


def test_a_file_read_through_its_ref_keeps_its_place_while_others_come_and_go() -> None:
    pool = FilePool(limit=4)
    closed: list[str] = []
    hot = FileRef(("hot",), lambda: _Reader("hot", closed), pool=pool)
    hot.acquire().unlease()
    for i in range(40):
        pool.release(pool.acquire((f"cold{i}",), lambda i=i: _Reader(f"cold{i}", closed)))  # type: ignore[misc]
        hot.acquire().unlease()  # the hot file is read between every two opens, without the pool's lock
    assert "hot" not in closed  # never closed for its descriptor: it is the least recently *opened*
    assert len(closed) == 40 - 3  # the cold ones go, least recently used first
    assert closed[:3] == ["cold0", "cold1", "cold2"]
    assert pool.opened == 41


def test_a_file_held_by_a_read_closes_when_that_read_ends_and_only_then() -> None:
    pool = FilePool(limit=1)
    closed: list[str] = []
    ref = FileRef(("a",), lambda: _Reader("a", closed), pool=pool)
    held = ref.acquire()
    pool.release(pool.acquire(("b",), lambda: _Reader("b", closed)))  # a pushes a out of the pool
    assert held.retired and closed == []
    again = ref.acquire()  # a retired file is not leased again: the ref asks the pool, which opens anew
    assert again is not held and pool.opened == 3
    assert closed == ["b"]  # b, unheld, made room for a's new open
    held.unlease()
    assert closed == ["b", "a"]
    again.unlease()
    pool.clear()
    assert sorted(closed) == ["a", "a", "b"]


_CHANGED = r"""
import os, sys, time
import numpy as np
import stackio
from stackio.errors import FileAccessError

path, mode, how = sys.argv[1:]
stackio.set_file_reads(mode)
(stack,) = stackio.load(path, "YX")
data = np.load(path)
for _ in range(3):  # the cached path: the ref holds the file and the map's view of the array
    np.testing.assert_array_equal(stack.extract_patch(0, None, (3, 4), (16, 16))[0], data[3:19, 4:20])
size = os.path.getsize(path)
if how == "shrink":
    os.truncate(path, size // 2)
else:  # the same size, other pixels, written in place (the inode the stack has open)
    with open(path, "r+b") as f:
        f.seek(size - data.nbytes)
        f.write((data + 1).tobytes())
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
try:
    stack.extract_patch(0, None, (3, 4), (16, 16))
except FileAccessError as exc:
    assert "changed since it was opened" in str(exc), exc
    print("refused")
else:
    print("read")
"""


@pytest.mark.parametrize("mode", ["map", "window"])
@pytest.mark.parametrize("how", ["shrink", "rewrite"])
def test_a_file_changed_between_two_reads_of_the_cached_path_is_refused(tmp_path: Path, mode: str, how: str) -> None:
    path = tmp_path / "a.npy"
    np.save(path, np.random.default_rng(1).integers(0, 60_000, (512, 512), dtype=np.uint16))
    # a process of its own: a read of a mapped page past the file's new end would be a SIGBUS
    run = subprocess.run(
        [sys.executable, "-c", _CHANGED, str(path), mode, how], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "refused"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_reads_through_an_inherited_ref_with_its_own_file(tmp_path: Path) -> None:
    ((key, offset, data),) = _npy_files(tmp_path, 1)
    reader = RawArray(key, offset, data.shape, str(data.dtype))()
    np.testing.assert_array_equal(reader[2:5, 3:9], data[2:5, 3:9])
    parents = reader._file.acquire()
    parents.unlease()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        ok = False
        try:
            ok = np.array_equal(reader[10:20, 1:7], data[10:20, 1:7])
            ok = ok and reader._file._file is not parents and not parents._unclosed  # set aside, never closed
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    np.testing.assert_array_equal(reader[10:20, 1:7], data[10:20, 1:7])  # the parent's file still reads
    assert reader._file._file is parents


def test_numpy_integer_requests_take_the_common_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import stackio
    from stackio import patches

    data = np.random.default_rng(2).integers(0, 60_000, (5, 40, 50), dtype=np.uint16)
    (memory,) = stackio.load(data, "ZYX")
    (planes,) = stackio.load(data, "SYX")
    want3 = memory.extract_patch(0, None, (1, 2, 3), (2, 8, 9))
    want2 = planes.extract_patch(4, None, (2, 3), (8, 9))

    def general(*args: Any) -> Any:
        raise AssertionError("the general path read a common request")

    monkeypatch.setattr(patches, "_read_any", general)
    np.testing.assert_array_equal(
        memory.extract_patch(np.int64(0), None, (np.int32(1), 2, np.uint8(3)), (2, 8, 9)), want3
    )
    np.testing.assert_array_equal(memory.extract_patch(0, None, np.array([1, 2, 3]), np.array([2, 8, 9])), want3)
    np.testing.assert_array_equal(planes.extract_patch(np.int16(4), None, (np.int64(2), 3), (8, np.int64(9))), want2)
    monkeypatch.undo()
    for bad in [(np.bool_(True), 3), (2.0, 3), (True, 3), (np.float32(2), 3)]:
        with pytest.raises(stackio.PatchBoundsError, match="whole numbers"):
            planes.extract_patch(4, None, bad, (8, 9))


_WINDOW_PEAKS = r"""
import os, sys
import numpy as np
import stackio
from stackio.openfiles import FileKey, FilePool

def status(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field))

def growth(read):
    start = status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # the peak RSS starts again from here
    read()
    return status("VmHWM") - start

path = sys.argv[1]
data = np.load(path, mmap_mode="r")
offset = os.path.getsize(path) - data.nbytes
stackio.set_file_reads("window")
file = FilePool().acquire(FileKey.of(path))
out = np.ones(data.shape, data.dtype)  # touched: its pages are in RSS before the reads
print(growth(lambda: file.read_array(offset, data.shape, data.dtype, (), out)))  # one run of bytes
rows = out[:, :256]
print(growth(lambda: file.read_array(offset, data.shape, data.dtype, (slice(None), slice(0, 256)), rows)))
assert np.array_equal(out, data)
print(np.array_equal(file.read_array(offset, data.shape, data.dtype, (5, slice(3, 900, 2))), data[5, 3:900:2]))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="peak RSS is reset through /proc")
def test_window_reads_map_a_bounded_span_of_the_file_at_a_time(tmp_path: Path) -> None:
    # A conversion under a memory limit reads many planes' rows at a time: mapped at once, all their pages
    # counted in RSS on top of the copy; a read of one run of bytes maps nothing.
    path = tmp_path / "big.npy"
    np.save(path, np.random.default_rng(2).integers(0, 60_000, (64, 1024, 512), dtype=np.uint16))  # 64 MiB
    run = subprocess.run([sys.executable, "-c", _WINDOW_PEAKS, str(path)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    whole, planes, same = run.stdout.split()
    mib = 2**20
    assert int(whole) < 4 * mib, f"peak RSS rose by {int(whole) / mib:.1f} MiB reading one run of bytes into an array"
    # 64 planes' first 256 rows: 16 MiB of pixels over 63 MiB of the file, mapped 4 MiB at most at a time
    assert int(planes) < 8 * mib, f"peak RSS rose by {int(planes) / mib:.1f} MiB reading rows of every plane"
    assert same == "True"


@pytest.mark.parametrize("order", ["<", ">"])
def test_patches_of_a_mapped_tiff_carry_the_stacks_own_dtype_instance(tmp_path: Path, order: str) -> None:
    import stackio
    import tifffile

    data = np.random.default_rng(3).integers(0, 60_000, (4, 64, 80), dtype=np.uint16)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, data.astype(data.dtype.newbyteorder(order)), byteorder=order, photometric="minisblack")
    (stack,) = stackio.load(path, "SYX")
    assert stack.data_dtype is np.dtype(np.uint16)  # numpy's own instance, whatever tifffile made
    patch = stack.extract_patch(2, None, (5, 7), (16, 20))
    np.testing.assert_array_equal(patch[0], tifffile.imread(path)[2, 5:21, 7:27])
    # the same object: the patch path's `is` test holds and its slower `==` is not needed
    assert patch.dtype is stack.data_dtype


def test_numpy_instance_gives_numpys_own_native_scalar_dtypes_and_leaves_the_others() -> None:
    from stackio.protocol import numpy_instance

    made = np.dtype(np.float32).newbyteorder("=")
    assert made is not np.dtype(np.float32) and numpy_instance(made) is np.dtype(np.float32)
    swapped = np.dtype(">u2") if np.little_endian else np.dtype("<u2")
    assert numpy_instance(swapped) is swapped  # not native: left as it is
    record = np.dtype([("a", "<u2"), ("b", "<f4")])
    assert numpy_instance(record) is record
    tagged = np.dtype(np.uint16, metadata={"unit": "counts"})
    assert numpy_instance(tagged) is tagged and numpy_instance(tagged).metadata == {"unit": "counts"}
