"""User loaders: `stackio.load(source, axes, loader=my_loader, loader_kwargs=...)`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import stackio
from stackio import ArrayStack, ReadError, ValidationError


def tile_loader(source: Any, axes: str | None, *, tiles: int = 2) -> list[stackio.ImageStack]:
    """Splits one .npy plane into `tiles` stacks, one per row band (a user's own notion of samples)."""
    array = np.load(source)
    bands = np.array_split(array, tiles, axis=0)
    return [ArrayStack.from_axes(b, axes or "YX", source=f"{source}#band{i}") for i, b in enumerate(bands)]


def one_stack_loader(source: Any, axes: str | None) -> stackio.ImageStack:
    return ArrayStack.from_axes(np.zeros((2, 2)), "YX")


class HalfStack:
    """Has most members, but data_shape is a list and metadata is missing."""

    source = "x"
    data_shape: ClassVar = [1, 1, 2, 2]
    data_dtype = np.dtype("uint8")
    axes = "SCYX"
    original_axes = "YX"
    original_data_shape = (2, 2)

    def extract_patch(self, *args: Any) -> np.ndarray:
        return np.zeros((1, 2, 2), np.uint8)


def half_loader(source: Any, axes: str | None) -> list[Any]:
    return [HalfStack()]


def raising_loader(source: Any, axes: str | None) -> list[Any]:
    raise KeyError("no such acquisition")


@pytest.fixture
def plane(tmp_path: Path) -> tuple[Path, np.ndarray]:
    data = np.arange(10 * 4, dtype=np.int32).reshape(10, 4)
    np.save(tmp_path / "plane.npy", data)
    return tmp_path / "plane.npy", data


def test_the_loader_gets_the_source_the_axes_and_its_kwargs(plane: tuple[Path, np.ndarray]) -> None:
    path, data = plane
    seen: list[tuple[Any, Any]] = []

    def spy(source: Any, axes: str | None, **kwargs: Any) -> list[stackio.ImageStack]:
        seen.append((source, axes))
        return tile_loader(source, axes, **kwargs)

    stacks = stackio.load(path, "yx", loader=spy, loader_kwargs={"tiles": 3})
    assert seen == [(path, "YX")]
    assert [s.data_shape for s in stacks] == [(1, 1, 4, 4), (1, 1, 3, 4), (1, 1, 3, 4)]
    np.testing.assert_array_equal(stacks[2].extract_patch(0, None, (0, 0), (3, 4))[0], data[7:])
    assert stackio.detect(path, loader=spy).reason == "option loader= selects it"


def test_a_loader_may_take_sources_no_plugin_reads(tmp_path: Path) -> None:
    def from_uri(source: Any, axes: str | None) -> list[stackio.ImageStack]:
        assert source == "myscope://run/7"
        return [ArrayStack.from_axes(np.ones((3, 3), np.uint8), "YX", source=source)]

    (stack,) = stackio.load("myscope://run/7", None, loader=from_uri)
    assert stack.source == "myscope://run/7"


def test_a_loader_returning_non_stacks_names_the_member(plane: tuple[Path, np.ndarray]) -> None:
    path, _ = plane
    expected = (
        r"the loader .*half_loader returned HalfStack as stack 0, which is not an ImageStack: "
        r"data_shape should be a tuple of ints.*metadata is missing"
    )
    with pytest.raises(ValidationError, match=expected):
        stackio.load(path, "YX", loader=half_loader)


@pytest.mark.parametrize(("returned", "name"), [(None, "NoneType"), (np.zeros(3), "ndarray"), ("stack", "str")])
def test_a_loader_returning_something_else(plane: tuple[Path, np.ndarray], returned: Any, name: str) -> None:
    path, _ = plane
    with pytest.raises(ValidationError, match=rf"returned {name}; a loader returns a list of ImageStacks"):
        stackio.load(path, "YX", loader=lambda s, a: returned)


def test_a_single_stack_is_not_a_list(plane: tuple[Path, np.ndarray]) -> None:
    with pytest.raises(ValidationError, match=r"one_stack_loader returned ArrayStack.*return \[stack\] for one"):
        stackio.load(plane[0], "YX", loader=one_stack_loader)


def test_a_loader_that_raises_is_named(plane: tuple[Path, np.ndarray]) -> None:
    with pytest.raises(ReadError, match=r"plane\.npy: the loader .*raising_loader failed on it \(KeyError"):
        stackio.load(plane[0], "YX", loader=raising_loader)


def test_loader_options_are_checked(plane: tuple[Path, np.ndarray]) -> None:
    with pytest.raises(ValidationError, match="loader must be a function"):
        stackio.load(plane[0], "YX", loader=42)
    with pytest.raises(ValidationError, match="suffix go with read_func="):
        stackio.load(plane[0], "YX", loader=tile_loader, suffix=".npy")
    with pytest.raises(ValidationError, match="loader_kwargs must be a dict"):
        stackio.load(plane[0], "YX", loader=tile_loader, loader_kwargs=("tiles", 2))


def test_unlisted_options_are_passed_to_the_loader(plane: tuple[Path, np.ndarray]) -> None:
    assert len(stackio.load(plane[0], "YX", loader=tile_loader, tiles=5)) == 5


def test_a_loader_gets_file_at_n_as_given(plane: tuple[Path, np.ndarray]) -> None:
    # a loader reads the source itself, so '@N' reaches it (it is not dropped on the way)
    seen: list[Any] = []

    def spy(source: Any, axes: str | None) -> list[stackio.ImageStack]:
        seen.append(source)
        return tile_loader(str(source).rsplit("@", 1)[0], axes)

    stackio.load(f"{plane[0]}@1", "YX", loader=spy)
    assert seen == [f"{plane[0]}@1"]
