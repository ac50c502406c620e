"""Formats named at run time with `stackio_custom.register_format`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stackio
import stackio_custom
from stackio import ArrayStack, AxesError, Metadata, PluginError, ValidationError


@pytest.fixture
def cleanup() -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        if name in stackio_custom.registered_formats():
            stackio_custom.unregister_format(name)


def read_text_plane(path: Path, *, delimiter: str = ",") -> np.ndarray:
    return np.loadtxt(path, delimiter=delimiter, dtype=np.float32)


class TextStack(ArrayStack):
    """A user's own ImageStack class: a whitespace-separated text plane, with a pixel size."""

    def __init__(self, source: Any, axes: str | None, *, pixel: float = 1.0) -> None:
        array = np.loadtxt(source, dtype=np.float32)
        layout = stackio.Layout.from_axes(axes or "YX", array.shape)
        super().__init__(
            array,
            layout,
            source=str(Path(source).resolve()),
            metadata=Metadata(voxel_size={"Y": pixel, "X": pixel}, units={"Y": "um", "X": "um"}),
        )


def test_a_suffix_bound_to_numpy_load_wins_over_the_numpy_format(tmp_path: Path, cleanup: list[str]) -> None:
    data = np.arange(12, dtype=np.uint8).reshape(3, 4)
    np.save(tmp_path / "x.npy", data)
    assert stackio.detect(tmp_path / "x.npy").format == "numpy"
    stackio_custom.register_format("npy", [".npy"], read_func=np.load)
    cleanup.append("npy")
    decision = stackio.detect(tmp_path / "x.npy")
    assert (decision.format, decision.plugin) == ("npy", "runtime:npy")
    (stack,) = stackio.load(tmp_path / "x.npy", "YX")
    assert isinstance(stack, stackio.FileBackedStack)
    np.testing.assert_array_equal(stack.extract_patch(0, None, (0, 0), (3, 4))[0], data)
    stackio_custom.unregister_format("npy")
    assert stackio.detect(tmp_path / "x.npy").format == "numpy"


def test_a_read_function_with_fixed_and_caller_kwargs(tmp_path: Path, cleanup: list[str]) -> None:
    np.savetxt(tmp_path / "a.grid", np.eye(3), delimiter=";")
    stackio_custom.register_format(
        "grid", ".grid", read_func=read_text_plane, kwargs={"delimiter": ";"}, options=("delimiter",)
    )
    cleanup.append("grid")
    (stack,) = stackio.load(tmp_path / "a.grid", "YX", in_memory=True)
    np.testing.assert_array_equal(stack.extract_patch(0, None, (0, 0), (3, 3))[0], np.eye(3))
    np.savetxt(tmp_path / "b.grid", np.eye(2), delimiter="|")
    (other,) = stackio.load(tmp_path / "b.grid", "YX", delimiter="|")
    assert other.data_shape == (1, 1, 2, 2)
    with pytest.raises(AxesError, match="axes are needed for the grid format"):
        stackio.load(tmp_path / "a.grid")
    with pytest.raises(ValidationError, match="does not take the option"):
        stackio.load(tmp_path / "a.grid", "YX", sep=",")


def test_a_users_own_stack_class_and_a_directory_of_its_files(tmp_path: Path, cleanup: list[str]) -> None:
    for i in range(3):
        np.savetxt(tmp_path / f"p{i}.txtimg", np.full((2, 5), i))
    (tmp_path / "readme.md").write_text("ignored")
    stackio_custom.register_format("txtimg", [".txtimg"], stack_class=TextStack, kwargs={"pixel": 0.25})
    cleanup.append("txtimg")
    stacks = stackio.load(tmp_path, "YX")
    assert [Path(s.source).name for s in stacks] == ["p0.txtimg", "p1.txtimg", "p2.txtimg"]
    assert stacks[2].extract_patch(0, None, (0, 0), (2, 5)).max() == 2
    assert stacks[0].metadata.voxel_size == {"Y": 0.25, "X": 0.25}
    assert "txtimg" in [f.name for f in stackio.formats()]


def test_a_dataset_directory_with_markers_and_a_loader(tmp_path: Path, cleanup: list[str]) -> None:
    run = tmp_path / "run1"
    run.mkdir()
    (run / "scan.json").write_text("{}")
    np.save(run / "data.npy", np.ones((2, 3, 3), np.uint16))

    def scan_loader(source: Any, axes: str | None) -> list[stackio.ImageStack]:
        return stackio.load(Path(source) / "data.npy", axes or "ZYX")

    stackio_custom.register_format("scans", markers=["scan.json"], loader=scan_loader)
    cleanup.append("scans")
    assert stackio.detect(run).format == "scans"
    (stack,) = stackio.load(run)
    assert stack.data_shape == (1, 1, 2, 3, 3)


def test_registration_errors(cleanup: list[str]) -> None:
    with pytest.raises(ValidationError, match="exactly one of read_func=, loader= or stack_class=, not 2"):
        stackio_custom.register_format("two", [".two"], read_func=np.load, loader=np.load)
    with pytest.raises(ValidationError, match="is not callable"):
        stackio_custom.register_format("bad", [".bad"], read_func="np.load")
    with pytest.raises(ValidationError, match="give the suffixes"):
        stackio_custom.register_format("none", read_func=np.load)
    with pytest.raises(ValidationError, match="must start with '.'"):
        stackio_custom.register_format("nodot", ["npy"], read_func=np.load)
    with pytest.raises(ValidationError, match="needs loader= or stack_class="):
        stackio_custom.register_format("dirs", markers=["x.json"], read_func=np.load)
    with pytest.raises(PluginError, match="already declared by plugin 'custom'"):
        stackio_custom.register_format("numpy", [".npy"], read_func=np.load)
    with pytest.raises(ValidationError, match="no format 'never' was registered"):
        stackio_custom.unregister_format("never")


def test_file_at_n_is_refused_for_a_read_function_and_given_to_a_loader(tmp_path: Path, cleanup: list[str]) -> None:
    np.savetxt(tmp_path / "a.grid", np.eye(3))
    stackio_custom.register_format("grid", [".grid"], read_func=read_text_plane, kwargs={"delimiter": None})
    cleanup.append("grid")
    with pytest.raises(ValidationError, match=r"'@1' names nothing in the grid format"):
        stackio.load(f"{tmp_path / 'a.grid'}@1", "YX")
    stackio_custom.unregister_format("grid")
    seen: list[Any] = []

    def loader(source: Any, axes: str | None) -> list[stackio.ImageStack]:
        seen.append(source)
        return [TextStack(tmp_path / "a.grid", axes)]

    stackio_custom.register_format("grid", [".grid"], loader=loader)
    stackio.load(f"{tmp_path / 'a.grid'}@1")
    assert seen == [f"{tmp_path / 'a.grid'}@1"]
