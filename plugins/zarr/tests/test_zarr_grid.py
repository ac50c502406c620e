"""A corrupt shape or chunk grid is refused at load, as written (zarr-python would read `true` as 1, or
accept chunks of 0 and fail with a ZeroDivisionError on the first read)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stackio
import zarr

Edit = Callable[[dict[str, Any]], None]


def _array(path: Path, zarr_format: int, edit: Edit, **kwargs: Any) -> Path:
    array = zarr.create_array(
        str(path),
        shape=(4, 4),
        chunks=(2, 2),
        dtype="uint8",
        zarr_format=zarr_format,
        **kwargs,  # type: ignore[arg-type]
    )
    array[...] = np.arange(16, dtype="uint8").reshape(4, 4)
    document = path / ("zarr.json" if zarr_format == 3 else ".zarray")
    meta = json.loads(document.read_text())
    edit(meta)
    document.write_text(json.dumps(meta))
    return path


def _chunk_shape(value: list[Any]) -> Edit:
    return lambda meta: meta["chunk_grid"]["configuration"].__setitem__("chunk_shape", value)


def _key(key: str, value: Any) -> Edit:
    return lambda meta: meta.__setitem__(key, value)


def _inner_chunks(value: list[Any]) -> Edit:
    def edit(meta: dict[str, Any]) -> None:
        (sharding,) = [c for c in meta["codecs"] if c["name"] == "sharding_indexed"]
        sharding["configuration"]["chunk_shape"] = value

    return edit


CASES = {
    "v3 chunk_shape [0, 4]": (3, _chunk_shape([0, 4]), {}),
    "v3 chunk_shape [true, 4]": (3, _chunk_shape([True, 4]), {}),
    "v3 shape [true, 4]": (3, _key("shape", [True, 4]), {}),
    "v3 shape [4.0, 4]": (3, _key("shape", [4.0, 4]), {}),
    "v3 shard chunks [0, 2]": (3, _inner_chunks([0, 2]), {"shards": (4, 4)}),
    "v2 chunks [0, 4]": (2, _key("chunks", [0, 4]), {}),
    "v2 chunks [4]": (2, _key("chunks", [4]), {}),
    "v2 shape [true, 4]": (2, _key("shape", [True, 4]), {}),
    "v2 shape [-4, 4]": (2, _key("shape", [-4, 4]), {}),
}


@pytest.mark.parametrize("case", CASES)
def test_a_corrupt_grid_is_refused_at_load(tmp_path: Path, case: str) -> None:
    zarr_format, edit, kwargs = CASES[case]
    path = _array(tmp_path / "a.zarr", zarr_format, edit, **kwargs)
    with pytest.raises(stackio.ReadError, match=r"a\.zarr: its (zarr\.json|\.zarray) declares .*whole numbers"):
        stackio.load(path, "YX")


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_a_sound_grid_loads(tmp_path: Path, zarr_format: int) -> None:
    path = _array(tmp_path / "a.zarr", zarr_format, lambda meta: None)
    (stack,) = stackio.load(path, "YX")
    assert np.array_equal(stack.extract_patch(0, None, (0, 0), (4, 4))[0], zarr.open_array(str(path))[...])
