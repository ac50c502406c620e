"""Bad input: each a clear stackio error naming the source, what is wrong and what to do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import stackio
import zarr


@pytest.fixture
def store(tmp_path: Path, zw) -> Path:
    root = tmp_path / "s.zarr"
    group = zarr.open_group(str(root), mode="w")
    group.create_array("grp/arr", data=zw.pattern((8, 8)), chunks=(4, 4))
    group.create_array("img", data=zw.pattern((8, 8)), chunks=(4, 4))
    return root


def test_directory_that_is_not_a_store(tmp_path: Path) -> None:
    named = tmp_path / "fake.zarr"
    named.mkdir()
    (named / "notes.txt").write_text("hello")
    with pytest.raises(
        stackio.ReadError,
        match=r"fake.zarr: is not a zarr store: .*none of zarr.json, "
        r"\.zgroup, \.zarray",
    ):
        stackio.load(named)
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "notes.txt").write_text("hello")
    with pytest.raises(stackio.ReadError, match="is not a zarr store"):
        stackio.load(plain, format="zarr")
    with pytest.raises(stackio.UnsupportedFormatError, match="holds no file or dataset"):
        stackio.load(plain)


def test_uri_to_a_missing_group_or_array(store: Path) -> None:
    for missing in ("nope", "grp/nope"):
        uri = (store / missing).as_uri()
        for extra in ({}, {"format": "zarr"}):  # the core hands a missing path inside a store to zarr
            with pytest.raises(
                stackio.SourceNotFoundError,
                match=rf"the zarr store .*s.zarr has no group or array '{missing}'; "
                r"its root holds: grp, img",
            ):
                stackio.load(uri, "YX", **extra)


def test_a_directory_inside_a_store_that_is_not_a_node(store: Path) -> None:
    chunk_dir = store / "img" / "c"
    assert chunk_dir.is_dir()
    with pytest.raises(stackio.ReadError, match=r"inside the zarr store .* neither a group nor an array"):
        stackio.load(chunk_dir.as_uri(), "YX")


def test_mixed_list_of_uris_and_paths(store: Path) -> None:
    with pytest.raises(stackio.ValidationError, match="must be all paths, all URIs or all arrays"):
        stackio.load([(store / "img").as_uri(), store / "grp" / "arr"], "YX")


def test_unsupported_uri_scheme_names_it_and_what_is_supported() -> None:
    with pytest.raises(
        stackio.UnsupportedFormatError,
        match=r"no installed plugin reads the URI scheme 'ftp' \(schemes installed: .*file",
    ):
        stackio.load("ftp://bucket/x.zarr/grp/arr", "YX")


def test_uri_with_dotdot_may_not_leave_the_store(store: Path) -> None:
    uri = store.as_uri() + "/grp/../img"
    with pytest.raises(stackio.ValidationError, match=r"contains '\.\.'"):
        stackio.load(uri, "YX")


def test_group_with_only_subgroups_says_what_to_load(tmp_path: Path) -> None:
    root = tmp_path / "nested.zarr"
    zarr.open_group(str(root), mode="w").create_array("sub/x", shape=(2, 2), dtype="uint8")
    with pytest.raises(
        stackio.ReadError,
        match=r"holds no arrays directly, only the group\(s\) sub; "
        r"load a group or an array .* e.g. 'file://.*/sub'",
    ):
        stackio.load(root, "YX")


def test_corrupt_zarr_json(tmp_path: Path, zw) -> None:
    zw.write_array(tmp_path / "c.zarr", zw.pattern((8, 8)))
    (tmp_path / "c.zarr" / "zarr.json").write_text('{"zarr_format": 3, "node_type": "arr')
    with pytest.raises(
        stackio.ReadError,
        match=r"c.zarr/zarr.json: the zarr metadata \(zarr.json\) is not "
        r"valid JSON .* the store's metadata is corrupt",
    ):
        stackio.load(tmp_path / "c.zarr", "YX")
    (tmp_path / "c.zarr" / "zarr.json").write_text('{"zarr_format": 3, "node_type": "thing"}')
    with pytest.raises(stackio.ReadError, match="node_type='thing'"):
        stackio.load(tmp_path / "c.zarr", "YX")
    (tmp_path / "c.zarr" / "zarr.json").write_text("[1, 2]")
    with pytest.raises(stackio.ReadError, match="should hold a JSON object, not list"):
        stackio.load(tmp_path / "c.zarr", "YX")


def test_corrupt_v2_metadata(tmp_path: Path, zw) -> None:
    zw.write_array(tmp_path / "v2.zarr", zw.pattern((8, 8)), zarr_format=2)
    (tmp_path / "v2.zarr" / ".zattrs").write_text("{not json")
    with pytest.raises(stackio.ReadError, match=r"\.zattrs: the zarr v2 attributes .* not valid JSON"):
        stackio.load(tmp_path / "v2.zarr", "YX")
    (tmp_path / "v2.zarr" / ".zattrs").write_text("{}")
    (tmp_path / "v2.zarr" / ".zarray").write_text('{"zarr_format": 2, "shape": [8]}')  # valid JSON, bad zarr
    with pytest.raises(stackio.ReadError, match="zarr could not open the array"):
        stackio.load(tmp_path / "v2.zarr", "YX")


def test_a_file_named_zarr(tmp_path: Path) -> None:
    (tmp_path / "zip.zarr").write_bytes(b"PK\x03\x04 not a directory")
    with pytest.raises(stackio.ReadError, match="is a file, but a zarr store is a directory"):
        stackio.load(tmp_path / "zip.zarr")


def test_non_image_dtype_and_wrong_axes(tmp_path: Path) -> None:
    arr = zarr.create_array(str(tmp_path / "str.zarr"), shape=(2, 2), dtype=str)
    arr[...] = np.array([["a", "b"], ["c", "d"]])
    with pytest.raises(stackio.ReadError, match="not image data"):
        stackio.load(tmp_path / "str.zarr", "YX")
    zarr.create_array(str(tmp_path / "n.zarr"), shape=(2, 3, 4), dtype="uint8")
    with pytest.raises(stackio.AxesError, match=r"has 2 letters but the data has 3 dimensions"):
        stackio.load(tmp_path / "n.zarr", "YX")
    with pytest.raises(stackio.AxesError, match=r"axes are needed: the array has no OME-Zarr.*axes='ZYX'"):
        stackio.load(tmp_path / "n.zarr")


def test_ome_level_array_missing(tmp_path: Path, zw) -> None:
    path = zw.write_ome(tmp_path / "o.zarr", [zw.pattern((8, 8)), zw.pattern((4, 4))], axes="yx")
    import shutil

    shutil.rmtree(path / "1")
    with pytest.raises(stackio.ReadError, match=r"names multiscales level 1 at '1', but the store .* has no"):
        stackio.load(path, level=1)


_CORRUPT_READS = r"""
import sys
from pathlib import Path

