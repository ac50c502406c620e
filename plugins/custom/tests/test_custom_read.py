"""Read functions: `stackio.load(paths_or_dir, axes, read_func=f, read_kwargs=..., suffix=...)`."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import stackio
from stackio import AxesError, FileBackedStack, ReadError, SourceNotFoundError, ValidationError


def read_raw(path: Path, *, shape: tuple[int, int], dtype: str = "uint16") -> np.ndarray:
    """A headerless raw reader, the kind of function users bring."""
    return np.fromfile(path, dtype=dtype).reshape(shape)


def failing_reader(path: Path) -> np.ndarray:
    raise ValueError("bad magic number")


def list_reader(path: Path) -> list[int]:
    return [1, 2, 3]


@pytest.fixture
def raw_dir(tmp_path: Path) -> tuple[Path, list[np.ndarray]]:
    rng = np.random.default_rng(1)
    arrays = [rng.integers(0, 60000, size=(6, 7), dtype=np.uint16) for _ in range(11)]
    for i, a in enumerate(arrays):
        a.tofile(tmp_path / f"img{i}.raw")
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path, arrays


def _whole(stack: stackio.ImageStack) -> np.ndarray:
    return stack.extract_patch(0, None, (0, 0), stack.data_shape[2:])[0]


def test_a_directory_reads_its_files_with_the_suffix_in_natural_order(raw_dir: tuple[Path, list[np.ndarray]]) -> None:
    folder, arrays = raw_dir
    stacks = stackio.load(
        folder, "YX", read_func=read_raw, read_kwargs={"shape": (6, 7)}, suffix=".RAW", in_memory=True
    )
    assert [Path(s.source).name for s in stacks] == [f"img{i}.raw" for i in range(11)]
    for stack, array in zip(stacks, arrays, strict=True):
        assert stack.data_shape == (1, 1, 6, 7) and stack.data_dtype == np.uint16
        np.testing.assert_array_equal(_whole(stack), array)
        assert isinstance(stack, stackio.ArrayStack)


def test_files_and_lists_of_files(raw_dir: tuple[Path, list[np.ndarray]]) -> None:
    folder, arrays = raw_dir
    stacks = stackio.load(
        [folder / "img3.raw", folder / "img1.raw"], "YX", read_func=read_raw, read_kwargs={"shape": (6, 7)}
    )
    np.testing.assert_array_equal(_whole(stacks[0]), arrays[3])
    np.testing.assert_array_equal(_whole(stacks[1]), arrays[1])
    assert stacks[0].source == str((folder / "img3.raw").resolve())


def test_lazy_stacks_hold_one_file_at_a_time(raw_dir: tuple[Path, list[np.ndarray]]) -> None:
    folder, arrays = raw_dir
    calls: list[str] = []

    def counting(path: Path, **kwargs: object) -> np.ndarray:
        calls.append(path.name)
        return read_raw(path, **kwargs)  # type: ignore[arg-type]

    stacks = stackio.load(
        folder, "YX", read_func=counting, read_kwargs={"shape": (6, 7)}, suffix=".raw", in_memory=False
    )
    assert all(isinstance(s, FileBackedStack) for s in stacks)
    assert len(calls) == 11  # each file read once at load to learn its shape ...
    assert not any(s.is_loaded for s in stacks)  # ... and none kept
    assert stacks[4].data_shape == (1, 1, 6, 7) and len(calls) == 11  # shape known without reading
    np.testing.assert_array_equal(_whole(stacks[4]), arrays[4])
    assert [s.is_loaded for s in stacks].count(True) == 1
    np.testing.assert_array_equal(_whole(stacks[4])[2:4], arrays[4][2:4])
    assert len(calls) == 12  # kept until closed
    stacks[4].close()
    assert not stacks[4].is_loaded


def test_axes_with_more_dimensions(tmp_path: Path) -> None:
    data = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    np.save(tmp_path / "v.npy", data)
    (stack,) = stackio.load(tmp_path / "v.npy", "ZCYX", read_func=np.load)
    assert stack.axes == "SCZYX" and stack.data_shape == (1, 3, 2, 4, 5)
    np.testing.assert_array_equal(stack.extract_patch(0, [2], (1, 0, 0), (1, 4, 5))[0, 0], data[1, 2])


def test_file_backed_stacks_pickle_and_recreate_from_source(raw_dir: tuple[Path, list[np.ndarray]]) -> None:
    folder, arrays = raw_dir
    options = {"read_func": read_raw, "read_kwargs": {"shape": (6, 7)}}
    stack = stackio.load(folder / "img2.raw", "YX", **options)[0]
    copy = pickle.loads(pickle.dumps(stack))
    np.testing.assert_array_equal(_whole(copy), arrays[2])
    (again,) = stackio.load(stack.source, "YX", **options)
    np.testing.assert_array_equal(_whole(again), arrays[2])


def test_a_read_function_that_raises_names_the_file_and_the_function(raw_dir: tuple[Path, list[np.ndarray]]) -> None:
    folder, _ = raw_dir
    with pytest.raises(
        ReadError,
        match=r"img0\.raw: the read function .*failing_reader failed on it "
        r"\(ValueError: bad magic number\)",
    ) as info:
        stackio.load(folder, "YX", read_func=failing_reader, suffix=".raw")
    assert isinstance(info.value.__cause__, ValueError)


def test_wrong_read_kwargs_are_reported_as_a_read_failure(raw_dir: tuple[Path, list[np.ndarray]]) -> None:
    folder, _ = raw_dir
    with pytest.raises(ReadError, match=r"read_raw failed on it \(TypeError: .*shape"):
        stackio.load(folder / "img0.raw", "YX", read_func=read_raw)


def test_a_read_function_returning_a_non_array(raw_dir: tuple[Path, list[np.ndarray]]) -> None:
    folder, _ = raw_dir
    with pytest.raises(ValidationError, match=r"img0\.raw: the read function .*list_reader returned list, not a numpy"):
        stackio.load(folder / "img0.raw", "YX", read_func=list_reader)


def test_an_array_whose_ndim_contradicts_the_axes(raw_dir: tuple[Path, list[np.ndarray]]) -> None:
    folder, _ = raw_dir
    with pytest.raises(
        AxesError,
        match=r"img0\.raw: the read function .*read_raw returned an array of shape "
        r"\(6, 7\) \(2 dimensions\) but axes 'ZYX' has 3 letters",
    ):
        stackio.load(folder / "img0.raw", "ZYX", read_func=read_raw, read_kwargs={"shape": (6, 7)}, in_memory=True)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"suffix": ".raw"}, AxesError, "axes are needed with read_func"),
        ({"axes": "YX"}, ValidationError, "is a directory; pass suffix="),
        ({"axes": "YX", "suffix": "raw"}, ValidationError, "suffix must be a file suffix starting with '.'"),
        ({"axes": "YX", "suffix": ".tif"}, SourceNotFoundError, r"no file ending in \.tif; it holds \.raw, \.txt"),
        ({"axes": "YX", "suffix": ".raw", "read_kwargs": [1]}, ValidationError, "read_kwargs must be a dict"),
        ({"axes": "YX", "suffix": ".raw", "loader": np.load}, ValidationError, "pass read_func= or loader=, not both"),
        ({"axes": "YX", "suffix": ".raw", "loader_kwargs": {}}, ValidationError, "loader_kwargs go with loader="),
    ],
)
def test_bad_options(raw_dir: tuple[Path, list[np.ndarray]], kwargs: dict, error: type, message: str) -> None:
    folder, _ = raw_dir
    axes = kwargs.pop("axes", None)
    with pytest.raises(error, match=message):
        stackio.load(folder, axes, read_func=read_raw, **kwargs)


def test_read_func_must_be_callable_and_the_path_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="read_func must be a function"):
        stackio.load(tmp_path, "YX", read_func="numpy.load", suffix=".npy")
    with pytest.raises(SourceNotFoundError, match="missing.raw: no such file"):
        stackio.load(tmp_path / "missing.raw", "YX", read_func=read_raw)
    with pytest.raises(ValidationError, match="read_func reads files"):
        stackio.load(np.zeros((3, 3)), "YX", read_func=read_raw)


def test_format_custom_without_a_function_explains(tmp_path: Path) -> None:
    (tmp_path / "a.raw").write_bytes(b"\0" * 8)
    with pytest.raises(ValidationError, match="needs read_func= .* or loader="):
        stackio.load(tmp_path / "a.raw", "YX", format="custom")


def test_read_functions_are_in_memory_by_default_and_file_backed_on_request(
    raw_dir: tuple[Path, list[np.ndarray]],
) -> None:
    folder, arrays = raw_dir
    (default,) = stackio.load(folder / "img2.raw", "YX", read_func=read_raw, read_kwargs={"shape": (6, 7)})
    assert isinstance(default, stackio.ArrayStack)
    (lazy,) = stackio.load(
        folder / "img2.raw", "YX", read_func=read_raw, read_kwargs={"shape": (6, 7)}, in_memory=False
    )
    assert isinstance(lazy, stackio.FileBackedStack)
    np.testing.assert_array_equal(_whole(default), arrays[2])
    np.testing.assert_array_equal(_whole(lazy), arrays[2])


def test_file_at_n_with_a_read_function_is_refused_not_ignored(raw_dir: tuple[Path, list[np.ndarray]]) -> None:
    # read_func is handed the whole file: '@2' would silently read all of it
    path = raw_dir[0] / "img3.raw"
    with pytest.raises(ValidationError, match=r"img3\.raw@2: read_func= is given the whole file, never '@2'"):
        stackio.load(f"{path}@2", "YX", read_func=read_raw, read_kwargs={"shape": (6, 7)})
    (stack,) = stackio.load(path, "YX", read_func=read_raw, read_kwargs={"shape": (6, 7)})
    np.testing.assert_array_equal(_whole(stack), raw_dir[1][3])
