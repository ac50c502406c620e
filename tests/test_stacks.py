"""The stacks the core provides: patch semantics, errors, pickling, memory and file handling."""

from __future__ import annotations

import functools
import json
import multiprocessing
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stackio
from stackio import ArrayStack, FileBackedStack, Layout, LazyStack, PatchBoundsError, protocol
from stackio import memory as memory_module

from .conftest import open_npy


@pytest.fixture
def lazy(npy_file: tuple[Path, np.ndarray]) -> tuple[LazyStack, np.ndarray]:
    path, data = npy_file  # axes TCYX
    layout = Layout.from_axes("TCYX", data.shape)
    return LazyStack(str(path), layout, data.dtype, functools.partial(open_npy, str(path))), data


def test_lazy_patch_equals_numpy(lazy: tuple[LazyStack, np.ndarray]) -> None:
    stack, data = lazy
    assert stack.data_shape == (3, 2, 20, 30) and stack.axes == "SCYX"
    np.testing.assert_array_equal(stack.extract_patch(2, None, (5, 7), (8, 9)), data[2, :, 5:13, 7:16])
    np.testing.assert_array_equal(stack.extract_patch(1, [1], (0, 0), (20, 30)), data[1, [1]])
    np.testing.assert_array_equal(stack.extract_patch(0, [1, 0], (3, 3), (2, 2)), data[0, [1, 0], 3:5, 3:5])


def test_patch_is_a_private_copy(lazy: tuple[LazyStack, np.ndarray]) -> None:
    stack, _ = lazy
    patch = stack.extract_patch(0, None, (0, 0), (4, 4))
    assert isinstance(patch, np.ndarray) and not isinstance(patch, np.memmap)
    assert patch.flags.writeable and patch.flags.owndata


def test_patch_partly_outside_is_zero_filled(lazy: tuple[LazyStack, np.ndarray]) -> None:
    stack, data = lazy
    patch = stack.extract_patch(0, None, (-2, 25), (4, 10))
    assert patch.shape == (2, 4, 10)
    np.testing.assert_array_equal(patch[:, 2:, :5], data[0, :, 0:2, 25:30])
    assert not patch[:, :2].any() and not patch[:, :, 5:].any()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ((3, None, (0, 0), (2, 2)), "sample 3 does not exist; the stack has 3 sample(s)"),
        ((-1, None, (0, 0), (2, 2)), "sample -1 does not exist"),
        ((0, [2], (0, 0), (2, 2)), "channel(s) [2] do not exist; the stack has 2 channel(s)"),
        ((0, [], (0, 0), (2, 2)), "channels is empty"),
        ((0, None, (0, 0, 0), (2, 2, 2)), "must each have 2 values (YX)"),
        ((0, None, (0, 0), (2,)), "must each have 2 values"),
        ((0, None, (20, 0), (2, 2)), "wholly outside the image along Y (extent 20)"),
        ((0, None, (0, -5), (2, 5)), "wholly outside the image along X"),
        ((0, None, (0, 0), (0, 2)), "patch_size must be positive"),
        ((1.5, None, (0, 0), (2, 2)), "sample_idx must be an int"),
    ],
)
def test_bad_patch_requests(lazy: tuple[LazyStack, np.ndarray], args: tuple, fragment: str) -> None:
    stack, _ = lazy
    with pytest.raises(PatchBoundsError) as info:
        stack.extract_patch(*args)
    assert fragment in str(info.value)
    assert stack.source in str(info.value)


def test_lazy_stack_pickles_and_reopens(lazy: tuple[LazyStack, np.ndarray]) -> None:
    stack, data = lazy
    stack.extract_patch(0, None, (0, 0), (2, 2))  # opens the memory map
    clone = pickle.loads(pickle.dumps(stack))
    assert not clone.is_open
    np.testing.assert_array_equal(clone.extract_patch(2, None, (0, 0), (20, 30)), data[2])


def _read_in_worker(stack: stackio.ImageStack) -> np.ndarray:
    return stack.extract_patch(1, None, (1, 2), (5, 6))


