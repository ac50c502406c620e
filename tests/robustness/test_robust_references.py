"""The files a source or a dataset references: regular files only, inside the dataset, OS failures said.

Every load that could hang (a FIFO, a device) runs in a child process under a watchdog, so a hang is
this test's failure and never the suite's; the children that need a resource limit or another user set
it on themselves. Datasets are written by each format's own library, then one reference in them is
pointed at a FIFO, at `/dev/zero` or outside the dataset.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stackio
import tifffile

HERE = Path(__file__).resolve().parent
WATCHDOG = 90.0  # seconds: a child importing zarr on a busy 2-core machine takes a few

#: Runs `sys.argv[1]` (code calling stackio) and prints what came of it as one JSON line.
_CHILD = """
import json, os, resource, sys
limit = 4 * 2**30  # a device read without end fails here instead of taking the machine's memory
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
import stackio
try:
    exec(compile(sys.argv[1], "<case>", "exec"), {"stackio": stackio, "os": os, "resource": resource})
    result = {"outcome": "ok"}
except stackio.StackioError as exc:
    result = {"outcome": "stackio", "type": type(exc).__name__, "message": " ".join(str(exc).split())}
except BaseException as exc:
    result = {"outcome": "leaked", "type": type(exc).__name__, "message": str(exc)}
print("RESULT " + json.dumps(result), flush=True)
"""


def watched(code: str, *, env: dict[str, str] | None = None) -> dict[str, Any]:
    """What running `code` in a fresh process gave: a StackioError, a leak, or ok; a hang fails the test."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, code],
            capture_output=True,
            text=True,
            timeout=WATCHDOG,
            env={**os.environ, **(env or {})},
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"hung for {WATCHDOG:.0f} s (killed): {code}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"the child died (exit {done.returncode}): {done.stderr[-2000:]}"
    return json.loads(lines[-1][len("RESULT ") :])


def refused(code: str, *words: str, kind: str = "ReadError", env: dict[str, str] | None = None) -> str:
    """`code` raised the StackioError `kind` (in a watched child), its message holding each of `words`."""
    result = watched(code, env=env)
    assert result["outcome"] == "stackio", result
    assert result["type"] == kind, result
    for word in words:
        assert word in result["message"], (word, result["message"])
    return result["message"]


def _load(source: Path | str, axes: str | None = None, **options: Any) -> str:
    """Child code: load `source` and read every stack whole."""
    return (
        f"for s in stackio.load({str(source)!r}, {axes!r}, **{options!r}):\n"
        "    s.extract_patch(0, None, (0,) * (len(s.data_shape) - 2), s.data_shape[2:])\n"
    )


# -- the datasets -----------------------------------------------------------------------------


def _ndtiff(folder: Path) -> Path:
    from stackio_ndtiff.samples import scene, write_ndtiff

    return write_ndtiff(folder, [({"z": z}, scene(16, 16, seed=z)) for z in range(3)], {"PixelSize_um": 1.0})


def _rename_in_index(folder: Path, filename: str) -> None:
    """Point every entry of the NDTiff index at `filename`, re-serialised by ndstorage's own index code."""
    from ndstorage.ndtiff_index import NDTiffIndexEntry

    data = (folder / "NDTiff.index").read_bytes()
    out, position = b"", 0
    while position < len(data):
        position, axes, entry = NDTiffIndexEntry.unpack_single_index_entry(data, position)
        entry.axes_key = axes.items()
        entry.filename = filename
        out += entry.as_byte_buffer().getvalue()
    (folder / "NDTiff.index").write_bytes(out)


OME_NS = "http://www.openmicroscopy.org/Schemas/OME/2016-06"


def _ome_set(folder: Path, second: str) -> np.ndarray:
    """A two-file OME-TIFF set: `a.ome.tif` holds Z plane 0, its OME-XML puts plane 1 in `second`."""
    folder.mkdir(parents=True, exist_ok=True)
    data = np.arange(2 * 8 * 8, dtype=np.uint16).reshape(2, 8, 8)
    planes = "".join(
        f'<TiffData IFD="0" PlaneCount="1" FirstZ="{z}"><UUID FileName="{name}">urn:uuid:{name}</UUID></TiffData>'
        for z, name in enumerate(["a.ome.tif", second])
    )
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{OME_NS}" UUID="urn:uuid:a.ome.tif">'
        '<Image ID="Image:0" Name="x"><Pixels ID="Pixels:0" DimensionOrder="XYZCT" Type="uint16" SizeX="8" '
        'SizeY="8" SizeZ="2" SizeC="1" SizeT="1"><Channel ID="Channel:0:0" SamplesPerPixel="1"/>'
        f"{planes}</Pixels></Image></OME>"
    )
    tifffile.imwrite(folder / "a.ome.tif", data[:1], description=xml, photometric="minisblack", metadata=None)
    return data


