"""The numpy format: .npy read lazily, .npz one stack per array."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import stackio
from stackio import ArrayStack, AxesError, LazyStack, ReadError, ValidationError
from stackio.openfiles import RawArrayReader


def test_npy_is_memory_mapped_and_exact(tmp_path: Path) -> None:
    data = np.random.default_rng(3).integers(0, 2**16, size=(3, 2, 20, 30), dtype=np.uint16)
    np.save(tmp_path / "a.npy", data)
    (stack,) = stackio.load(tmp_path / "a.npy", "TCYX")
    assert isinstance(stack, LazyStack) and stack.axes == "SCYX" and stack.data_shape == (3, 2, 20, 30)
    reader = stack._open()
    # reads go through the core's pool of open files (a read-only map or windows): only the patch's pages
    assert isinstance(reader, RawArrayReader) and reader.raw.offset > 0 and reader.dtype == data.dtype
    np.testing.assert_array_equal(stack.extract_patch(2, [1], (5, 7), (4, 6))[0], data[2, 1, 5:9, 7:13])
    copy = pickle.loads(pickle.dumps(stack))
    np.testing.assert_array_equal(copy.extract_patch(1, None, (0, 0), (20, 30)), data[1])


def test_npy_in_memory_is_a_copy(tmp_path: Path) -> None:
    data = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    np.save(tmp_path / "f.npy", np.asfortranarray(data))
    (stack,) = stackio.load(tmp_path / "f.npy", "ZYX", in_memory=True)
    assert isinstance(stack, ArrayStack) and not isinstance(stack.data.base, np.memmap)
    np.testing.assert_array_equal(stack.data[0, 0], data)


def test_npz_gives_one_stack_per_array_and_at_n_selects_one(tmp_path: Path) -> None:
    a, b = np.ones((4, 5), np.uint8), np.arange(20, dtype=np.int16).reshape(4, 5)
    np.savez(tmp_path / "pair.npz", raw=a, label=b)
    stacks = stackio.load(tmp_path / "pair.npz", "YX")
    assert [s.source for s in stacks] == [f"{(tmp_path / 'pair.npz').resolve()}@{i}" for i in (0, 1)]
    np.testing.assert_array_equal(stacks[1].extract_patch(0, None, (0, 0), (4, 5))[0], b)
    (second,) = stackio.load(stacks[1].source, "YX")
    assert second.data_dtype == np.int16
    with pytest.raises(ValidationError, match=r"array 2 does not exist; the archive has arrays 0 \(raw\), 1 \(label\)"):
        stackio.load(f"{tmp_path / 'pair.npz'}@2", "YX")


def test_axes_are_required_and_checked(tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", np.zeros((2, 3, 4)))
    with pytest.raises(AxesError, match=r"axes are needed for a numpy array .* shape \(2, 3, 4\).*'ZYX'"):
        stackio.load(tmp_path / "v.npy")
    with pytest.raises(AxesError, match=r"v\.npy: axes 'YX' has 2 letters but the data has 3"):
        stackio.load(tmp_path / "v.npy", "YX")
    np.savez(tmp_path / "m.npz", np.zeros((2, 2)), np.zeros((2, 2, 2)))
    with pytest.raises(AxesError, match=r"m\.npz@1 \(array 'arr_1'\): axes 'YX' has 2 letters"):
        stackio.load(tmp_path / "m.npz", "YX")


def test_bad_files_are_read_errors(tmp_path: Path) -> None:
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ReadError, match=r"obj\.npy: is not a readable numeric \.npy array"):
        stackio.load(tmp_path / "obj.npy", "X Y".replace(" ", ""))
    np.save(tmp_path / "cut.npy", np.zeros((100, 100)))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "cut.npy").read_bytes()[:5000])
    with pytest.raises(ReadError, match=r"cut\.npy"):
        stackio.load(tmp_path / "cut.npy", "YX")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(ReadError, match=r"junk\.npz: is not a readable \.npz archive"):
        stackio.load(tmp_path / "junk.npz", "YX")
    (tmp_path / "plain.npy").write_bytes(b"just text, no magic")
    with pytest.raises(ReadError, match=r"plain\.npy"):
        stackio.load(tmp_path / "plain.npy", "YX")
    np.save(tmp_path / "one.npy", np.zeros((2, 2)))
    with pytest.raises(ValidationError, match=r"holds a single array; drop the '@1'"):
        stackio.load(f"{tmp_path / 'one.npy'}@1", "YX")


def test_detection_reads_the_magic(tmp_path: Path) -> None:
    np.save(tmp_path / "real.npy", np.zeros(3))
    (tmp_path / "fake.npy").write_bytes(b"II*\0 a tiff?")
    registry = stackio.get_registry()

    numpy_format = registry.format("numpy")
    assert numpy_format is not None

    def verdict(name: str) -> stackio.Verdict:
        return numpy_format.detect(stackio.Source.parse(tmp_path / name))

    assert verdict("real.npy").status == stackio.Status.ACCEPTED
    assert verdict("fake.npy").status != stackio.Status.ACCEPTED