def test_lazy_stack_reads_in_a_spawned_process(lazy: tuple[LazyStack, np.ndarray]) -> None:
    stack, data = lazy
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        patch = pool.apply(_read_in_worker, (stack,))
    np.testing.assert_array_equal(patch, data[1, :, 1:6, 2:8])


def test_close_releases_and_next_read_reopens(lazy: tuple[LazyStack, np.ndarray]) -> None:
    stack, data = lazy
    with stack:
        stack.extract_patch(0, None, (0, 0), (2, 2))
        assert stack.is_open
    assert not stack.is_open
    np.testing.assert_array_equal(stack.extract_patch(0, None, (0, 0), (2, 2)), data[0, :, :2, :2])


def test_to_memory_keeps_the_files_axes(lazy: tuple[LazyStack, np.ndarray]) -> None:
    stack, data = lazy
    memory = stack.to_memory()
    assert isinstance(memory, ArrayStack)
    assert memory.original_axes == "TCYX" and memory.original_data_shape == data.shape
    np.testing.assert_array_equal(memory.data, data)


def test_in_memory_refuses_more_than_available(
    lazy: tuple[LazyStack, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    stack, _ = lazy
    monkeypatch.setattr(memory_module, "available_memory", lambda: 100)
    monkeypatch.setattr(memory_module, "ARRAY_CHECK_BYTES", 0)  # this small stack is checked as a large one
    with pytest.raises(stackio.ValidationError, match="only 0.0 GiB is available; load it lazily"):
        stack.to_memory()


def test_opener_failure_is_a_read_error(tmp_path: Path) -> None:
    layout = Layout.from_axes("YX", (4, 4))
    stack = LazyStack(
        str(tmp_path / "gone.npy"), layout, "uint8", functools.partial(open_npy, str(tmp_path / "gone.npy"))
    )
    with pytest.raises(stackio.ReadError, match="gone.npy: could not be opened"):
        stack.extract_patch(0, None, (0, 0), (2, 2))


def test_file_backed_stack_loads_and_drops(npy_file: tuple[Path, np.ndarray]) -> None:
    path, data = npy_file
    stack = FileBackedStack(str(path), np.load, "TCYX")
    assert not stack.is_loaded
    assert stack.data_shape == (3, 2, 20, 30)  # needs the data once
    stack.close()
    assert not stack.is_loaded and stack.data_shape == (3, 2, 20, 30)  # shape stays known
    np.testing.assert_array_equal(stack.extract_patch(1, None, (0, 0), (20, 30)), data[1])
    assert stack.is_loaded
    clone = pickle.loads(pickle.dumps(stack))
    assert not clone.is_loaded
    np.testing.assert_array_equal(clone.extract_patch(2, [0], (0, 0), (3, 3)), data[2, [0], :3, :3])


class _SidecarTimes:
    """Per-image metadata read from a JSON file beside the pixels: one time stamp per T (picklable)."""

    def __call__(self, reader: Any, plane: dict[str, int]) -> stackio.ImageMetadata:
        with open(str(reader) + ".json") as f:
            times = json.load(f)
        return stackio.ImageMetadata(file_coords=dict(plane), time=times[plane["T"]])


def test_file_backed_stack_reads_its_per_image_metadata_in_memory_too(npy_file: tuple[Path, np.ndarray]) -> None:
    path, data = npy_file
    Path(str(path) + ".json").write_text(json.dumps([0.0, 1.5, 3.0]))
    stack = FileBackedStack(
        str(path), np.load, "TCYX", shape=data.shape, dtype=data.dtype, image_metadata=_SidecarTimes()
    )
    assert stack.image_metadata(2, 1).time == 3.0 and not stack.is_loaded  # the pixels are not read for it
    memory = stack.to_memory()
    stack.close()
    assert isinstance(memory, ArrayStack)
    np.testing.assert_array_equal(memory.data, data)
    found = memory.image_metadata(1, 1)
    assert (found.sample, found.channel, found.file_coords, found.time) == (1, 1, {"T": 1, "C": 1}, 1.5)
    assert pickle.loads(pickle.dumps(stack)).image_metadata(1, 0).time == 1.5


def test_file_backed_stack_reports_a_failing_read_function(tmp_path: Path) -> None:
    def broken(path: str) -> np.ndarray:
        raise OSError("disk on fire")

    stack = FileBackedStack(str(tmp_path / "x.raw"), broken, "YX")
    with pytest.raises(stackio.ReadError, match=r"x.raw: .*broken failed to read it \(OSError: disk on fire\)"):
        stack.load()


def test_file_backed_stack_refuses_non_arrays(tmp_path: Path) -> None:
    stack = FileBackedStack(str(tmp_path / "x.raw"), lambda p: [[1, 2]], "YX")
    with pytest.raises(stackio.ValidationError, match="returned list, not a numpy array"):
        stack.load()


def test_protocol_problems_name_the_member() -> None:
    class Half:
        source = "x"
        data_shape = (1, 1, 2, 2)
        axes = "SCYX"

    problems = protocol.protocol_problems(Half())
    assert any(p.startswith("data_dtype is missing") for p in problems)
    assert any(p.startswith("extract_patch is missing") for p in problems)
    assert protocol.protocol_problems(ArrayStack.from_axes(np.zeros((2, 2)), "YX")) == []


def test_to_dask_matches_and_follows_native_chunks(lazy: tuple[LazyStack, np.ndarray]) -> None:
    pytest.importorskip("dask")
    stack, data = lazy
    stack.chunks = (1, 2, 8, 16)  # T C Y X, as a chunked format would declare
    array = stack.to_dask()
    assert array.shape == stack.data_shape and array.chunksize == (1, 2, 8, 16)
    np.testing.assert_array_equal(array.compute(), data)
    np.testing.assert_array_equal(array[1, 1:, 3:11, 5:9].compute(), data[1, 1:, 3:11, 5:9])


def test_load_options_travel_with_the_stack(npy_file: tuple[Path, np.ndarray]) -> None:
    path, _ = npy_file
    layout = Layout.from_axes("TCYX", (3, 2, 20, 30))
    stack = LazyStack(str(path), layout, "uint16", functools.partial(open_npy, str(path)), load_options={"level": 1})
    assert stack.load_options == {"level": 1}
    assert stack.to_memory().load_options == {"level": 1}
    assert pickle.loads(pickle.dumps(stack)).load_options == {"level": 1}
    assert ArrayStack.from_axes(np.zeros((2, 2)), "YX").load_options == {}


class _SlowReader:
    """A reader that takes its time and fails if it is used after close()."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.closed = False

    def __getitem__(self, key: tuple) -> np.ndarray:
        import time

        time.sleep(0.001)
        if self.closed:
            raise ValueError("I/O operation on closed file")
        return self.data[key].copy()

    def close(self) -> None:
        self.closed = True


def _slow_opener(data: np.ndarray) -> _SlowReader:
    return _SlowReader(data)


def test_close_waits_for_reads_under_way_in_other_threads() -> None:
    import threading
    import time

    data = np.arange(4 * 32 * 32, dtype=np.uint16).reshape(4, 32, 32)
    stack = LazyStack("slow", Layout.from_axes("ZYX", data.shape), data.dtype, functools.partial(_slow_opener, data))
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                np.testing.assert_array_equal(
                    stack.extract_patch(0, None, (1, 2, 3), (2, 8, 8)), data[None, 1:3, 2:10, 3:11]
                )
            except BaseException as exc:  # collected for the main thread
                errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    for _ in range(200):
        time.sleep(0.0005)
        stack.close()
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    stack.close()
    assert not stack.is_open and stack._reader._active == 0 and stack._reader._deferred == []


def test_to_dask_names_tell_the_data_apart(npy_file: tuple[Path, np.ndarray]) -> None:
    pytest.importorskip("dask")
    (zeros,) = stackio.load(np.zeros((4, 8, 8), np.uint8), "ZYX")
    (ones,) = stackio.load(np.ones((4, 8, 8), np.uint8), "ZYX")
    assert zeros.to_dask().name != ones.to_dask().name
    assert zeros.to_dask().name == zeros.to_dask().name  # one stack, one name: dask reads it once
    np.testing.assert_array_equal((zeros.to_dask() + ones.to_dask()).compute(), np.ones((1, 1, 4, 8, 8)))
    np.testing.assert_array_equal(np.concatenate([zeros.data, ones.data], axis=1), stackio_concat(zeros, ones))
    # File stacks: the same source and options name the same data; other load options other data.
    path, _ = npy_file
    layout = Layout.from_axes("TCYX", (3, 2, 20, 30))
    opener = functools.partial(open_npy, str(path))
    plain, again = (LazyStack(str(path), layout, "uint16", opener) for _ in range(2))
    level = LazyStack(str(path), layout, "uint16", opener, load_options={"level": 1})
    assert plain.to_dask().name == again.to_dask().name != level.to_dask().name


def stackio_concat(*stacks: stackio.ImageStack) -> np.ndarray:
    import dask.array as da

    return da.concatenate([s.to_dask() for s in stacks], axis=1).compute()  # type: ignore[attr-defined]


def test_close_racing_reads_of_a_file_backed_stack(npy_file: tuple[Path, np.ndarray]) -> None:
    """Reads under way keep the data they started with; a close() meanwhile is never seen as a missing attribute.

    The race window is a few bytecodes wide: many readers and a short switch interval make it likely to be
    hit within the time given (it was, several times per second, before reads counted themselves).
    """
    import sys
    import threading
    import time

    path, data = npy_file
    stack = FileBackedStack(str(path), np.load, "TCYX", shape=data.shape, dtype=data.dtype)
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                np.testing.assert_array_equal(stack.extract_patch(1, None, (2, 3), (5, 6)), data[1, :, 2:7, 3:9])
                assert stack.read_all().shape == (3, 2, 20, 30)
            except BaseException as exc:  # collected for the main thread
                errors.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    threads = [threading.Thread(target=read) for _ in range(8)]
    try:
        for t in threads:
            t.start()
        end = time.monotonic() + 2.0
        while time.monotonic() < end and not errors:
            stack.close()
            time.sleep(0)  # let the readers run between closings
    finally:
        stop.set()
        for t in threads:
            t.join()
        sys.setswitchinterval(interval)
    assert errors == []


def test_patches_are_native_whatever_the_byte_order(tmp_path: Path) -> None:
    data = np.arange(2 * 6 * 7, dtype=">u2").reshape(2, 6, 7)
    (stack,) = stackio.load(data, "CYX")
    assert stack.data_dtype == np.dtype("=u2") and stack.data.dtype.isnative
    patch = stack.extract_patch(0, None, (1, 1), (3, 3))
    assert patch.dtype.isnative
    np.testing.assert_array_equal(patch, data[:, 1:4, 1:4])
    assert data.dtype == np.dtype(">u2")  # the caller's array is left as it was


def test_in_memory_copies_are_checked_against_the_memory_then_available(
    lazy: tuple[LazyStack, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    stack, data = lazy  # TCYX on disk, read straight into the array it is held in
    calls: list[int] = []

    def available() -> int:
        calls.append(1)
        return data.nbytes // 2

    monkeypatch.setattr(memory_module, "available_memory", available)
    monkeypatch.setattr(memory_module, "ARRAY_CHECK_BYTES", 0)
    with pytest.raises(stackio.ValidationError, match="in stack order into memory needs"):
        stack.to_memory()
    assert calls == [1]  # one array is allocated (the stack's own, in stack order), checked before it is made
    monkeypatch.setattr(memory_module, "available_memory", lambda: data.nbytes)
    np.testing.assert_array_equal(stack.to_memory().data, stack.read_all())  # exactly one copy's worth fits


def _fake_cgroup(root: Path, own: str, v2: bool, limit: str, usage: int, cache: int) -> tuple[Path, Path]:
    """A /proc and /sys/fs/cgroup laid out as the kernel lays them out, for one process."""
    proc, cgroups = root / "proc", root / "cgroup"
    (proc / "self").mkdir(parents=True)
    line = f"0::{own}\n" if v2 else f"4:memory:{own}\n1:cpu:/\n"
    (proc / "self" / "cgroup").write_text(line)
    mount = cgroups if v2 else cgroups / "memory"
    here = mount / own.lstrip("/")
    here.mkdir(parents=True)
    if v2:
        (cgroups / "cgroup.controllers").write_text("cpu memory\n")
        (here / "memory.max").write_text(limit + "\n")
        (here / "memory.current").write_text(f"{usage}\n")
        (here / "memory.stat").write_text(f"anon 1\ninactive_file {cache}\n")
        (mount / "memory.max").write_text("max\n")  # the root: no limit
    else:
        (here / "memory.limit_in_bytes").write_text(limit + "\n")
        (here / "memory.usage_in_bytes").write_text(f"{usage}\n")
        (here / "memory.stat").write_text(f"cache 5\ntotal_inactive_file {cache}\n")
        (mount / "memory.limit_in_bytes").write_text("9223372036854771712\n")
        (mount / "memory.usage_in_bytes").write_text("1\n")
    return proc, cgroups


@pytest.mark.parametrize("v2", [True, False], ids=["cgroup-v2", "cgroup-v1"])
def test_cgroup_memory_limits_are_honoured(tmp_path: Path, v2: bool) -> None:
    proc, cgroups = _fake_cgroup(tmp_path, "/jobs/train", v2, str(2**30), 2**29, 2**27)
    assert memory_module.cgroup_available(proc, cgroups) == 2**30 - 2**29 + 2**27
    unlimited = tmp_path / "unlimited"
    proc, cgroups = _fake_cgroup(unlimited, "/jobs/free", v2, "max" if v2 else "9223372036854771712", 5, 0)
    assert memory_module.cgroup_available(proc, cgroups) is None
    # A parent's limit binds its children.
    parent = tmp_path / "parent"
    proc, cgroups = _fake_cgroup(parent, "/jobs/train", v2, "max" if v2 else "9223372036854771712", 5, 0)
    mount = cgroups if v2 else cgroups / "memory"
    limit_file, usage_file = (
        ("memory.max", "memory.current") if v2 else ("memory.limit_in_bytes", "memory.usage_in_bytes")
    )
    (mount / "jobs" / limit_file).write_text(f"{2**28}\n")
    (mount / "jobs" / usage_file).write_text(f"{2**20}\n")
    assert memory_module.cgroup_available(proc, cgroups) == 2**28 - 2**20


def test_this_machines_limits_bound_the_memory_available() -> None:
    # The system's free memory moves between two reads of /proc/meminfo, so the limit is read between
    # two readings of the system's figure; a few tries absorb a busy machine, never a wrong minimum.
    for _ in range(5):
        before = memory_module.system_available()
        free = memory_module.available_memory()
        after = memory_module.system_available()
        assert free is not None and before is not None and after is not None and free > 0
        if free <= max(before, after):
            return
    pytest.fail(f"available_memory() {free} exceeds the system's available memory {before}..{after}")


_UNDER_RLIMIT = r"""
import resource, sys
import numpy as np, zarr, stackio
path = sys.argv[1]
zarr.create_array(path, shape=(1024, 1024, 1024), chunks=(64, 256, 256), dtype="uint8", fill_value=3)
(lazy,) = stackio.load(path, "ZYX")
assert lazy.extract_patch(0, None, (0, 0, 0), (2, 2, 2)).sum() == 24
size = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (size + 512 * 2**20, resource.RLIM_INFINITY))
try:
    stackio.load(path, "ZYX", in_memory=True)
except stackio.ValidationError as exc:
    print("refused:", exc)
except BaseException as exc:
    print("other:", type(exc).__name__, exc)
else:
    print("loaded")
"""


def test_in_memory_honours_the_address_space_limit(tmp_path: Path) -> None:
    import subprocess
    import sys

    pytest.importorskip("zarr")
    pytest.importorskip("resource")
    proc = subprocess.run(
        [sys.executable, "-c", _UNDER_RLIMIT, str(tmp_path / "big.zarr")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout.strip()
    assert out.startswith("refused:"), out
    assert "needs 1.0 GiB" in out and "GiB is available; load it lazily" in out