def _zarr(path: Path, zarr_format: int) -> Path:
    import zarr

    array = zarr.open_array(str(path), mode="w", shape=(4, 4), chunks=(2, 2), dtype="uint16", zarr_format=zarr_format)
    array[:] = np.arange(16, dtype=np.uint16).reshape(4, 4)
    return path


def _chunk(store: Path, zarr_format: int) -> Path:
    return store / ("c/0/0" if zarr_format == 3 else "0.0")


# -- item 4: only regular files are opened -----------------------------------------------------


def test_a_fifo_named_by_an_ndtiff_index_entry_is_refused(tmp_path: Path) -> None:
    folder = _ndtiff(tmp_path / "nd")
    _rename_in_index(folder, "pipe_NDTiffStack.tif")
    os.mkfifo(folder / "pipe_NDTiffStack.tif")
    refused(_load(folder), "nd: the stack file", "pipe_NDTiffStack.tif is a FIFO (named pipe), not a regular file")


def test_a_fifo_named_by_an_ome_tiff_uuid_filename_is_refused(tmp_path: Path) -> None:
    _ome_set(tmp_path / "set", "b.ome.tif")
    os.mkfifo(tmp_path / "set" / "b.ome.tif")
    refused(_load(tmp_path / "set" / "a.ome.tif"), "a.ome.tif: the file of its multi-file set", "is a FIFO")


def test_the_ome_tiff_set_without_a_fifo_still_reads(tmp_path: Path) -> None:
    data = _ome_set(tmp_path / "set", "b.ome.tif")
    tifffile.imwrite(tmp_path / "set" / "b.ome.tif", data[1:], photometric="minisblack", metadata=None)
    (stack,) = stackio.load(tmp_path / "set" / "a.ome.tif")
    np.testing.assert_array_equal(stack.extract_patch(0, None, (0, 0, 0), (2, 8, 8))[0], data)


def test_a_fifo_among_micro_manager_files_is_refused(tmp_path: Path) -> None:
    sys.path.insert(0, str(HERE.parents[1] / "plugins" / "tiff" / "tests"))
    from tiff_helpers import write_mmstack

    planes = {(0, 0, 0, z): np.full((6, 8), z, dtype=np.uint16) for z in range(2)}
    write_mmstack(tmp_path / "run_MMStack_Pos0.ome.tif", planes, {"Prefix": "run"})
    os.mkfifo(tmp_path / "run_MMStack_Pos0_1.ome.tif")
    refused(_load(tmp_path / "run_MMStack_Pos0.ome.tif"), "run_MMStack_Pos0_1.ome.tif is a FIFO")


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_a_fifo_as_a_zarr_chunk_is_refused(tmp_path: Path, zarr_format: int) -> None:
    store = _zarr(tmp_path / "a.zarr", zarr_format)
    chunk = _chunk(store, zarr_format)
    chunk.unlink()
    os.mkfifo(chunk)
    refused(_load(store, "YX"), f"{chunk}: is a FIFO (named pipe)")


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_a_zarr_chunk_linked_to_dev_zero_is_refused(tmp_path: Path, zarr_format: int) -> None:
    store = _zarr(tmp_path / "a.zarr", zarr_format)
    chunk = _chunk(store, zarr_format)
    chunk.unlink()
    chunk.symlink_to("/dev/zero")
    refused(_load(store, "YX"), f"{chunk}: is a character device, not a regular file")


def test_zarr_chunks_still_read_through_the_regular_file_store(tmp_path: Path) -> None:
    import zarr

    store = tmp_path / "sharded.zarr"
    array = zarr.create_array(str(store), shape=(8, 8), chunks=(2, 2), shards=(4, 4), dtype="uint16")
    array[:] = np.arange(64, dtype=np.uint16).reshape(8, 8)
    (stack,) = stackio.load(store, "YX")
    np.testing.assert_array_equal(stack.extract_patch(0, None, (1, 3), (6, 5))[0], np.asarray(array)[1:7, 3:8])
    os.remove(store / "c" / "1" / "1")  # a missing shard is zarr's fill value, not an error
    (stack,) = stackio.load(store, "YX")
    assert not stack.extract_patch(0, None, (4, 4), (4, 4)).any()


