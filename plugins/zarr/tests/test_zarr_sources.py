"""Zarr sources as CAREamics names them: zarr StorePath objects and relative file:// URIs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import stackio
import zarr


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, np.ndarray]:
    data = np.arange(2 * 30 * 40, dtype=np.uint16).reshape(2, 30, 40)
    root = zarr.open_group(str(tmp_path / "data" / "x.zarr"), mode="w")
    root.create_array("raw", shape=data.shape, chunks=(1, 16, 16), dtype=data.dtype)[:] = data
    return tmp_path, data


def _pixels(stacks: list) -> np.ndarray:
    (stack,) = stacks
    return stack.read_patches(np.arange(stack.data_shape[0]), np.zeros((stack.data_shape[0], 2), int), (30, 40))


def test_store_paths_and_relative_file_uris(store: tuple[Path, np.ndarray], monkeypatch: pytest.MonkeyPatch) -> None:
    root, data = store
    monkeypatch.chdir(root)
    relative = zarr.open_array(zarr.storage.LocalStore("data/x.zarr", read_only=True), path="raw", mode="r")
    absolute = zarr.open_array(zarr.storage.LocalStore(str(root / "data/x.zarr"), read_only=True), path="raw")
    assert str(relative.store_path) == "file://data/x.zarr/raw"  # what CAREamics passes on
    for source in (relative.store_path, absolute.store_path, "file://data/x.zarr/raw", str(absolute.store_path)):
        np.testing.assert_array_equal(_pixels(stackio.load(source, "SYX"))[:, 0], data)
    with pytest.raises(stackio.ValidationError, match="relative to the working folder"):
        stackio.load("file://elsewhere/x.zarr/raw", "SYX")