import numpy as np
import stackio
import zarr

root = Path(sys.argv[1])
for fmt in (2, 3):
    where = root / f"v{fmt}.zarr"
    data = np.random.default_rng(fmt).integers(0, 60000, size=(4, 128, 128), dtype=np.uint16)
    zarr.create_array(str(where), data=data, chunks=(1, 16, 16), zarr_format=fmt)
    chunks = sorted(p for p in where.rglob("*") if p.is_file() and p.name not in ("zarr.json", ".zarray", ".zattrs"))
    chunks[0].write_bytes(b"not a compressed chunk" * 8)  # the first chunk read fails, the other 255 are pending
    (stack,) = stackio.load(where, "ZYX")
    reads = [
        lambda: stack.extract_patch(0, None, (0, 0, 0), (4, 128, 128)),
        stack.read_all,
        lambda: stackio.read_patches(stack, [0, 0], [(0, 0, 0), (0, 0, 0)], (4, 128, 128)),
    ]
    for read in reads:
        try:
            read()
        except stackio.ReadError as exc:
            assert "may be truncated or corrupt" in str(exc), exc
        else:
            raise SystemExit("a read of a corrupt chunk succeeded")
    np.testing.assert_array_equal(stack.extract_patch(0, None, (3, 0, 0), (1, 128, 128))[0], data[3:4])
print("done")
"""


def test_a_failed_read_of_a_corrupt_chunk_leaves_no_pending_task_at_exit(tmp_path: Path) -> None:
    """zarr gathers a read's chunk tasks without cancelling the rest when one fails; they must not be left
    pending (asyncio prints "Task was destroyed but it is pending!" when zarr closes its loop at exit)."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _CORRUPT_READS, str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr
    assert done.stderr == ""