def test_a_fifo_as_the_config_file_is_refused(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "a.tif", np.ones((4, 4), np.uint8))
    os.mkfifo(tmp_path / "config.toml")
    env = {"STACKIO_CONFIG": str(tmp_path / "config.toml")}
    refused(
        _load(tmp_path / "a.tif"),
        "config.toml: the stackio config file is a FIFO (named pipe), not a regular file",
        kind="ValidationError",
        env=env,
    )


@pytest.mark.parametrize(
    ("name", "options"),
    [("pipe.tif", {}), ("pipe", {}), ("pipe.czi", {"format": "czi"}), ("pipe.tif", {"format": "tiff"})],
)
def test_a_fifo_as_a_source_is_refused_not_called_empty(tmp_path: Path, name: str, options: dict[str, Any]) -> None:
    os.mkfifo(tmp_path / name)
    message = refused(_load(tmp_path / name, **options), f"{name}: is a FIFO (named pipe), not a regular file")
    assert "empty" not in message


def test_a_fifo_in_a_folder_is_refused(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "a.tif", np.ones((4, 4), np.uint8))
    os.mkfifo(tmp_path / "b.tif")
    refused(_load(tmp_path), "b.tif: is a FIFO")
    refused(_load(tmp_path, format="tiff"), "b.tif: is a FIFO")


@pytest.mark.parametrize("options", [{"format": "tiff"}, {"read_func": "numpy.load"}, {}])
def test_a_device_as_a_source_is_refused(options: dict[str, Any]) -> None:
    refused(_load("/dev/zero", "YX", **options), "/dev/zero: is a character device, not a regular file")


# -- item 11: the names a dataset records stay inside it ---------------------------------------


@pytest.mark.parametrize("name", ["../outside_NDTiffStack.tif", "ABSOLUTE", "sub/../../outside_NDTiffStack.tif"])
def test_ndtiff_index_names_outside_the_dataset_are_refused(tmp_path: Path, name: str) -> None:
    folder = _ndtiff(tmp_path / "nd")
    outside = tmp_path / "outside_NDTiffStack.tif"
    shutil.copy(folder / "NDTiffStack.tif", outside)  # a file there that would read as pixels
    name = str(outside) if name == "ABSOLUTE" else name
    _rename_in_index(folder, name)
    with pytest.raises(stackio.ValidationError, match=rf"nd: the NDTiff.index entry '{name}' would leave the dataset"):
        stackio.load(folder)


@pytest.mark.parametrize("name", ["../outside.ome.tif", "ABSOLUTE", "../.."])
def test_ome_tiff_uuid_filenames_outside_the_folder_are_refused(tmp_path: Path, name: str) -> None:
    data = _ome_set(tmp_path / "set", "b.ome.tif")
    outside = tmp_path / "outside.ome.tif"
    tifffile.imwrite(outside, data[1:], photometric="minisblack", metadata=None)
    name = str(outside) if name == "ABSOLUTE" else name
    _ome_set(tmp_path / "set", name)
    with pytest.raises(stackio.ValidationError, match=rf"a.ome.tif: the UUID FileName '{name}' would leave"):
        stackio.load(tmp_path / "set" / "a.ome.tif")


def test_an_ome_companion_naming_a_file_outside_is_refused(tmp_path: Path) -> None:
    _ome_set(tmp_path / "outside", "a.ome.tif")
    folder = tmp_path / "set"
    folder.mkdir()
    with tifffile.TiffFile(tmp_path / "outside" / "a.ome.tif") as tif:
        xml = tif.pages.first.description  # its OME-XML, as a companion file beside other files
    (folder / "x.companion.ome").write_text(xml.replace('FileName="a.ome.tif"', 'FileName="../outside/a.ome.tif"'))
    with pytest.raises(stackio.ValidationError, match=r"x.companion.ome: the UUID FileName '../outside/a.ome.tif'"):
        stackio.load(folder / "x.companion.ome")


