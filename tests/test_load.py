"""`stackio.load` over arrays, lists, directories and pairs; in-memory and lazy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import stackio
from stackio import ArrayStack, LazyStack, Source, hookimpl
from stackio.registry import Registry

from .conftest import NpyPlugin


def test_array_source_needs_axes() -> None:
    with pytest.raises(
        stackio.AxesError, match=r"axes are needed for a numpy array .* shape \(4, 5\), so pass 2 letters"
    ):
        stackio.load(np.zeros((4, 5)))


def test_array_and_list_of_arrays() -> None:
    a, b = np.ones((2, 3, 4)), np.zeros((5, 3, 4))
    stacks = stackio.load([a, b], "ZYX")
    assert [s.data_shape for s in stacks] == [(1, 1, 2, 3, 4), (1, 1, 5, 3, 4)]
    assert all(isinstance(s, ArrayStack) for s in stacks)
    with pytest.raises(stackio.AxesError, match="has 2 letters but the data has 3 dimensions"):
        stackio.load(a, "YX")


def test_mixed_list_is_refused(tmp_path: Path) -> None:
    with pytest.raises(
        stackio.ValidationError, match="must be all paths, all URIs or all arrays, not a mix of path, uri"
    ):
        stackio.load([tmp_path / "a.npy", f"file://{tmp_path}/b.npy"], "YX")
    with pytest.raises(stackio.ValidationError, match="empty list"):
        stackio.load([], "YX")
    with pytest.raises(stackio.ValidationError, match="a source must be a path, a URI, a numpy array"):
        stackio.load(42, "YX")


def test_lazy_by_default_and_in_memory_on_request(npy_plugin: NpyPlugin, npy_file: tuple[Path, np.ndarray]) -> None:
    path, data = npy_file
    (lazy,) = stackio.load(path, "TCYX")
    (memory,) = stackio.load(path, "TCYX", in_memory=True)
    assert isinstance(lazy, LazyStack) and isinstance(memory, ArrayStack)
    np.testing.assert_array_equal(memory.extract_patch(1, None, (0, 0), (20, 30)), data[1])
    assert memory.original_axes == "TCYX" and memory.source == lazy.source


def test_source_recreates_the_stack(
    npy_plugin: NpyPlugin, npy_file: tuple[Path, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, data = npy_file
    monkeypatch.chdir(path.parent)
    (stack,) = stackio.load("stack.npy", "TCYX")
    monkeypatch.chdir("/")
    (again,) = stackio.load(stack.source, "TCYX")
    np.testing.assert_array_equal(again.extract_patch(2, None, (0, 0), (20, 30)), data[2])


def test_file_uri(npy_plugin: NpyPlugin, npy_file: tuple[Path, np.ndarray]) -> None:
    path, data = npy_file
    (stack,) = stackio.load(path.resolve().as_uri(), "TCYX")
    np.testing.assert_array_equal(stack.extract_patch(0, None, (0, 0), (20, 30)), data[0])
    with pytest.raises(stackio.ValidationError, match="must name a local path"):
        stackio.load("file://otherhost/x.npy", "YX")


def test_index_suffix_is_parsed_only_when_the_base_exists(tmp_path: Path) -> None:
    (tmp_path / "f.czi").write_bytes(b"x")
    source = Source.parse(f"{tmp_path}/f.czi@2")
    assert source.path == tmp_path / "f.czi" and source.index == 2 and str(source).endswith("f.czi@2")
    (tmp_path / "odd@3").write_bytes(b"x")
    assert Source.parse(tmp_path / "odd@3").index is None


def test_directory_is_expanded_in_natural_order(npy_plugin: NpyPlugin, tmp_path: Path) -> None:
    for i in (10, 2, 1):
        np.save(tmp_path / f"img{i}.npy", np.full((2, 2), i, dtype=np.uint8))
    (tmp_path / "notes.txt").write_text("skip me")
    (tmp_path / ".hidden.npy").write_bytes(b"")
    stacks = stackio.load(tmp_path, "YX")
    assert [Path(s.source).name for s in stacks] == ["img1.npy", "img2.npy", "img10.npy"]
    assert [int(s.extract_patch(0, None, (0, 0), (1, 1))[0, 0, 0]) for s in stacks] == [1, 2, 10]


def test_directory_without_readable_files(npy_plugin: NpyPlugin, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(stackio.UnsupportedFormatError, match="holds no file or dataset that an installed plugin reads"):
        stackio.load(tmp_path, "YX")


def test_list_of_paths(npy_plugin: NpyPlugin, tmp_path: Path) -> None:
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"p{i}.npy")
        np.save(paths[-1], np.full((4, 4), i, dtype=np.uint8))
    stacks = stackio.load(paths, "YX")
    assert [s.extract_patch(0, None, (0, 0), (1, 1)).item() for s in stacks] == [0, 1, 2]


def test_load_pairs(npy_plugin: NpyPlugin, tmp_path: Path) -> None:
    for name, shape in [("in.npy", (3, 8, 8)), ("gt.npy", (3, 8, 8)), ("bad.npy", (3, 8, 9))]:
        np.save(tmp_path / name, np.zeros(shape, dtype=np.float32))
    pairs = stackio.load_pairs(tmp_path / "in.npy", tmp_path / "gt.npy", "SYX")
    assert len(pairs) == 1 and pairs[0][0].data_shape == pairs[0][1].data_shape
    with pytest.raises(
        stackio.ValidationError,
        match=r"pair 0: input .*in.npy has shape \(3, 1, 8, 8\) .* but target .*bad.npy has \(3, 1, 8, 9\)",
    ):
        stackio.load_pairs(tmp_path / "in.npy", tmp_path / "bad.npy", "SYX")
    with pytest.raises(stackio.ValidationError, match="gave 1 stack.s. but .* gave 2"):
        stackio.load_pairs(tmp_path / "in.npy", [tmp_path / "gt.npy", tmp_path / "in.npy"], "SYX")


def test_no_input_is_modified(npy_plugin: NpyPlugin, npy_file: tuple[Path, np.ndarray]) -> None:
    path, _ = npy_file
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    for stack in stackio.load(path, "TCYX") + stackio.load(path, "TCYX", in_memory=True):
        stack.extract_patch(0, None, (0, 0), (5, 5))
        getattr(stack, "close", lambda: None)()
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_a_file_covered_by_another_may_give_no_stack_in_a_directory(fresh_registry: Registry, tmp_path: Path) -> None:
    class SetPlugin(NpyPlugin):
        @hookimpl
        def stackio_load(self, source: stackio.Source, axes: str | None) -> list[stackio.ImageStack]:
            if source.path is not None and source.path.name.startswith("part"):
                return []  # a continuation file, read through its first file
            return NpyPlugin.stackio_load(self, source, axes)

    fresh_registry.register(SetPlugin(), name="sets")
    for name in ("first.npy", "part2.npy"):
        np.save(tmp_path / name, np.zeros((2, 2), dtype=np.uint8))
    assert [Path(s.source).name for s in stackio.load(tmp_path, "YX")] == ["first.npy"]
    with pytest.raises(stackio.ReadError, match="found no image in it"):
        stackio.load(tmp_path / "part2.npy", "YX")
