"""MyFormat files written by the format's own writer read back pixel for pixel; bad files give clear errors.

In your copy, write the files with the format's own library and compare with what that library reads.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import stackio
from stackio_myformat import MAGIC
from stackio_myformat.samples import write


def test_volume_reads_every_pixel_with_its_voxel_size(tmp_path: Path) -> None:
    data = np.random.default_rng(0).integers(0, 60000, (2, 5, 24, 32), dtype=np.uint16)
    path = write(tmp_path / "volume.myf", data, "CZYX", {"Z": 2.0, "Y": 0.5, "X": 0.5})
    (stack,) = stackio.load(path)
    assert (stack.axes, stack.data_shape, stack.data_dtype) == ("SCZYX", (1, 2, 5, 24, 32), np.uint16)
    assert (stack.original_axes, stack.original_data_shape) == ("CZYX", (2, 5, 24, 32))
    np.testing.assert_array_equal(stack.extract_patch(0, None, (0, 0, 0), (5, 24, 32)), data)
    np.testing.assert_array_equal(stack.extract_patch(0, [1], (1, 3, 4), (2, 8, 9)), data[1:2, 1:3, 3:11, 4:13])
    assert stack.metadata.voxel_size == {"Z": 2.0, "Y": 0.5, "X": 0.5}
    assert stack.metadata.units == {"Z": "micrometer", "Y": "micrometer", "X": "micrometer"}
    assert stack.metadata.raw()["axes"] == "CZYX"
    assert stack.source == str(path.resolve())


def test_given_axes_describe_a_header_without_axes(tmp_path: Path) -> None:
    data = np.random.default_rng(1).random((3, 4, 20, 30), dtype=np.float32)
    path = write(tmp_path / "series.myf", data)
    (stack,) = stackio.load(path, "tcyx")
    assert (stack.axes, stack.data_shape) == ("SCYX", (3, 4, 20, 30))
    for t in range(3):
        np.testing.assert_array_equal(stack.extract_patch(t, None, (0, 0), (20, 30)), data[t])
    with pytest.raises(stackio.AxesError, match=r"series\.myf: axes are needed .*names none.*\(3, 4, 20, 30\)"):
        stackio.load(path)


def test_every_pixel_type_lazily_and_in_memory(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    for dtype in ("bool", "uint8", "int16", "uint32", "int32", "float64"):
        data = (rng.random((6, 7)) * 100).astype(dtype)
        path = write(tmp_path / f"{dtype}.myf", data, "YX")
        for in_memory in (False, True):
            (stack,) = stackio.load(path, in_memory=in_memory)
            assert stack.data_dtype == np.dtype(dtype)
            np.testing.assert_array_equal(stack.extract_patch(0, None, (0, 0), (6, 7))[0], data)


def test_reading_leaves_the_file_unchanged(tmp_path: Path) -> None:
    path = write(tmp_path / "plane.myf", np.arange(48, dtype=np.uint8).reshape(6, 8), "YX")
    before = path.read_bytes()
    (stack,) = stackio.load(path)
    patch = stack.extract_patch(0, None, (0, 0), (6, 8))
    patch[...] = 0
    assert path.read_bytes() == before
    assert stack.extract_patch(0, None, (0, 0), (1, 2)).tolist() == [[[0, 1]]]


def _header(fields: dict[str, object]) -> bytes:
    text = json.dumps(fields).encode()
    return MAGIC + len(text).to_bytes(4, "little") + text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "it is empty"),
        (b"NOT" + MAGIC + bytes(64), "does not start with the magic"),
        (MAGIC + b"\x10", "ends inside its header"),
        (MAGIC + b"\xff\xff\xff\xff", "declares a header of 4294967295 bytes"),
        (MAGIC + b"\x04\x00\x00\x00{{{{", "its header is not JSON"),
        (_header({"shape": [4], "dtype": "uint8"}) + bytes(4), "shape must be a list of 2 to 6 sizes"),
        (_header({"shape": [0, 4], "dtype": "uint8"}), "shape must hold positive integers"),
        (_header({"shape": [2, 2], "dtype": "complex64"}) + bytes(32), "dtype must be one of"),
        (_header({"shape": [2, 2], "dtype": "uint8", "axes": 3}) + bytes(4), "axes must be a string"),
        (_header({"shape": [2, 2], "dtype": "uint8", "voxel_size": {"X": -1}}) + bytes(4), "voxel_size must map"),
        (_header({"shape": [4, 4], "dtype": "uint16", "axes": "YX"}) + bytes(31), "the file is truncated"),
        (_header({"shape": [4, 4], "dtype": "uint16", "axes": "YX"}) + bytes(33), "has bytes after its pixels"),
    ],
)
def test_bad_files_raise_read_errors_naming_the_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.myf"
    path.write_bytes(content)
    with pytest.raises(stackio.ReadError, match=message) as info:
        stackio.load(path, "YX", format="myformat")
    assert str(path.resolve()) in str(info.value)
    assert path.read_bytes() == content


def test_wrong_axes_and_sources_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "volume.myf", np.zeros((5, 6, 7), np.uint8), "ZYX")
    with pytest.raises(stackio.AxesError, match=r"volume\.myf.*'CZYX' has 4 letters but the data has 3"):
        stackio.load(path, "CZYX")
    with pytest.raises(stackio.ValidationError, match="single local files"):
        stackio.load(tmp_path, format="myformat")
    with pytest.raises(
        stackio.AxesError, match=r"volume\.myf: axes 'TYX' contradict the file: its header declares 'ZYX'"
    ):
        stackio.load(path, "TYX")
    (planes,) = stackio.load(path, "SYX")  # a declared Z may be named S: one 2-D sample per plane
    assert planes.data_shape == (5, 1, 6, 7)