def test_the_zarr_plugin_uses_the_same_rule() -> None:
    from stackio.files import confined_parts
    from stackio_zarr.store import check_internal

    assert check_internal("a//./b/", "the path", "s.zarr") == "a/b"
    for bad in ("../x", "/x", "a\\b", "C:x", "a/../b"):
        with pytest.raises(stackio.ValidationError, match="would leave the zarr store"):
            check_internal(bad, "the path", "s.zarr")
        with pytest.raises(stackio.ValidationError, match="would leave the dataset"):
            confined_parts(bad, source="d", what="the name", container="the dataset")


# -- item 17 and 18: OS failures are said as what they are -------------------------------------


def _tiff(path: Path, shape: tuple[int, ...] = (8, 8), **kwargs: Any) -> Path:
    tifffile.imwrite(path, np.ones(shape, np.uint16), photometric="minisblack", metadata=None, **kwargs)
    return path


def test_too_many_open_files_is_said(tmp_path: Path) -> None:
    _tiff(tmp_path / "a.tif")
    _tiff(tmp_path / "b.tif")
    code = (
        _load(tmp_path / "a.tif", "YX")  # imports and discovery done
        + "resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))\n"
        + "held = []\n"
        + "try:\n    while True: held.append(os.open(os.devnull, os.O_RDONLY))\nexcept OSError: pass\n"
        + _load(tmp_path / "b.tif", "YX")
    )
    message = refused(code, "b.tif: ", "this process has too many files open (the limit, `ulimit -n`, is 64)")
    assert "corrupt" not in message and "stack.close()" in message


def test_too_many_open_files_when_the_pool_opens_a_file_is_said_alike(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.ones((2, 8, 8), np.uint16))
    code = (
        f"(s,) = stackio.load({str(tmp_path / 'a.npy')!r}, 'ZYX')\n"
        + "from stackio.openfiles import POOL\n"
        + "POOL.clear()\n"  # the pool opens the file again at the read
        + "resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))\n"
        + "held = []\n"
        + "try:\n    while True: held.append(os.open(os.devnull, os.O_RDONLY))\nexcept OSError: pass\n"
        + "s.extract_patch(0, None, (0, 0, 0), (1, 8, 8))\n"
    )
    said = "a.npy: cannot be opened for reading: this process has too many files open (the limit, `ulimit -n`, is 64)"
    message = refused(code, said, kind="FileAccessError")
    assert "stack.close()" in message


def _address_space_left(headroom_mib: int) -> str:
    return (
        "vm = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmSize')) * 1024\n"
        "hard = resource.getrlimit(resource.RLIMIT_AS)[1]\n"
        f"resource.setrlimit(resource.RLIMIT_AS, (vm + {headroom_mib} * 2**20, hard))\n"
    )


def test_no_address_space_for_a_memory_map_is_said(tmp_path: Path) -> None:
    _tiff(tmp_path / "big.tif", (48, 1024, 1024))  # 96 MiB, raw: read through a whole-file memory map
    code = (
        f"(s,) = stackio.load({str(tmp_path / 'big.tif')!r}, 'ZYX')\n"
        + _address_space_left(24)
        + "s.extract_patch(0, None, (0, 0, 0), (1, 2, 2))\n"
    )
    message = refused(
        code,
        "big.tif: reading sample 0 at (0, 0, 0) failed: there was not enough memory or address space to map",
        env={"STACKIO_FILE_READS": "map"},  # the user's choice; "auto" reads in windows under such a limit
    )
    assert "`ulimit -v`" in message and "corrupt" not in message


def test_a_memory_error_while_reading_is_said(tmp_path: Path) -> None:
    _tiff(tmp_path / "z.tif", (32, 1024, 1024), compression="zlib", tile=(512, 512))
    code = (
        f"(s,) = stackio.load({str(tmp_path / 'z.tif')!r}, 'ZYX')\n"
        "s.extract_patch(0, None, (0, 0, 0), (1, 2, 2))\n"
        + _address_space_left(16)
        + "s.extract_patch(0, None, (0, 0, 0), (32, 1024, 1024))\n"
    )
    # the core's NotEnoughMemoryError (a ReadError) says it, with what was asked and what is available
    message = refused(code, "z.tif: ", "not enough memory for", "available", kind="NotEnoughMemoryError")
    assert "corrupt" not in message


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder another user can reach (tmp_path's parents are root's own)."""
    folder = Path(tempfile.mkdtemp(prefix="stackio-perm-"))
    folder.chmod(0o755)
    yield folder
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755)
    shutil.rmtree(folder)


def _as_another_user(code: str) -> str:
    """Child code that runs `code` as user 65534 (nobody) when it runs as root, whom permissions do not bind."""
    return "if os.getuid() == 0:\n    os.setgid(65534)\n    os.setuid(65534)\n" + code


def test_permission_denied_is_said(shared_folder: Path) -> None:
    readable = _tiff(shared_folder / "ok.tif")
    locked = _tiff(shared_folder / "locked.tif")
    locked.chmod(0)
    code = _load(readable, "YX") + _as_another_user(_load(locked, "YX"))
    message = refused(
        code, "locked.tif: ", ": permission denied (", "locked.tif): this user may not read it; check its permissions"
    )
    assert "corrupt" not in message


def test_an_unlistable_folder_is_said_by_load_and_the_cli(shared_folder: Path) -> None:
    folder = shared_folder / "private"
    folder.mkdir()
    _tiff(folder / "a.tif")
    folder.chmod(0o311)  # others may enter it but not list it
    ok = _tiff(shared_folder / "ok.tif")
    # everything the child imports, imported before it becomes a user who cannot read this Python's files
    warm = _load(ok, "YX") + f"import contextlib, io\nfrom stackio.cli import main\nmain(['info', {str(ok)!r}])\n"
    refused(warm + _as_another_user(_load(folder, "YX")), "private: the folder cannot be listed: permission denied")
    code = warm + _as_another_user(
        "err = io.StringIO()\n"
        f"with contextlib.redirect_stderr(err):\n    code = main(['info', {str(folder)!r}])\n"
        "raise stackio.ReadError(f'{code}|{err.getvalue()}')\n"
    )
    message = refused(code, "1|stackio: error:", "cannot be listed: permission denied")
    assert "internal error" not in message


def test_a_symlink_loop_is_said_not_missing(tmp_path: Path) -> None:
    (tmp_path / "a.tif").symlink_to("b.tif")
    (tmp_path / "b.tif").symlink_to("a.tif")
    with pytest.raises(stackio.ReadError, match=r"a.tif: cannot be read: a symbolic link loop"):
        stackio.load(tmp_path / "a.tif")
    with pytest.raises(stackio.ReadError, match=r"a.tif: cannot be read: a symbolic link loop"):
        stackio.load(tmp_path)
    (tmp_path / "c.tif").symlink_to("gone.tif")
    with pytest.raises(stackio.SourceNotFoundError, match=r"c.tif: is a symbolic link to gone.tif, which does not"):
        stackio.load(tmp_path / "c.tif")


def test_a_symlink_loop_inside_a_dataset_is_said(tmp_path: Path) -> None:
    folder = _ndtiff(tmp_path / "nd")
    (folder / "NDTiffStack.tif").unlink()
    (folder / "NDTiffStack.tif").symlink_to("loop.tif")
    (folder / "loop.tif").symlink_to("NDTiffStack.tif")
    with pytest.raises(
        stackio.ReadError, match=r"nd: plugin .* could not read it: a symbolic link loop \(.*NDTiffStack.tif\)"
    ) as info:
        stackio.load(folder)
    assert "corrupt" not in str(info.value)


def test_pillows_pixel_limit_on_a_valid_png_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    Image.fromarray(np.zeros((300, 400), np.uint8)).save(tmp_path / "large.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50_000)  # Pillow's own knob: 120,000 pixels is over twice it
    with pytest.raises(stackio.ReadError, match=r"large.png: the image is larger than Pillow allows") as info:
        stackio.load(tmp_path / "large.png")
    assert "PIL.Image.MAX_IMAGE_PIXELS = None" in str(info.value) and "truncated" not in str(info.value)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    (stack,) = stackio.load(tmp_path / "large.png")
    assert stack.data_shape == (1, 1, 300, 400)


# -- item 16: folders that change or cannot be listed -------------------------------------------

#: Child code: delete `gone` when `trigger` is first opened (a real race, made certain).
_DELETE_ON_OPEN = """
import sys
def _hook(event, args, trigger={trigger!r}, gone={gone!r}):
    if event == "open" and str(args[0]).endswith(trigger) and os.path.exists(gone):
        os.unlink(gone)
sys.addaudithook(_hook)
"""


@pytest.mark.parametrize(
    ("suffix", "kind", "said"),
    [
        # png files load one by one: b.png is gone when its own load starts
        (".png", "SourceNotFoundError", "b.png: was there a moment ago (its folder listed it"),
        # the tiff plugin reads a folder's TIFFs as one group: b.tif is gone when tifffile opens it
        (".tif", "ReadError", "could not read it: a file it needs does not exist ({}): it was moved or deleted"),
    ],
)
def test_a_file_vanishing_during_a_folder_load_is_said(tmp_path: Path, suffix: str, kind: str, said: str) -> None:
    from PIL import Image

    for name in ("a", "b"):
        Image.fromarray(np.ones((4, 4), np.uint8)).save(tmp_path / f"{name}{suffix}")
    gone = tmp_path / f"b{suffix}"
    code = _DELETE_ON_OPEN.format(trigger=f"a{suffix}", gone=str(gone)) + _load(tmp_path, "YX")
    message = refused(code, said.format(gone), kind=kind)
    assert "corrupt" not in message and "check the path" not in message


def test_a_file_vanishing_after_dispatch_is_said(tmp_path: Path) -> None:
    path = _tiff(tmp_path / "a.tif")
    code = (
        f"source = stackio.Source.parse({str(path)!r})\nassert source.exists\nos.unlink({str(path)!r})\n"
        "stackio.load(source, 'YX')\n"
    )
    refused(code, "a.tif: was there a moment ago", "gone now", kind="SourceNotFoundError")


# -- item 10: the demo never writes over what is there -----------------------------------------


def test_the_demo_never_writes_over_existing_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from stackio.demo import run_demo

    (tmp_path / "tiff").mkdir()
    (tmp_path / "tiff" / "hyperstack_imagej.tif").write_bytes(b"the user's own file")
    (tmp_path / "zarr" / "plain_v2.zarr").mkdir(parents=True)
    (tmp_path / "zarr" / "plain_v2.zarr" / "notes.txt").write_text("kept")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert run_demo(str(tmp_path)) == 0
    assert (tmp_path / "tiff" / "hyperstack_imagej.tif").read_bytes() == b"the user's own file"
    assert (tmp_path / "zarr" / "plain_v2.zarr" / "notes.txt").read_text() == "kept"
    assert sorted(os.listdir(tmp_path / "zarr" / "plain_v2.zarr")) == ["notes.txt"]
    (new,) = [p for p in tmp_path.iterdir() if p.name.startswith("stackio-demo-")]
    assert (new / "tiff" / "hyperstack_imagej.tif").stat().st_size > 100
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if new not in (p, *p.parents))
    assert after == before
    assert f"writing samples under {new}" in capsys.readouterr().out


def test_the_demo_writes_into_a_new_or_empty_folder_itself(tmp_path: Path) -> None:
    from stackio.demo import demo_folder

    assert demo_folder(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert demo_folder(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"  # still empty
    (tmp_path / "file").write_text("x")
    with pytest.raises(stackio.ValidationError, match="file: exists and is not a folder"):
        demo_folder(tmp_path / "file")


def test_the_demo_help_says_it_never_writes_over(capsys: pytest.CaptureFixture[str]) -> None:
    from stackio.cli import main

    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "nothing in it is written over" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    ("name", "said", "kind"),
    [
        # the tiff plugin parses the file again when a closed stack reads
        ("a.tif", "a.tif: is a FIFO (named pipe), not a regular file", "ReadError"),
        # a .npy stack reopens its file in the core's pool of open files
        ("a.npy", "a.npy: the file changed since it was opened (it is a FIFO (named pipe) now)", "FileAccessError"),
    ],
)
def test_a_fifo_put_in_place_of_an_open_stacks_file_is_refused(tmp_path: Path, name: str, said: str, kind: str) -> None:
    path = tmp_path / name
    if name.endswith(".npy"):
        np.save(path, np.ones((4, 64, 64), np.uint16))
    else:
        _tiff(path, (4, 64, 64))
    code = (
        f"path = {str(path)!r}\n(s,) = stackio.load(path, 'ZYX')\n"
        "s.extract_patch(0, None, (0, 0, 0), (1, 2, 2))\ns.close()\n"
        "os.unlink(path)\nos.mkfifo(path)\n"
        "s.extract_patch(0, None, (0, 0, 0), (1, 2, 2))\n"
    )
    refused(code, said, kind=kind)
